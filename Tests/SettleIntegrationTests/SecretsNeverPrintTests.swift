import AsyncHTTPClient
import Foundation
import Logging
import NIOHTTP1
import ServiceLifecycle
import Settle
import SettleCore
import SettleEmulators
import SettleProviders
import SettleServer
import SettleStore
import Synchronization
import Testing

/// Collects every log record a Settle under test writes, at trace level.
final class CapturedLog: Sendable {
    private let lines = Mutex<[String]>([])

    var text: String { lines.withLock { $0.joined(separator: "\n") } }
    var count: Int { lines.withLock { $0.count } }

    func append(_ line: String) { lines.withLock { $0.append(line) } }

    /// Records as `SETTLE_LOG_FORMAT=json` writes them: one JSON object per line.
    var logger: Logger {
        var logger = Logger(label: "settle.captured") { label in
            JSONLogHandler(label: label, level: .trace, write: { line in self.append(String(line.dropLast())) })
        }
        logger.logLevel = .trace
        return logger
    }

    /// Every record, parsed.
    var records: [[String: Any]] {
        lines.withLock { $0 }.compactMap { line in (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any] }
    }

    struct Handler: LogHandler {
        let label: String
        let log: CapturedLog
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            let all = metadata.merging(event.metadata ?? [:]) { _, new in new }
            log.append("\(event.level) [\(event.source)] \(event.message) \(all.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: " "))")
        }
    }
}

/// Secrets never print: Settle runs at `trace` with every provider configured and real traffic through each, and
/// the whole log is searched for every secret it was given and every encoding of them that travels on the wire.
@Suite(.serialized) struct SecretsNeverPrintTests {
    static let sandboxSecret = StandardWebhookSecret.generate().serialized
    static let stripeKey = "sk_test_scan_\(Identifier.randomToken(length: 24))"
    static let stripeWebhookSecret = "whsec_scan\(Identifier.randomToken(length: 32))"
    static let paymeKey = "payme_scan_\(Identifier.randomToken(length: 20))"
    static let paymeNewKey = "payme_new_\(Identifier.randomToken(length: 20))"
    static let auditKey = "audit_scan_\(Identifier.randomToken(length: 32))"
    static let databasePassword = "pg_scan_\(Identifier.randomToken(length: 16))"
    static let merchantID = "5e730e8e0b852a417aa49ceb"

