import ArgumentParser
import Foundation
import Hummingbird
import SettleProviders

extension PaymeProvider: EmulatedProvider {
    public static var emulatorCommand: any AsyncParsableCommand.Type { PaymeEmulatorCommand.self }
}

/// `settle emulate payme`.
struct PaymeEmulatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "payme",
        abstract: "Emulate Payme: its Subscribe API and checkout page, and the sandbox suite it runs against a Merchant API.",
        discussion: """
            Point Settle at it with SETTLE_PAYME_API_BASE=http://127.0.0.1:<port>/api, \
            SETTLE_PAYME_CHECKOUT_BASE=http://127.0.0.1:<port>, SETTLE_PAYME_MERCHANT_ID=<--merchant-id> and \
            SETTLE_PAYME_KEY=<--key>. With --api-key the sandbox scenarios run against --merchant-url with fresh UZS \
            orders, the report is printed and the exit status is 1 if any failed; --serve then keeps the emulator \
            running. Without --api-key it serves until Ctrl-C.
            """
    )
    @Option(help: "Settle's Merchant API endpoint, e.g. http://127.0.0.1:8080/v1/webhooks/payme.") var merchantURL: String
    @Option(help: "The cash-desk key (Settle's SETTLE_PAYME_KEY).") var key: String
    @Option(help: "The merchant (cash desk) id.") var merchantID: String = "5e730e8e0b852a417aa49ceb"
    @Option(help: "The account field configured for the cash desk.") var accountField: String = "order_id"
    @Option(help: "Port to listen on.") var port: Int = 12112
    @Option(help: "Settle's base URL for creating orders (default: the merchant URL's scheme, host and port).") var settleURL: String?
    @Option(help: "A Settle test-mode API key: run the sandbox scenarios, creating orders with it.") var apiKey: String?
    @Flag(help: "Keep serving after the scenarios have run.") var serve = false

    func run() async throws {
        let logger = EmulatorLogging.bootstrap()
        let emulator = PaymeEmulator(
            configuration: .init(merchantID: merchantID, key: key, merchantURL: merchantURL, accountField: accountField, port: port)
        )
        guard let apiKey else {
            print("Payme emulator on http://127.0.0.1:\(port) — Subscribe API at /api, Merchant API calls to \(merchantURL)")
            try await emulator.application(logger: logger).runService()
            return
        }
        guard let settleBase = settleURL ?? Self.origin(of: merchantURL) else {
            throw ValidationError("Cannot derive Settle's URL from --merchant-url; pass --settle-url.")
        }
        let orders = SettleOrderSource(settleURL: settleBase, apiKey: apiKey)
        let scenarios = PaymeScenarios(
            client: PaymeMerchantClient(merchantURL: merchantURL, key: key), accountField: accountField,
            newOrder: { try await orders.newOrder() }
        )
        let target = merchantURL
        let keepServing = serve
        let results: [PaymeScenarioResult]? = try await withThrowingTaskGroup(of: [PaymeScenarioResult]?.self) { group in
            group.addTask {
                try await emulator.application(logger: logger).runService()
                return nil
            }
            group.addTask {
                while !emulator.isRunning { try await Task.sleep(for: .milliseconds(10)) }
                print("Payme emulator on \(emulator.baseURL); running the sandbox scenarios against \(target)")
                return await scenarios.run()
            }
            // The server finishes first only when it is stopped, or fails to start, before the scenarios are done.
            guard let finished = try await group.next() ?? nil else {
                group.cancelAll()
                return nil
            }
            print(PaymeScenarios.report(finished))
            if keepServing {
                print("Serving until Ctrl-C.")
                _ = try await group.next()
            } else {
                group.cancelAll()
            }
            return finished
        }
        guard let results, results.allSatisfy(\.passed) else { throw ExitCode(1) }
    }

    /// `scheme://host[:port]` of a URL.
    static func origin(of url: String) -> String? {
        guard var components = URLComponents(string: url), components.scheme != nil, components.host != nil else { return nil }
        components.path = ""
        components.query = nil
        components.fragment = nil
        return components.string
    }
}
