import ArgumentParser
import SettleBenchmarks
import SettleServer

struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Benchmark notification ingest, outbound delivery or wallet debits over loopback, and check the outcome.",
        discussion: "Use a scratch database: the benchmark creates payments and API keys in it."
    )

    enum Scenario: String, ExpressibleByArgument, CaseIterable {
        case notifications
        case webhooks
        case wallet
    }

    @OptionGroup var common: CommonOptions
    @Option(help: "notifications (ingest, default), webhooks (outbound delivery) or wallet (concurrent debits).") var scenario: Scenario = .notifications
    @Option(help: "Payments to create and finalize.") var payments: Int = 5000
    @Option(help: "Requests in flight.") var concurrency: Int = 64
    @Option(help: "Webhook messages to deliver (webhooks scenario).") var messages: Int = 10000
    @Option(help: "Wallets the debits are spread over (wallet scenario).") var wallets: Int = 10
    @Option(help: "Debits to make, each with its own Idempotency-Key; each wallet holds room for three quarters of its share (at least 100), the rest are refused (wallet scenario).") var debits: Int = 5000

    func run() async throws {
        let configuration = try await common.configuration()
        let logger = ProcessLogging.bootstrap(configuration.logLevel)
        if scenario == .wallet {
            let report = try await WalletBenchmark.run(configuration: configuration, wallets: wallets, debits: debits, concurrency: concurrency, logger: logger)
            print(report)
            if !report.correct { throw ExitCode(1) }
            return
        }
        if scenario == .webhooks {
            let report = try await WebhookBenchmark.run(databaseURL: configuration.databaseURL, messages: messages, logger: logger)
            print(report)
            if report.delivered != messages || report.receivedUnique != messages { throw ExitCode(1) }
            return
        }
        let report = try await NotificationBenchmark.run(
            configuration: configuration, payments: payments, concurrency: concurrency, logger: logger
        )
        print(report)
        if !report.exactlyOnce { throw ExitCode(1) }
    }
}
