import ArgumentParser
import AsyncHTTPClient
import Settle
import SettleServer
import SettleStore

/// `settle providers`: each catalog provider, enabled or why not, its payment methods, and its settings (secrets
/// masked: only whether they are set).
struct Providers: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show each provider: enabled or why not, and its settings (secrets masked).")
    @OptionGroup var common: CommonOptions

    func run() async throws {
        let configuration = try await common.configuration()
        let logger = ProcessLogging.bootstrap(configuration.logLevel)
        let report = try await Store.withStore(try DatabaseLocation(url: configuration.databaseURL), options: configuration.storeOptions, logger: logger) { store in
            try await store.migrate()
            let registry = ProviderRegistry(settings: configuration.providers, store: store, httpClient: .shared, logger: logger)
            try await registry.loadGeneratedSettings(store: store)
            return registry.settingsReport()
        }
        print(report)
    }
}
