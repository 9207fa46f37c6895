/// A transaction that a provider opened against one of Settle's payments and drives by calling Settle (Payme's
/// Merchant API: create, perform, cancel). Settle keeps it because its answers are the protocol: a repeated call
/// must get the same answer, with the same times. It changes only under its payment's row lock.
///
/// Times are Unix milliseconds; `0` means "not happened" (the providers' own convention).
public struct ProviderTransaction: Sendable, Hashable {
    public var id: String
    public var provider: String
    /// The provider's id for the transaction.
    public var providerTransactionID: String
    public var paymentID: String
    /// The provider's own state code; only the provider's folder gives it meaning.
    public var state: Int
    /// In the payment's minor units.
    public var amount: Int64
    /// When the provider says it created the transaction.
    public var providerTime: Int64
    public var createTime: Int64
    public var performTime: Int64
    public var cancelTime: Int64
    /// The provider's reason code for a cancellation.
    public var reason: Int?
    /// Until when (Unix milliseconds) the provider may still complete this transaction; the provider's
    /// ``expiryHold`` decides what that means for the sweep.
    public var openUntil: Int64?
    /// The account fields the provider named the payment with.
    public var account: [String: String]
    /// Fiscal receipt data the provider sent, by kind (`PERFORM`, `CANCEL`), as JSON text.
    public var fiscalData: [String: String]

    public init(
        id: String, provider: String, providerTransactionID: String, paymentID: String, state: Int, amount: Int64,
        providerTime: Int64, createTime: Int64, performTime: Int64 = 0, cancelTime: Int64 = 0, reason: Int? = nil,
        openUntil: Int64? = nil, account: [String: String] = [:], fiscalData: [String: String] = [:]
    ) {
        self.id = id
        self.provider = provider
        self.providerTransactionID = providerTransactionID
        self.paymentID = paymentID
        self.state = state
        self.amount = amount
        self.providerTime = providerTime
        self.createTime = createTime
        self.performTime = performTime
        self.cancelTime = cancelTime
        self.reason = reason
        self.openUntil = openUntil
        self.account = account
        self.fiscalData = fiscalData
    }
}
