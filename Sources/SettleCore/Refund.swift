import Foundation

/// Where a refund stands.
public enum RefundStatus: String, Sendable, Hashable, CaseIterable, Codable {
    /// Asked of the provider, not confirmed yet (PayU's review, a sandbox refund left pending).
    case pending
    case succeeded
    case failed
    case canceled
    /// The provider has no refund API for this payment (cash, some bank transfers): an operator pays the buyer back by
    /// other means and confirms it.
    case requiresAction = "requires_action"

    public var isFinal: Bool { self == .succeeded || self == .failed || self == .canceled }
    /// Counts against what is left to refund: pending, succeeded and waiting for an operator.
    public var holdsAmount: Bool { self == .pending || self == .succeeded || self == .requiresAction }
}

/// Money returned, or to be returned, to the buyer of a succeeded payment: a part of its amount, in its currency.
public struct Refund: Sendable, Hashable {
    public static let reasons = ["requested_by_customer", "duplicate", "fraudulent", "other"]

    public var id: String
    public var mode: Mode
    public var paymentID: String
    public var amount: Money
    public var status: RefundStatus
    /// `requested_by_customer`, `duplicate`, `fraudulent`, `other`, or the provider's words for one it made itself.
    public var reason: String
    public var providerRefundID: String?
    public var failure: PaymentFailure?
    public var metadata: [String: String]
    public var createdAt: Date
    public var updatedAt: Date

    public init(
        id: String, mode: Mode, paymentID: String, amount: Money, status: RefundStatus, reason: String, providerRefundID: String? = nil,
        failure: PaymentFailure? = nil, metadata: [String: String] = [:], createdAt: Date, updatedAt: Date
    ) {
        self.id = id
        self.mode = mode
        self.paymentID = paymentID
        self.amount = amount
        self.status = status
        self.reason = reason
        self.providerRefundID = providerRefundID
        self.failure = failure
        self.metadata = metadata
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }

    /// The refund as the merchant API shows it. Refund events carry this same object.
    public var apiObject: JSONValue {
        .object([
            ("id", .string(id)), ("object", .string("refund")), ("payment", .string(paymentID)), ("amount", .int(amount.minorUnits)),
            ("currency", .string(amount.currency.code)), ("status", .string(status.rawValue)), ("reason", .string(reason)),
            ("provider_refund_id", .string(providerRefundID)),
            // Why it failed, or why an operator must act; gone once the money is back.
            ("failure", (status == .failed || status == .requiresAction ? failure : nil).map {
                .object([("code", .string($0.code)), ("message", .string($0.message))])
            } ?? .null),
            ("metadata", .stringMap(metadata)), ("created_at", .int(UnixTime.seconds(createdAt))),
            ("updated_at", .int(UnixTime.seconds(updatedAt))), ("livemode", .bool(mode.isLive)),
        ])
    }
}

/// The refund state machine: a pure value type with no I/O, like ``PaymentStateMachine``.
///
/// | from | provider pending | provider succeeded | provider failed | no refund API | operator confirmed | canceled |
/// |---|---|---|---|---|---|---|
/// | pending | unchanged | succeeded | failed | requires_action | refused | canceled |
/// | requires_action | refused | succeeded | failed | unchanged | succeeded | canceled |
/// | succeeded | unchanged | unchanged (duplicate) | unchanged (stale) | refused | refused | refused |
/// | failed, canceled | unchanged | succeeded (the money left after all) | unchanged | refused | refused | refused |
public enum RefundStateMachine {
    public enum Input: Sendable, Hashable {
        /// The provider took the request and will confirm later.
        case providerPending
        case providerSucceeded
        case providerFailed
        /// The provider cannot refund this payment through its API.
        case noRefundAPI
        /// An operator paid the buyer back by other means.
        case operatorConfirmed
        case cancel
    }

    public enum Reason: String, Sendable, Hashable {
        case reported
        case duplicate
        case staleReport = "stale_report"
        case alreadyFinal = "already_final"
        case notWaitingForOperator = "not_waiting_for_operator"
        case operatorConfirmed = "operator_confirmed"
        case requested
    }

    public enum Action: Sendable, Hashable {
        case move(to: RefundStatus, reason: Reason)
        case unchanged(reason: Reason)
        case refuse(reason: Reason)
    }

    public static func next(from status: RefundStatus, on input: Input) -> Action {
        switch (status, input) {
        case (.pending, .providerPending), (.requiresAction, .noRefundAPI): .unchanged(reason: .duplicate)
        case (.pending, .providerSucceeded), (.requiresAction, .providerSucceeded): .move(to: .succeeded, reason: .reported)
        case (.pending, .providerFailed), (.requiresAction, .providerFailed): .move(to: .failed, reason: .reported)
        case (.pending, .noRefundAPI): .move(to: .requiresAction, reason: .reported)
        case (.requiresAction, .operatorConfirmed): .move(to: .succeeded, reason: .operatorConfirmed)
        case (.pending, .operatorConfirmed), (.requiresAction, .providerPending): .refuse(reason: .notWaitingForOperator)
        case (.pending, .cancel), (.requiresAction, .cancel): .move(to: .canceled, reason: .requested)
        case (.succeeded, .providerSucceeded): .unchanged(reason: .duplicate)
        case (.succeeded, .providerPending), (.succeeded, .providerFailed): .unchanged(reason: .staleReport)
        case (.failed, .providerFailed), (.canceled, .providerFailed), (.failed, .providerPending), (.canceled, .providerPending):
            .unchanged(reason: .alreadyFinal)
        // The provider returned the money after all: what happened is recorded, never dropped.
        case (.failed, .providerSucceeded), (.canceled, .providerSucceeded): .move(to: .succeeded, reason: .reported)
        case (.succeeded, _), (.failed, _), (.canceled, _): .refuse(reason: .alreadyFinal)
        }
    }
}