    @Test(arguments: Engine.enabled)
    func noSecretReachesTheLogAtTrace(_ engine: Engine) async throws {
        let log = CapturedLog()
        let stripe = StripeEmulator(
            configuration: .init(apiKey: Self.stripeKey, webhookURL: nil, webhookSecret: Self.stripeWebhookSecret, port: 0), httpClient: testHTTPClient
        )
        let payme = PaymeEmulator(configuration: .init(merchantID: Self.merchantID, key: Self.paymeKey, merchantURL: nil, port: 0), httpClient: testHTTPClient)
        let receiver = WebhookReceiver()
        let emulators = ServiceGroup(
            configuration: .init(
                services: [stripe.application(logger: Engine.logger), payme.application(logger: Engine.logger)], gracefulShutdownSignals: [],
                logger: Engine.logger
            )
        )
        let fresh = try await engine.makeDatabaseURL()
        // Trust authentication never asks for it, so only Settle's configuration holds the password.
        let databaseURL = engine == .postgres
            ? fresh.replacingOccurrences(of: "postgres://postgres@", with: "postgres://postgres:\(Self.databasePassword)@") : fresh
        let endpointSecret = Mutex<String?>(nil)
        let apiKey = Mutex<String?>(nil)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await emulators.run() }
            defer { group.cancelAll() }
            while !stripe.isRunning || !payme.isRunning { try await Task.sleep(for: .milliseconds(10)) }
            try await receiver.run {
                try await withSettle(databaseURL: databaseURL, logger: log.logger, configure: { configuration in
                    configuration.logLevel = .trace
                    configuration.auditKey = Secret(Self.auditKey)
                    configuration.providers["sandbox"] = ["webhook_secret": Self.sandboxSecret]
                    configuration.providers["stripe"] = [
                        "secret_key": Self.stripeKey, "webhook_secret": Self.stripeWebhookSecret, "api_base": stripe.baseURL,
                    ]
                    configuration.providers["payme"] = [
                        "merchant_id": Self.merchantID, "key": Self.paymeKey, "checkout_base": payme.baseURL, "api_base": payme.subscribeAPIURL,
                    ]
                }) { settle in
                    apiKey.withLock { $0 = settle.apiKey }
                    stripe.webhookURL = "\(settle.baseURL)/v1/webhooks/stripe"
                    payme.merchantURL = "\(settle.baseURL)/v1/webhooks/payme"
                    let endpoint = try await settle.request(
                        .POST, "/v1/webhook_endpoints", json: #"{"url":"\#(receiver.url)","enabled_events":["*"]}"#
                    )
                    endpointSecret.withLock { $0 = endpoint.json["secret"] as? String }

                    // The sandbox, signed; and a forged one.
                    let sandboxPayment = try await settle.createPayment()
                    let notifier = settle.notifier
                    let amount = Money(minorUnits: 150_000, currency: .cop)
                    #expect(try await notifier.send(notifier.message(for: .approve, paymentID: sandboxPayment, amount: amount)) == 200)
                    #expect(try await notifier.send(notifier.message(for: .approve, paymentID: sandboxPayment, amount: amount, fault: .badSignature)) == 401)

                    // Stripe: a session created with the secret key, paid, its signed event received.
                    let created = try await settle.request(
                        .POST, "/v1/payments", json: #"{"amount":150000,"currency":"COP","provider":"stripe","reference":"scan"}"#
                    )
                    let session = try #require(created.json["provider_payment_id"] as? String)
                    try await stripe.pay(sessionID: session)

                    // Payme: Merchant API calls with the key in Authorization, a wrong key, and a key change.
                    let order = try await settle.request(
                        .POST, "/v1/payments", json: #"{"amount":500000,"currency":"UZS","provider":"payme","reference":"scan"}"#
                    )
                    let orderID = try #require(order.json["id"] as? String)
                    let client = PaymeMerchantClient(merchantURL: "\(settle.baseURL)/v1/webhooks/payme", key: Self.paymeKey, httpClient: testHTTPClient)
                    let check = try await client.call(
                        "CheckPerformTransaction", params: .object([("amount", .int(500_000)), ("account", .object([("order_id", .string(orderID))]))])
                    )
                    #expect(check.status == 200)
                    let wrong = PaymeMerchantClient(merchantURL: "\(settle.baseURL)/v1/webhooks/payme", key: "not-\(Self.paymeKey)", httpClient: testHTTPClient)
                    _ = try await wrong.call("CheckTransaction", params: .object([("id", .string("x"))]))
                    _ = try await client.call("ChangePassword", params: .object([("password", .string(Self.paymeNewKey))]))
                    let receipt = try await settle.request(
                        .POST, "/v1/payments",
                        json: #"{"amount":500000,"currency":"UZS","provider":"payme","reference":"scan2","payment_method":{"type":"receipt"}}"#
                    )
                    #expect(receipt.status == 201 || receipt.status == 502, "\(receipt.text)")

                    // Deliveries signed with the endpoint's secret.
                    for _ in 0..<100 where receiver.deliveries.count < 3 { try await Task.sleep(for: .milliseconds(50)) }
                    #expect(receiver.deliveries.count >= 3)
                    _ = try await settle.request(.GET, "/v1/payments", headers: [("authorization", "Bearer sk_test_wrong")], auth: false)
                }
            }
            await emulators.triggerGracefulShutdown()
        }
        let text = log.text
        if ProcessInfo.processInfo.environment["SETTLE_TEST_SHOW_LOG"] != nil { print(text) }
        #expect(log.count > 50, "only \(log.count) log records: is trace logging on?")
        // JSON lines, each with its time, level and message; requests carry their id.
        let records = log.records
        #expect(records.count == log.count)
        #expect(records.allSatisfy { $0["time"] is String && $0["level"] is String && $0["message"] is String })
        #expect(records.contains { $0["request_id"] is String })
        var secrets = [
            Self.sandboxSecret, String(Self.sandboxSecret.dropFirst(6)), Self.stripeKey, Self.stripeWebhookSecret, Self.paymeKey,
            Self.paymeNewKey, Data("Paycom:\(Self.paymeKey)".utf8).base64EncodedString(), "\(Self.merchantID):\(Self.paymeKey)",
            Self.auditKey, try #require(apiKey.withLock { $0 }),
        ]
        if engine == .postgres { secrets.append(Self.databasePassword) }
        let endpoint = try #require(endpointSecret.withLock { $0 })
        secrets += [endpoint, String(endpoint.dropFirst(6))]
        for secret in secrets {
            #expect(!text.contains(secret), "a secret reached the log: \(secret.prefix(10))…")
        }
    }
}
