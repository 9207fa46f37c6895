import Foundation
import SettleCore

/// A payment provider adapter: it turns Settle's requests into the provider's API calls, and the provider's
/// messages into verified, normalized ``ProviderEvent``s. It never touches the database; everything
/// provider-specific (amount formats, signature schemes, status codes) stays inside its folder.
///
/// How each provider shape maps onto this interface:
///
/// | shape | providers | mapping |
/// |---|---|---|
/// | redirect + HMAC-signed webhook | Stripe, Paystack, Omise, Mercado Pago, sandbox | ``createPayment(_:)`` returns `.redirect`; ``verify(_:)`` checks the HMAC over the raw body and returns events |
/// | redirect + RSA-signed webhook | PayPal | ``verify(_:)`` is `async`, so the adapter may fetch and cache the provider's certificate before checking |
/// | checksum in the body | Wompi | ``verify(_:)`` recomputes the checksum from the listed fields and the secret |
/// | form POST confirmation | PayU Latam | ``InboundNotification`` carries the raw bytes and content type; the adapter parses the form itself |
/// | provider calls us synchronously | Payme Merchant API | the adapter also adopts ``SynchronousProvider``: Settle hands it a ``ProviderLedger`` and sends back its answer as-is |
/// | cash voucher paid later | Efecty | ``createPayment(_:)`` returns `.voucher`; the later notification, a settlement file or an operator produces the events |
/// | notification is only a hint | Mercado Pago, Omise | events carry `isHint`; Settle then calls ``fetchPayment(providerPaymentID:)`` and trusts only that answer |
public protocol PaymentProvider: Sendable {
    /// The provider's name in URLs and in the API (`sandbox`, `stripe`, …).
    var name: String { get }
    /// Whether the provider can be used, and if not, why (missing secrets disable it: fail closed).
    var availability: ProviderAvailability { get }
    /// The modes this provider serves with its current credentials.
    var modes: Set<Mode> { get }

    /// Refuses, before anything is stored, a payment this provider cannot take (a currency or amount format it
    /// does not support), with the refused parameter (`amount`, `currency`) as the error's `providerCode`. The
    /// default accepts everything.
    func validate(_ payment: Payment) throws(ProviderError)

    /// Creates the payment at the provider. Called outside any database transaction.
    func createPayment(_ request: ProviderPaymentRequest) async throws(ProviderError) -> ProviderPaymentCreation

    /// Verifies an inbound message on its raw bytes and turns it into events. Throws before anything is stored
    /// when the message is not authentic. Pure with respect to Settle's state: no database access.
    func verify(_ notification: InboundNotification) async throws(NotificationRejection) -> VerifiedNotification

    /// The provider's authoritative view of a payment, for hints and for the sweep. `nil` when the provider
    /// does not know it.
    func fetchPayment(providerPaymentID: String) async throws(ProviderError) -> ProviderPaymentState?
}

extension PaymentProvider {
    public func validate(_ payment: Payment) throws(ProviderError) {}
}

/// A provider that calls Settle and reads Settle's answer as its protocol (Payme's Merchant API). The answer
/// depends on Settle's state, so the adapter is given a narrow ``ProviderLedger`` instead of the database.
public protocol SynchronousProvider: PaymentProvider {
    func answer(_ notification: InboundNotification, ledger: some ProviderLedger) async -> ProviderAnswer
}

/// What a synchronous provider may ask of Settle's state while answering a call. Every write goes through the
/// same exactly-once finalization as a webhook.
public protocol ProviderLedger: Sendable {
    func payment(id: String) async throws -> Payment?
    func apply(_ event: ProviderEvent, rawNotification: InboundNotification) async throws -> PaymentStatus
}

/// Whether a provider is usable.
public enum ProviderAvailability: Sendable, Hashable {
    case enabled
    /// Disabled, with a reason safe to show (it names the missing setting, never a secret's value).
    case disabled(reason: String)

    public var isEnabled: Bool { self == .enabled }
}

/// What Settle asks a provider to create.
public struct ProviderPaymentRequest: Sendable {
    public var payment: Payment
    /// Passed to providers that accept one, so a retried call never creates two payments.
    public var idempotencyKey: String
    /// Where the provider should send notifications (`<public url>/v1/webhooks/<provider>`).
    public var notificationURL: String
    /// Settle's public base URL.
    public var publicURL: String

    public init(payment: Payment, idempotencyKey: String, notificationURL: String, publicURL: String) {
        self.payment = payment
        self.idempotencyKey = idempotencyKey
        self.notificationURL = notificationURL
        self.publicURL = publicURL
    }
}

/// What the provider created, and where the buyer goes next.
public struct ProviderPaymentCreation: Sendable, Hashable {
    public enum NextAction: Sendable, Hashable {
        /// Send the buyer to this URL (a hosted checkout, a bank redirect).
        case redirect(url: String)
        /// A cash voucher: the buyer pays later at a counter with this reference; `url` shows the voucher.
        case voucher(reference: String, url: String?)
    }

    public var providerPaymentID: String
    public var nextAction: NextAction

    public init(providerPaymentID: String, nextAction: NextAction) {
        self.providerPaymentID = providerPaymentID
        self.nextAction = nextAction
    }

    /// The URL the merchant sends the buyer to.
    public var checkoutURL: String? {
        switch nextAction {
        case .redirect(let url): url
        case .voucher(_, let url): url
        }
    }
}

/// The provider's authoritative state of one payment.
public struct ProviderPaymentState: Sendable, Hashable {
    public var outcome: ProviderOutcome?
    public var amountMinorUnits: Int64?
    public var currencyCode: String?

    public init(outcome: ProviderOutcome?, amountMinorUnits: Int64?, currencyCode: String?) {
        self.outcome = outcome
        self.amountMinorUnits = amountMinorUnits
        self.currencyCode = currencyCode
    }
}

/// The answer to send a provider that reads it as its protocol.
public struct ProviderAnswer: Sendable, Hashable {
    public var status: Int
    public var contentType: String
    public var body: [UInt8]

    public init(status: Int, contentType: String, body: [UInt8]) {
        self.status = status
        self.contentType = contentType
        self.body = body
    }
}
