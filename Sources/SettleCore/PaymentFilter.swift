import Foundation

/// Filters for listing payments.
public struct PaymentFilter: Sendable, Hashable {
    public var mode: Mode
    public var reference: String?
    public var status: PaymentStatus?
    public var provider: String?
    public var limit: Int
    public var startingAfter: String?

    public init(
        mode: Mode, reference: String? = nil, status: PaymentStatus? = nil, provider: String? = nil, limit: Int = 10,
        startingAfter: String? = nil
    ) {
        self.mode = mode
        self.reference = reference
        self.status = status
        self.provider = provider
        self.limit = limit
        self.startingAfter = startingAfter
    }
}

/// One entry of a payment's timeline: a status change (event) or a notification.
public struct TimelineEntry: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable {
        case event
        case notification
    }

    public var kind: Kind
    public var id: String
    public var type: String
    public var detail: String?
    public var at: Date

    public init(kind: Kind, id: String, type: String, detail: String? = nil, at: Date) {
        self.kind = kind
        self.id = id
        self.type = type
        self.detail = detail
        self.at = at
    }
}
