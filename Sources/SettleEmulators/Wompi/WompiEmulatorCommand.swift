import ArgumentParser
import Hummingbird
import SettleProviders

extension WompiProvider: EmulatedProvider {
    public static var emulatorCommand: any AsyncParsableCommand.Type { WompiEmulatorCommand.self }
}

/// `settle emulate wompi`.
struct WompiEmulatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wompi",
        abstract: "Emulate Wompi: set SETTLE_WOMPI_API_BASE to <url>/v1 and SETTLE_WOMPI_CHECKOUT_BASE to <url>/p/, and point --events-url at Settle."
    )
    @Option(help: "Port to listen on.") var port: Int = 12112
    @Option(help: "Where to send events, e.g. http://127.0.0.1:8080/v1/webhooks/wompi.") var eventsURL: String
    @Option(help: "Settle's SETTLE_WOMPI_PUBLIC_KEY.") var publicKey: String = "pub_test_emulator0000"
    @Option(help: "Settle's SETTLE_WOMPI_PRIVATE_KEY.") var privateKey: String = "prv_test_emulator0000"
    @Option(help: "Settle's SETTLE_WOMPI_EVENTS_SECRET.") var eventsSecret: String
    @Option(help: "Settle's SETTLE_WOMPI_INTEGRITY_SECRET.") var integritySecret: String

    func run() async throws {
        let logger = EmulatorLogging.bootstrap()
        let emulator = WompiEmulator(
            configuration: .init(
                publicKey: publicKey, privateKey: privateKey, eventsSecret: eventsSecret, integritySecret: integritySecret,
                eventsURL: eventsURL, port: port
            )
        )
        print("Wompi emulator on http://127.0.0.1:\(port) — API at /v1, Web Checkout at /p/, events to \(eventsURL)")
        try await emulator.application(logger: logger).runService()
    }
}
