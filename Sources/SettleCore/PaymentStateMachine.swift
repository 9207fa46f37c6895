/// What a provider says happened to a payment, normalized across providers.
public enum ProviderOutcome: String, Sendable, Hashable, CaseIterable, Codable {
    case processing
    case succeeded
    case failed
    case canceled
    case expired

    var status: PaymentStatus {
        switch self {
        case .processing: .processing
        case .succeeded: .succeeded
        case .failed: .failed
        case .canceled: .canceled
        case .expired: .expired
        }
    }
}

/// The payment state machine: a pure value type with no I/O.
///
/// Given a status and an input it answers what to do: move to a new status, leave the payment as it is (a
/// duplicate, a stale or out-of-order report), or refuse (a merchant asking for something the status forbids).
/// Every caller that changes a payment's status asks it first; the store executes the answer atomically.
public struct PaymentStateMachine: Sendable, Hashable {
    /// Something that may change a payment's status.
    public enum Input: Sendable, Hashable {
        /// A verified provider report. `amountMatches` is false when the reported amount or currency differs
        /// from the payment's.
        case provider(ProviderOutcome, amountMatches: Bool)
        /// The merchant asks to cancel.
        case merchantCancel
        /// The payment's `expires_at` has passed (the sweep).
        case clockExpiry
        /// The provider refused to create the payment (or could not be reached) when Settle asked it to.
        case providerRefusedCreation
        /// A verified report of money taken after the payment's `expires_at` (a cash voucher paid at a counter after
        /// its date, which the counter should have refused): never a plain success.
        case paidAfterExpiry(amountMatches: Bool)
        /// An operator decided a payment under review: it succeeded (the money is the merchant's) or it failed (the
        /// money goes back to the buyer by other means). Only from `requires_review`.
        case operatorResolution(succeeded: Bool)
    }

    /// Why a transition happened or did not.
    public enum Reason: String, Sendable, Hashable, Codable {
        case reported
        case amountMismatch = "amount_mismatch"
        case succeededAfterClose = "succeeded_after_close"
        case duplicate
        case staleReport = "stale_report"
        case alreadyFinal = "already_final"
        case underReview = "under_review"
        case merchantRequest = "merchant_request"
        case expiredByClock = "expired_by_clock"
        case providerRefused = "provider_refused"
        case paidAfterExpiry = "paid_after_expiry"
        case operatorResolved = "operator_resolved"
        case notUnderReview = "not_under_review"
    }

    /// The answer for one input.
    public enum Action: Sendable, Hashable {
        /// Change the status (and write its event, audit entry and outbound message).
        case move(to: PaymentStatus, reason: Reason)
        /// Keep the status; acknowledge the input (duplicates, stale or out-of-order reports).
        case unchanged(reason: Reason)
        /// Refuse the input with a typed error (only for merchant and clock inputs).
        case refuse(reason: Reason)
    }

    public private(set) var status: PaymentStatus

    public init(status: PaymentStatus) {
        self.status = status
    }

    /// Applies one input, updating `status` when the answer is `.move`.
    public mutating func apply(_ input: Input) -> Action {
        let action = Self.next(from: status, on: input)
        if case .move(let to, _) = action { status = to }
        return action
    }

    /// The transition table.
    public static func next(from status: PaymentStatus, on input: Input) -> Action {
        switch input {
        case .provider(let outcome, let amountMatches):
            return providerReport(from: status, outcome: outcome, amountMatches: amountMatches)
        case .merchantCancel:
            return status.isFinal ? .refuse(reason: .alreadyFinal) : .move(to: .canceled, reason: .merchantRequest)
        case .clockExpiry:
            return status.isFinal ? .unchanged(reason: .alreadyFinal) : .move(to: .expired, reason: .expiredByClock)
        case .providerRefusedCreation:
            return status == .requiresAction ? .move(to: .failed, reason: .providerRefused) : .refuse(reason: .alreadyFinal)
        case .operatorResolution(let succeeded):
            guard status == .requiresReview else { return .refuse(reason: .notUnderReview) }
            return .move(to: succeeded ? .succeeded : .failed, reason: .operatorResolved)
        case .paidAfterExpiry(let amountMatches):
            switch status {
            case .requiresAction, .processing:
                return .move(to: .requiresReview, reason: amountMatches ? .paidAfterExpiry : .amountMismatch)
            default:
                return providerReport(from: status, outcome: .succeeded, amountMatches: amountMatches)
            }
        }
    }

    private static func providerReport(from status: PaymentStatus, outcome: ProviderOutcome, amountMatches: Bool)
        -> Action
    {
        switch status {
        case .requiresReview:
            return .unchanged(reason: .underReview)
        case .requiresAction, .processing:
            if !amountMatches { return .move(to: .requiresReview, reason: .amountMismatch) }
            if outcome.status == status { return .unchanged(reason: .duplicate) }
            return .move(to: outcome.status, reason: .reported)
        case .succeeded:
            // Final. A repeated success is a duplicate; anything else arrived out of order.
            return .unchanged(reason: outcome == .succeeded ? .duplicate : .staleReport)
        case .failed, .canceled, .expired:
            // Money moved for a payment we had closed: never drop it silently.
            if outcome == .succeeded { return .move(to: .requiresReview, reason: .succeededAfterClose) }
            return .unchanged(reason: outcome.status == status ? .duplicate : .alreadyFinal)
        }
    }
}
