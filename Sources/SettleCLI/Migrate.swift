import ArgumentParser
import SettleServer
import SettleStore

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Apply pending database migrations.")

    @OptionGroup var common: CommonOptions

    func run() async throws {
        let configuration = try await common.configuration()
        let logger = ProcessLogging.bootstrap(configuration.logLevel)
        let location = try DatabaseLocation(url: configuration.databaseURL)
        let ran = try await Store.withStore(location, options: configuration.storeOptions, logger: logger) { store in try await store.migrate() }
        print(ran.isEmpty ? "Schema is up to date (\(location))." : "Applied: \(ran.joined(separator: ", "))")
    }
}
