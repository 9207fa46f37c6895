import ArgumentParser
import Foundation
import Hummingbird
import SettleProviders

extension PaystackProvider: EmulatedProvider {
    public static var emulatorCommand: any AsyncParsableCommand.Type { PaystackEmulatorCommand.self }
}

/// `settle emulate paystack`.
struct PaystackEmulatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "paystack",
        abstract: "Emulate Paystack: set SETTLE_PAYSTACK_API_BASE to its URL and point --webhook-url at Settle."
    )
    @Option(help: "Port to listen on.") var port: Int = 12116
    @Option(help: "Address to listen on.") var host: String = "127.0.0.1"
    @Option(help: "Settle's SETTLE_PAYSTACK_SECRET_KEY (it also signs the events; sk_live_… makes the domain live).")
    var secretKey: String = "sk_test_emulated0000000000000000000000000000"
    @Option(help: "Where to send events, e.g. http://127.0.0.1:8080/v1/webhooks/paystack (without it, events are dropped).")
    var webhookURL: String?

    func validate() throws {
        guard (1...65535).contains(port) else { throw ValidationError("--port must be between 1 and 65535.") }
        guard !secretKey.isEmpty, !secretKey.contains(where: { $0.isWhitespace }) else {
            throw ValidationError("--secret-key must be a key without spaces, e.g. sk_test_….")
        }
    }

    func run() async throws {
        let logger = EmulatorLogging.bootstrap()
        let configuration = PaystackEmulator.Configuration(secretKey: secretKey, webhookURL: webhookURL, host: host, port: port)
        let emulator = PaystackEmulator(configuration: configuration)
        let url = emulator.baseURL
        print("Paystack emulator on \(url) — API and checkout at /, events to \(webhookURL ?? "nowhere (dropped)")")
        print("Give Settle SETTLE_PAYSTACK_SECRET_KEY=\(secretKey) SETTLE_PAYSTACK_API_BASE=\(url)")
        try await emulator.application(logger: logger).runService()
    }
}
