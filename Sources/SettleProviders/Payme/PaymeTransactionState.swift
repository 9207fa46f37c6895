import SettleCore

/// A Payme transaction's state as the Merchant API defines it. Settle stores it as the generic
/// ``ProviderTransaction/state``; only this folder gives it meaning.
enum PaymeTransactionState: Int, Sendable, Hashable {
    /// `CreateTransaction` reserved the order; Payme may perform it for 12 hours.
    case created = 1
    /// `PerformTransaction`: the money is taken and the payment succeeded.
    case performed = 2
    /// Cancelled before it was performed (by Payme, or by the 12-hour rule).
    case cancelled = -1
    /// Cancelled after it was performed: the buyer is refunded.
    case cancelledAfterPerform = -2

    /// Payme's `reason` for a transaction Settle cancels because it was not performed in time.
    static let timeoutReason = 4
}

extension ProviderTransaction {
    var paymeState: PaymeTransactionState {
        get { PaymeTransactionState(rawValue: state) ?? .cancelled }
        set { state = newValue.rawValue }
    }
}
