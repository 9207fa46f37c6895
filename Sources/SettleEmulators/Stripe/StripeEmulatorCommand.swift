import ArgumentParser
import Hummingbird
import SettleProviders

extension StripeProvider: EmulatedProvider {
    public static var emulatorCommand: any AsyncParsableCommand.Type { StripeEmulatorCommand.self }
}

/// `settle emulate stripe`.
struct StripeEmulatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stripe",
        abstract: "Emulate Stripe Checkout: set SETTLE_STRIPE_API_BASE to its URL and point --webhook-url at Settle."
    )
    @Option(help: "Port to listen on.") var port: Int = 12111
    @Option(help: "Where to send events, e.g. http://127.0.0.1:8080/v1/webhooks/stripe.") var webhookURL: String
    @Option(help: "The whsec_… secret to sign events with (Settle's SETTLE_STRIPE_WEBHOOK_SECRET).") var webhookSecret: String
    @Option(help: "The secret key Settle must present (Settle's SETTLE_STRIPE_SECRET_KEY).") var apiKey: String = "sk_test_emulator"

    func run() async throws {
        let logger = EmulatorLogging.bootstrap()
        let emulator = StripeEmulator(configuration: .init(apiKey: apiKey, webhookURL: webhookURL, webhookSecret: webhookSecret, port: port))
        print("Stripe emulator on http://127.0.0.1:\(port) — events to \(webhookURL)")
        try await emulator.application(logger: logger).runService()
    }
}
