import ArgumentParser
import SettleServer
import SettleStore

struct Audit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "The audit trail.", subcommands: [Verify.self])

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Check the hash chain; name the first broken entry.")
        @OptionGroup var common: CommonOptions

        func run() async throws {
            let configuration = try await common.configuration()
            let logger = ProcessLogging.bootstrap(configuration.logLevel)
            let result = try await Store.withStore(try DatabaseLocation(url: configuration.databaseURL), options: configuration.storeOptions, logger: logger) { store in
                try await store.verifyAuditChain()
            }
            switch result {
            case .intact(let entries):
                print("Audit chain intact: \(entries) entries verified.")
            case .broken(let sequence, let reason):
                print("Audit chain BROKEN at entry \(sequence): \(reason).")
                throw ExitCode(2)
            }
        }
    }
}
