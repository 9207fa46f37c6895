import ArgumentParser
import Hummingbird
import SettleProviders

extension PayUProvider: EmulatedProvider {
    public static var emulatorCommand: any AsyncParsableCommand.Type { PayUEmulatorCommand.self }
}

/// `settle emulate payu`.
struct PayUEmulatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "payu",
        abstract: """
            Emulate PayU Latam: set SETTLE_PAYU_CHECKOUT_BASE to <url>/ppp-web-gateway-payu/, SETTLE_PAYU_API_BASE to \
            <url>/payments-api/4.0/service.cgi and SETTLE_PAYU_REPORTS_BASE to <url>/reports-api/4.0/service.cgi.
            """
    )
    @Option(help: "Port to listen on.") var port: Int = 12113
    @Option(name: .customLong("merchant-id"), help: "Settle's SETTLE_PAYU_MERCHANT_ID.") var merchantID: String = "508029"
    @Option(name: .customLong("account-id"), help: "Settle's SETTLE_PAYU_ACCOUNT_ID.") var accountID: String = "512321"
    @Option(name: .customLong("api-key"), help: "Settle's SETTLE_PAYU_API_KEY.") var apiKey: String
    @Option(name: .customLong("api-login"), help: "Settle's SETTLE_PAYU_API_LOGIN.") var apiLogin: String
    @Option(help: "Settle's SETTLE_PAYU_SIGNATURE: md5, sha1, sha256 or hmac-sha256.") var signature: String = "md5"
    @Option(name: .customLong("hmac-key"), help: "Settle's SETTLE_PAYU_HMAC_KEY (HMAC-SHA256 only).") var hmacKey: String?

    func validate() throws {
        guard ["md5", "sha1", "sha256", "hmac-sha256"].contains(signature.lowercased()) else {
            throw ValidationError("--signature must be md5, sha1, sha256 or hmac-sha256.")
        }
    }

    func run() async throws {
        let logger = EmulatorLogging.bootstrap()
        let emulator = PayUEmulator(
            configuration: .init(
                merchantID: merchantID, accountID: accountID, apiKey: apiKey, apiLogin: apiLogin, algorithm: signature.lowercased(),
                hmacKey: hmacKey, port: port
            )
        )
        print(
            "PayU emulator on http://127.0.0.1:\(port) — WebCheckout at /ppp-web-gateway-payu/, API at /payments-api/4.0/service.cgi, "
                + "queries at /reports-api/4.0/service.cgi, confirmations to each order's confirmationUrl/notifyUrl"
        )
        try await emulator.application(logger: logger).runService()
    }
}
