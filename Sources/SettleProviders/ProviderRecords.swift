import Foundation
import SettleCore

/// How a provider's records are read for reconciliation.
public enum ReconciliationSource: Sendable, Hashable {
    /// The provider lists its payments and refunds by creation time (Stripe): every record in the window is read, so
    /// money Settle never heard of is found.
    case listing
    /// The provider is asked about each of Settle's payments (PayU's queries API, Wompi by reference, Payme's
    /// transactions): only what Settle holds can be compared. `refunds`: the answers cover the payment's refunds too.
    case perPayment(refunds: Bool)
    /// The provider's records cannot be read (the reason, for the merchant).
    case unsupported(String)
}

/// The provider's record of one payment or refund, converted exactly at the adapter's edge.
public struct ProviderRecord: Sendable, Hashable {
    public var object: ReconciledObject
    /// The provider's id of the payment or refund.
    public var providerID: String
    /// Settle's payment (for a refund, the payment it returns), when the provider carries it (a reference, metadata).
    public var paymentID: String?
    /// For a refund: the provider's id of the payment it returns.
    public var providerPaymentID: String?
    /// For a refund: Settle's refund, when the provider carries it.
    public var refundID: String?
    public var status: ReconciledStatus
    /// Minor units of `currency`; `nil` when the provider's amount has no exact equivalent (it never matches).
    public var amount: Int64?
    public var currency: String?
    /// The provider's fee and what it pays out, in minor units, where it says.
    public var fee: Int64?
    public var net: Int64?

    public init(
        object: ReconciledObject, providerID: String, paymentID: String?, providerPaymentID: String? = nil, refundID: String? = nil,
        status: ReconciledStatus, amount: Int64?, currency: String?, fee: Int64? = nil, net: Int64? = nil
    ) {
        self.object = object
        self.providerID = providerID
        self.paymentID = paymentID
        self.providerPaymentID = providerPaymentID
        self.refundID = refundID
        self.status = status
        self.amount = amount
        self.currency = currency
        self.fee = fee
        self.net = net
    }

    public var side: ReconciledSide { ReconciledSide(status: status, amount: amount, currency: currency?.uppercased()) }
}

/// One page of a listing provider's records; `nextCursor` continues it.
public struct ProviderRecordPage: Sendable, Hashable {
    public var records: [ProviderRecord]
    public var nextCursor: String?

    public init(records: [ProviderRecord], nextCursor: String?) {
        self.records = records
        self.nextCursor = nextCursor
    }
}

/// One of Settle's payments, as a provider is asked about it: with its refunds, and the provider's own transactions
/// when it keeps them in Settle (Payme).
public struct ReconciliationSubject: Sendable, Hashable {
    public var payment: Payment
    public var refunds: [Refund]
    public var transactions: [ProviderTransaction]

    public init(payment: Payment, refunds: [Refund] = [], transactions: [ProviderTransaction] = []) {
        self.payment = payment
        self.refunds = refunds
        self.transactions = transactions
    }
}
