import ArgumentParser
import Foundation
import Hummingbird
import SettleProviders

extension OmiseProvider: EmulatedProvider {
    public static var emulatorCommand: any AsyncParsableCommand.Type { OmiseEmulatorCommand.self }
}

/// `settle emulate omise`.
struct OmiseEmulatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "omise",
        abstract: "Emulate Omise: set SETTLE_OMISE_API_BASE and SETTLE_OMISE_VAULT_BASE to its URL and point --webhook-url at Settle."
    )
    @Option(help: "Port to listen on.") var port: Int = 12113
    @Option(help: "Address to listen on.") var host: String = "127.0.0.1"
    @Option(help: "Settle's SETTLE_OMISE_SECRET_KEY.") var secretKey: String = "skey_test_emulated"
    @Option(help: "Settle's SETTLE_OMISE_PUBLIC_KEY.") var publicKey: String = "pkey_test_emulated"
    @Option(help: "Settle's SETTLE_OMISE_WEBHOOK_SECRET: base64, as Omise's dashboard shows it.")
    var webhookSecret: String = "c2V0dGxlLW9taXNlLWVtdWxhdG9yLXdlYmhvb2stMzI="
    @Option(help: "Where to send events, e.g. http://127.0.0.1:8080/v1/webhooks/omise (without it, events are dropped).")
    var webhookURL: String?

    func validate() throws {
        guard (1...65535).contains(port) else { throw ValidationError("--port must be between 1 and 65535.") }
        guard Data(base64Encoded: webhookSecret) != nil else { throw ValidationError("--webhook-secret must be base64.") }
    }

    func run() async throws {
        let logger = EmulatorLogging.bootstrap()
        var configuration = OmiseEmulator.Configuration(
            secretKey: secretKey, publicKey: publicKey, webhookSecret: webhookSecret, webhookURL: webhookURL, port: port
        )
        configuration.host = host
        let emulator = OmiseEmulator(configuration: configuration)
        let url = emulator.baseURL
        print("Omise emulator on \(url) — API and vault at /, events to \(webhookURL ?? "nowhere (dropped)")")
        print(
            "Give Settle SETTLE_OMISE_SECRET_KEY=\(secretKey) SETTLE_OMISE_PUBLIC_KEY=\(publicKey) "
                + "SETTLE_OMISE_WEBHOOK_SECRET=\(webhookSecret) SETTLE_OMISE_API_BASE=\(url) SETTLE_OMISE_VAULT_BASE=\(url)"
        )
        try await emulator.application(logger: logger).runService()
    }
}
