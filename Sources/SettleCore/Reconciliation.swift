import Foundation

/// What a reconciliation found for one payment or refund, comparing Settle's record with the provider's.
public enum ReconciliationClass: String, Sendable, Hashable, CaseIterable, Codable {
    case matched
    /// The provider has a record (money, perhaps) Settle never heard of.
    case missingInSettle = "missing_in_settle"
    /// Settle holds a record the provider does not know.
    case missingAtProvider = "missing_at_provider"
    case statusMismatch = "status_mismatch"
    case amountMismatch = "amount_mismatch"
    case currencyMismatch = "currency_mismatch"
}

/// What a reconciliation item is about.
public enum ReconciledObject: String, Sendable, Hashable, CaseIterable, Codable {
    case payment
    case refund
}

/// A payment's or refund's state as one side records it, in words both sides share. A refund uses `processing`
/// (pending), `succeeded`, `failed`, `canceled`, and `open` for Settle's refunds waiting for an operator.
public enum ReconciledStatus: String, Sendable, Hashable, CaseIterable, Codable {
    /// Nothing happened yet: the buyer has not paid (a checkout still open).
    case open
    case processing
    case succeeded
    case failed
    case canceled
    case expired
    /// Settle holds it for an operator (a success after the payment closed, an amount that differed).
    case requiresReview = "requires_review"

    /// Settle's status of a payment.
    public init(_ status: PaymentStatus) {
        switch status {
        case .requiresAction: self = .open
        case .processing: self = .processing
        case .succeeded: self = .succeeded
        case .failed: self = .failed
        case .canceled: self = .canceled
        case .expired: self = .expired
        case .requiresReview: self = .requiresReview
        }
    }

    /// Settle's status of a refund.
    public init(_ status: RefundStatus) {
        switch status {
        case .pending: self = .processing
        case .succeeded: self = .succeeded
        case .failed: self = .failed
        case .canceled: self = .canceled
        case .requiresAction: self = .open
        }
    }

    /// A provider's outcome; `nil` is a record with nothing reported yet.
    public init(_ outcome: ProviderOutcome?) {
        switch outcome {
        case nil: self = .open
        case .processing: self = .processing
        case .succeeded: self = .succeeded
        case .failed: self = .failed
        case .canceled: self = .canceled
        case .expired: self = .expired
        }
    }

    /// The provider outcome a final status reports (what a reconciliation may apply); `nil` for the others.
    public var finalOutcome: ProviderOutcome? {
        switch self {
        case .succeeded: .succeeded
        case .failed: .failed
        case .canceled: .canceled
        case .expired: .expired
        case .open, .processing, .requiresReview: nil
        }
    }

    /// Where the money stands: whether it moved, did not and will not, or may still.
    enum Standing { case open, paid, unpaid, review }

    var standing: Standing {
        switch self {
        case .open, .processing: .open
        case .succeeded: .paid
        case .failed, .canceled, .expired: .unpaid
        case .requiresReview: .review
        }
    }
}

/// One side's record of a payment or refund: its status, amount (minor units; `nil` when the provider's amount could
/// not be converted exactly) and currency.
public struct ReconciledSide: Sendable, Hashable {
    public var status: ReconciledStatus
    public var amount: Int64?
    public var currency: String?

    public init(status: ReconciledStatus, amount: Int64?, currency: String?) {
        self.status = status
        self.amount = amount
        self.currency = currency
    }
}

/// The pure comparison behind reconciliation.
public enum Reconciler {
    /// How Settle's record and the provider's compare. The first difference wins, in this order: a side missing, the
    /// currency, the amount, then the status. Statuses agree when the money stands the same on both sides (paid, not
    /// paid, or still open); a payment Settle closed unpaid while the provider still shows it open agrees too (no
    /// money moved, and the provider's checkout lapses) — but not one the provider is processing, which may still
    /// take money. A payment under review never agrees: an operator must look.
    /// A payment the provider never knew of (`reachedProvider` false: it never named it, and no money moved — a Payme
    /// link nobody opened) agrees with the provider's having no record.
    public static func classify(settle: ReconciledSide?, provider: ReconciledSide?, reachedProvider: Bool = true) -> ReconciliationClass {
        guard let settle, let provider else {
            if settle == nil { return .missingInSettle }
            return reachedProvider ? .missingAtProvider : .matched
        }
        if settle.currency?.uppercased() != provider.currency?.uppercased() { return .currencyMismatch }
        if settle.amount != provider.amount { return .amountMismatch }
        return statusesAgree(settle: settle.status, provider: provider.status) ? .matched : .statusMismatch
    }

    static func statusesAgree(settle: ReconciledStatus, provider: ReconciledStatus) -> Bool {
        switch (settle.standing, provider.standing) {
        case (.review, _), (_, .review): false
        // A checkout nobody paid lapses; one the provider is processing may still take money.
        case (.unpaid, .open): provider == .open
        case let (a, b): a == b
        }
    }

    /// Whether a difference may be healed by applying the provider's final state through the exactly-once path a
    /// notification takes (with `apply`): a status the provider reports as final, for any difference but a missing
    /// side. An amount or currency that differs is applied too, where the state machine sends it to review — amounts
    /// never change silently. A refund the provider made that Settle does not know (one made in its dashboard) is
    /// applied as a provider-initiated refund, which takes only a full refund of a payment Settle holds.
    public static func isApplicable(_ kind: ReconciliationClass, object: ReconciledObject, provider: ReconciledSide?) -> Bool {
        guard let provider, provider.status.finalOutcome != nil else { return false }
        switch kind {
        case .statusMismatch: return true
        case .amountMismatch, .currencyMismatch: return object == .payment && provider.status == .succeeded
        case .missingInSettle: return object == .refund && provider.status == .succeeded
        case .matched, .missingAtProvider: return false
        }
    }
}
