import Foundation
import SettleCore

/// An inbound message exactly as it arrived: Settle stores these bytes before it acknowledges anything.
public struct InboundNotification: Sendable {
    public var provider: String
    public var method: String
    public var contentType: String?
    /// Header names lower-cased.
    public var headers: [String: String]
    public var query: String?
    public var body: [UInt8]
    public var receivedAt: Date

    public init(
        provider: String, method: String = "POST", contentType: String?, headers: [String: String], query: String? = nil,
        body: [UInt8], receivedAt: Date
    ) {
        self.provider = provider
        self.method = method
        self.contentType = contentType
        self.headers = Dictionary(headers.map { ($0.key.lowercased(), $0.value) }, uniquingKeysWith: { first, _ in first })
        self.query = query
        self.body = body
        self.receivedAt = receivedAt
    }

    public func header(_ name: String) -> String? { headers[name.lowercased()] }
}

/// Which payment a provider event is about.
public enum PaymentTarget: Sendable, Hashable {
    /// Settle's own id, when the provider echoes it back.
    case payment(id: String)
    /// The provider's id for the payment.
    case providerPayment(id: String)
}

/// A verified, normalized provider event.
public struct ProviderEvent: Sendable, Hashable {
    /// The provider's unique id for this event: notifications are deduplicated on (provider, event id).
    public var eventID: String
    /// The provider's own type name, kept for the timeline.
    public var type: String
    public var target: PaymentTarget?
    /// `nil` for event types Settle does not act on: they are stored and acknowledged.
    public var outcome: ProviderOutcome?
    /// The amount the provider reports, already converted to minor units at the adapter's edge.
    public var amountMinorUnits: Int64?
    public var currencyCode: String?
    public var failure: PaymentFailure?
    /// The message is only a hint: fetch the authoritative state before acting on it.
    public var isHint: Bool
    /// The provider returned the money (Wompi's `VOIDED` after `APPROVED`): recorded as a full refund of a succeeded
    /// payment when the amount and currency are the payment's. The outcome is then `nil`.
    public var refund: ProviderRefund?
    /// When the provider says the money moved, where it says (a settlement line's `paid_at`): a success after the
    /// payment's `expires_at` goes to review.
    public var occurredAt: Date?
    /// The provider's id for what the event is about (PayU's order): recorded when the payment has none; a success
    /// naming another one than the payment's, after the payment succeeded, is flagged (money taken twice).
    public var providerPaymentID: String?

    public init(
        eventID: String, type: String, target: PaymentTarget?, outcome: ProviderOutcome?, amountMinorUnits: Int64? = nil,
        currencyCode: String? = nil, failure: PaymentFailure? = nil, isHint: Bool = false, refund: ProviderRefund? = nil,
        occurredAt: Date? = nil, providerPaymentID: String? = nil
    ) {
        self.providerPaymentID = providerPaymentID
        self.refund = refund
        self.occurredAt = occurredAt
        self.eventID = eventID
        self.type = type
        self.target = target
        self.outcome = outcome
        self.amountMinorUnits = amountMinorUnits
        self.currencyCode = currencyCode
        self.failure = failure
        self.isHint = isHint
    }
}

/// Money a provider returned to the buyer, reported in an event: the outcome of a refund Settle asked for (found by
/// its provider id), or a refund the provider made itself (a full refund of a succeeded payment, `outcome`
/// `.succeeded`).
public struct ProviderRefund: Sendable, Hashable {
    /// The provider's id for the refund (or for the voided transaction).
    public var providerRefundID: String
    public var reason: String
    /// `succeeded` (the default) or `failed`.
    public var outcome: RefundStatus
    /// Settle's id for the refund, when the provider echoes it back (Stripe's metadata).
    public var refundID: String?

    public init(providerRefundID: String, reason: String, outcome: RefundStatus = .succeeded, refundID: String? = nil) {
        self.providerRefundID = providerRefundID
        self.reason = reason
        self.outcome = outcome
        self.refundID = refundID
    }
}

/// The result of verifying one inbound message.
public struct VerifiedNotification: Sendable, Hashable {
    public var events: [ProviderEvent]
    /// What to answer once stored (most providers want an empty 200).
    public var acknowledgement: ProviderAnswer

    public init(events: [ProviderEvent], acknowledgement: ProviderAnswer = .init(status: 200, contentType: "application/json", body: Array(#"{"received":true}"#.utf8))) {
        self.events = events
        self.acknowledgement = acknowledgement
    }
}
