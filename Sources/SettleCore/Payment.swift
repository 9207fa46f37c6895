import Foundation

/// The buyer, as the merchant describes them. Never card data.
public struct Customer: Sendable, Hashable, Codable {
    public var email: String?
    public var name: String?
    public var phone: String?

    public init(email: String? = nil, name: String? = nil, phone: String? = nil) {
        self.email = email
        self.name = name
        self.phone = phone
    }
}

/// Why a payment failed, as the provider put it.
public struct PaymentFailure: Sendable, Hashable, Codable {
    public var code: String
    public var message: String

    public init(code: String, message: String) {
        self.code = code
        self.message = message
    }
}

/// A payment: one attempt to take an amount from a buyer through one provider.
public struct Payment: Sendable, Hashable {
    public var id: String
    public var mode: Mode
    public var status: PaymentStatus
    public var amount: Money
    public var provider: String
    public var reference: String
    public var description: String?
    public var customer: Customer?
    public var returnURL: String?
    public var cancelURL: String?
    public var metadata: [String: String]
    /// How the buyer pays, as the merchant chose it (`nil`: the provider's hosted page).
    public var paymentMethod: PaymentMethod?
    public var checkoutURL: String?
    /// The cash voucher the buyer pays at a counter, for cash payments.
    public var voucher: Voucher?
    public var providerPaymentID: String?
    public var failure: PaymentFailure?
    /// How much of the amount has been returned to the buyer, in minor units of the payment's currency.
    public var amountRefunded: Int64
    /// When the merchant marked the order fulfilled: from then on a provider may no longer reverse the payment.
    public var fulfilledAt: Date?
    public var expiresAt: Date?
    public var createdAt: Date
    public var updatedAt: Date
    /// The wallet this payment tops up: credited once, in the transaction that makes the payment succeed.
    public var walletID: String?

    public init(
        id: String, mode: Mode, status: PaymentStatus, amount: Money, provider: String, reference: String,
        description: String? = nil, customer: Customer? = nil, returnURL: String? = nil, cancelURL: String? = nil,
        metadata: [String: String] = [:], paymentMethod: PaymentMethod? = nil, checkoutURL: String? = nil,
        voucher: Voucher? = nil, providerPaymentID: String? = nil,
        failure: PaymentFailure? = nil, amountRefunded: Int64 = 0, fulfilledAt: Date? = nil, expiresAt: Date? = nil,
        createdAt: Date, updatedAt: Date, walletID: String? = nil
    ) {
        self.id = id
        self.mode = mode
        self.status = status
        self.amount = amount
        self.provider = provider
        self.reference = reference
        self.description = description
        self.customer = customer
        self.returnURL = returnURL
        self.cancelURL = cancelURL
        self.metadata = metadata
        self.paymentMethod = paymentMethod
        self.checkoutURL = checkoutURL
        self.voucher = voucher
        self.providerPaymentID = providerPaymentID
        self.failure = failure
        self.amountRefunded = amountRefunded
        self.fulfilledAt = fulfilledAt
        self.expiresAt = expiresAt
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.walletID = walletID
    }
}
