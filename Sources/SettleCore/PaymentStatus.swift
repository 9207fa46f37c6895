/// Where a payment is in its life.
///
/// `succeeded`, `failed`, `canceled` and `expired` are final: automation never moves a payment out of them,
/// except to `requires_review` when a provider reports money moving for a payment that was already closed.
/// `requires_review` is terminal for automation: a person decides what happens next.
public enum PaymentStatus: String, Sendable, Hashable, CaseIterable, Codable, CustomStringConvertible {
    /// Created; the buyer has not finished yet.
    case requiresAction = "requires_action"
    /// The provider says the payment is pending (a bank transfer, a cash voucher).
    case processing
    case succeeded
    case failed
    case canceled
    case expired
    /// Something does not add up (an amount mismatch, money after closing); a person must look.
    case requiresReview = "requires_review"

    /// A final status: the payment's outcome is settled.
    public var isFinal: Bool {
        switch self {
        case .succeeded, .failed, .canceled, .expired, .requiresReview: true
        case .requiresAction, .processing: false
        }
    }

    public var description: String { rawValue }
}
