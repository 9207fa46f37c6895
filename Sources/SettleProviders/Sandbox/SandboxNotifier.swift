import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import SettleCore

/// Sends the sandbox's signed notifications to Settle over HTTP, as a real provider would. Tests use its faults
/// to send duplicates, wrong amounts, bad signatures and stale timestamps.
public struct SandboxNotifier: Sendable {
    /// Ways to spoil a notification on purpose.
    public enum Fault: Sendable, Hashable {
        case none
        /// Report this amount (minor units) instead of the payment's.
        case amount(Int64)
        /// Report this currency instead of the payment's.
        case currency(String)
        /// Sign with another secret.
        case badSignature
        /// Sign with a timestamp this many seconds in the past.
        case staleTimestamp(seconds: Int64)
    }

    /// A signed message ready to send.
    public struct Message: Sendable {
        public var eventID: String
        public var headers: [(String, String)]
        public var body: [UInt8]
    }

    let secret: StandardWebhookSecret
    let webhookURL: String
    let httpClient: HTTPClient

    public init(secret: StandardWebhookSecret, webhookURL: String, httpClient: HTTPClient = .shared) {
        self.secret = secret
        self.webhookURL = webhookURL
        self.httpClient = httpClient
    }

    /// Builds the signed notification for `action` on `payment`.
    public func message(
        for action: SandboxAction, paymentID: String, amount: Money, eventID: String = Identifier.make("sbevt"),
        fault: Fault = .none, now: Date = Date()
    ) -> Message {
        var minor = amount.minorUnits
        var currency = amount.currency.code
        var timestamp = UnixTime.seconds(now)
        var signingSecret = secret
        switch fault {
        case .none: break
        case .amount(let value): minor = value
        case .currency(let code): currency = code
        case .badSignature: signingSecret = .generate()
        case .staleTimestamp(let seconds): timestamp -= seconds
        }
        let body = JSONValue.object([
            ("id", .string(eventID)),
            ("type", .string(action.eventType)),
            ("data", .object([("payment_id", .string(paymentID)), ("amount", .int(minor)), ("currency", .string(currency))])),
        ]).bytes()
        return Self.signed(body, eventID: eventID, timestamp: timestamp, secret: signingSecret)
    }

    /// A body with its Standard Webhooks headers.
    static func signed(_ body: [UInt8], eventID: String, timestamp: Int64, secret: StandardWebhookSecret) -> Message {
        let messageID = "msg_" + eventID.split(separator: "_", maxSplits: 1).last.map(String.init)!
        let signature = StandardWebhooks.signature(secret: secret, id: messageID, timestamp: timestamp, body: body)
        return Message(
            eventID: eventID,
            headers: [
                ("content-type", "application/json"), ("webhook-id", messageID), ("webhook-timestamp", String(timestamp)),
                ("webhook-signature", signature),
            ],
            body: body
        )
    }

    /// The signed `refund.succeeded` (or `refund.failed`) for a refund the sandbox left pending.
    public func refundMessage(providerRefundID: String, paymentID: String, amount: Money, succeeded: Bool, now: Date = Date()) -> Message {
        let eventID = Identifier.make("sbevt")
        let body = JSONValue.object([
            ("id", .string(eventID)), ("type", .string(succeeded ? "refund.succeeded" : "refund.failed")),
            ("data", .object([
                ("payment_id", .string(paymentID)), ("refund_id", .string(providerRefundID)), ("amount", .int(amount.minorUnits)),
                ("currency", .string(amount.currency.code)),
            ])),
        ]).bytes()
        return Self.signed(body, eventID: eventID, timestamp: UnixTime.seconds(now), secret: secret)
    }

    /// Posts a message; returns the HTTP status Settle answered.
    @discardableResult
    public func send(_ message: Message, timeout: TimeAmount = .seconds(15)) async throws -> Int {
        var request = HTTPClientRequest(url: webhookURL)
        request.method = .POST
        for (name, value) in message.headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(bytes: message.body))
        let response = try await httpClient.execute(request, timeout: timeout)
        _ = try await response.body.collect(upTo: 1 << 16)
        return Int(response.status.code)
    }
}
