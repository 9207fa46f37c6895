import ArgumentParser
import Foundation
import Hummingbird
import SettleProviders

extension PayPalProvider: EmulatedProvider {
    public static var emulatorCommand: any AsyncParsableCommand.Type { PayPalEmulatorCommand.self }
}

/// `settle emulate paypal`.
struct PayPalEmulatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "paypal",
        abstract: "Emulate PayPal: set SETTLE_PAYPAL_API_BASE to its URL, trust its CA file, and point --webhook-url at Settle."
    )
    @Option(help: "Port of the API and the approval page.") var port: Int = 12114
    @Option(help: "Address to listen on.") var host: String = "127.0.0.1"
    @Option(name: .customLong("client-id"), help: "Settle's SETTLE_PAYPAL_CLIENT_ID.") var clientID: String = "emulated-client"
    @Option(name: .customLong("client-secret"), help: "Settle's SETTLE_PAYPAL_CLIENT_SECRET.") var clientSecret: String = "emulated-secret"
    @Option(name: .customLong("webhook-id"), help: "Settle's SETTLE_PAYPAL_WEBHOOK_ID (part of every signed string).")
    var webhookID: String = "WH-EMULATED-1"
    @Option(name: .customLong("webhook-url"), help: "Where to send events, e.g. http://127.0.0.1:8080/v1/webhooks/paypal (without it, events are dropped).")
    var webhookURL: String?
    @Option(name: .customLong("cert-port"), help: "Port of the HTTPS listener serving the signing certificates.") var certPort: Int = 12115
    @Option(name: .customLong("cert-host"), help: "Host name in PAYPAL-CERT-URL and in the TLS certificate.") var certHost: String = "localhost"
    @Option(name: .customLong("ca-file"), help: "Where to write the emulator's CA certificate (PEM); a temporary file by default.")
    var caFile: String?

    func validate() throws {
        guard (1...65535).contains(port) else { throw ValidationError("--port must be between 1 and 65535.") }
        guard (1...65535).contains(certPort), certPort != port else {
            throw ValidationError("--cert-port must be between 1 and 65535 and differ from --port.")
        }
    }

    func run() async throws {
        let logger = EmulatorLogging.bootstrap()
        var settings = PayPalEmulator.Configuration(
            clientID: clientID, clientSecret: clientSecret, webhookID: webhookID, webhookURL: webhookURL, port: port, certPort: certPort,
            certHost: certHost
        )
        settings.host = host
        let emulator = try PayPalEmulator(configuration: settings)
        let path = caFile ?? FileManager.default.temporaryDirectory.appendingPathComponent("settle-paypal-emulator-ca-\(port).pem").path
        try emulator.caCertificatePEM.write(toFile: path, atomically: true, encoding: .utf8)
        let url = emulator.baseURL
        print("PayPal emulator on \(url) — approval page at \(url)/checkoutnow, certificates at \(emulator.certBaseURL), events to \(webhookURL ?? "nowhere (dropped)")")
        print(
            "Give Settle SETTLE_PAYPAL_CLIENT_ID=\(clientID) SETTLE_PAYPAL_CLIENT_SECRET=\(clientSecret) SETTLE_PAYPAL_WEBHOOK_ID=\(webhookID) "
                + "SETTLE_PAYPAL_MODE=sandbox SETTLE_PAYPAL_API_BASE=\(url) SETTLE_PAYPAL_CERT_HOSTS=\(certHost) SETTLE_PAYPAL_CA_FILE=\(path)"
        )
        try await emulator.application(logger: logger).runService()
    }
}
