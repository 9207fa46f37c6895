import ArgumentParser
import SettleServer

struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Benchmark notification ingest over loopback and check exactly-once.",
        discussion: "Use a scratch database: the benchmark creates payments and API keys in it."
    )

    @OptionGroup var common: CommonOptions
    @Option(help: "Payments to create and finalize.") var payments: Int = 5000
    @Option(help: "Requests in flight.") var concurrency: Int = 64

    func run() async throws {
        let configuration = try await common.configuration()
        let logger = ProcessLogging.bootstrap(configuration.logLevel)
        let report = try await NotificationBenchmark.run(
            configuration: configuration, payments: payments, concurrency: concurrency, logger: logger
        )
        print(report)
        if !report.exactlyOnce { throw ExitCode(1) }
    }
}
