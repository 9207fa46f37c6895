/// The merchant-facing event types: what Settle's outbound webhooks announce and `GET /v1/events` lists.
public enum EventType: String, Sendable, Hashable, CaseIterable, Codable, CustomStringConvertible {
    case paymentCreated = "payment.created"
    case paymentProcessing = "payment.processing"
    case paymentSucceeded = "payment.succeeded"
    case paymentFailed = "payment.failed"
    case paymentCanceled = "payment.canceled"
    case paymentExpired = "payment.expired"
    case paymentRequiresReview = "payment.requires_review"
    /// The payment's `amount_refunded` and `refunded` show it.
    case paymentRefunded = "payment.refunded"
    /// The merchant marked the order fulfilled.
    case paymentFulfilled = "payment.fulfilled"
    /// A refund was asked for (of the provider, or of an operator when the provider has no refund API).
    case refundCreated = "refund.created"
    case refundSucceeded = "refund.succeeded"
    case refundFailed = "refund.failed"
    /// A wallet received money (a top-up, a refund of a top-up that failed); the event's object is the transfer.
    case walletCredited = "wallet.credited"
    /// Money left a wallet (spent, or taken back for a refund of its top-up); the object is the transfer.
    case walletDebited = "wallet.debited"
    /// Money moved from one wallet to another; the object is the transfer.
    case transferCreated = "transfer.created"

    public var description: String { rawValue }
}

extension PaymentStatus {
    /// The event written when a payment enters this status (`requires_action` is entered only at creation).
    public var eventType: EventType {
        switch self {
        case .requiresAction: .paymentCreated
        case .processing: .paymentProcessing
        case .succeeded: .paymentSucceeded
        case .failed: .paymentFailed
        case .canceled: .paymentCanceled
        case .expired: .paymentExpired
        case .requiresReview: .paymentRequiresReview
        }
    }
}
