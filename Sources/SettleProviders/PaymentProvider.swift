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

    /// Refuses, before anything is stored, a payment this provider cannot take (a currency, an amount format or a
    /// payment-method field it does not support), with the refused parameter (`amount`, `currency`,
    /// `payment_method.phone`) as the error's `providerCode`. Settle has already checked the payment method against
    /// the provider's declared ``PaymentMethodSpec``s. The default accepts everything else.
    func validate(_ payment: Payment) throws(ProviderError)

    /// Creates the payment at the provider. Called outside any database transaction.
    func createPayment(_ request: ProviderPaymentRequest) async throws(ProviderError) -> ProviderPaymentCreation

    /// Verifies an inbound message on its raw bytes and turns it into events. Throws before anything is stored
    /// when the message is not authentic. Pure with respect to Settle's state: no database access.
    func verify(_ notification: InboundNotification) async throws(NotificationRejection) -> VerifiedNotification

    /// Whether and how often the sweep asks the provider about open payments that are not overdue yet (its
    /// notifications can be lost, or it sends none): `nil`, only overdue payments are re-checked. Defaults to `nil`.
    var openPaymentPolling: OpenPaymentPolling? { get }

    /// Withdraws an unpaid payment at the provider before Settle cancels it, so the buyer can no longer pay it.
    /// Throws `rejected` when the provider is already taking the money. The default does nothing.
    func cancelPayment(providerPaymentID: String) async throws(ProviderError)

    /// Returns part or all of a succeeded payment to the buyer. Called outside any database transaction, with an
    /// idempotency key the provider should honour where it takes one. `.succeeded` and `.pending` carry the provider's
    /// refund id (a pending one is confirmed later by a notification naming it); `.requiresAction` means the provider
    /// has no refund API for this payment (cash, some bank transfers): an operator pays the buyer back and confirms it.
    /// Throws `rejected` when the provider refuses (the refund fails), `unavailable` when it could not be asked (the
    /// refund stays pending). The default is `.requiresAction`.
    func refund(_ request: ProviderRefundRequest) async throws(ProviderError) -> ProviderRefundResult

    /// Why this provider will not refund `amount` of `payment` at all (Wompi voids card payments in full only), in
    /// words for the merchant: the request is refused with `400` before anything is stored. `nil` (the default): ask.
    func refundRefusal(for payment: Payment, amount: Int64) -> String?

    /// Where a refund the provider accepted as pending stands, for a provider that decides it later without always
    /// telling (PayU's review; the sweep asks): `succeeded` or `failed`, or `nil` while it is still pending or unknown.
    /// The default is `nil`: the provider's notification settles it.
    func refundOutcome(providerRefundID: String, of payment: Payment) async throws(ProviderError) -> RefundStatus?

    /// The provider's authoritative view of a payment, for hints and for the sweep. `nil` when the provider
    /// does not know it.
    func fetchPayment(providerPaymentID: String) async throws(ProviderError) -> ProviderPaymentState?

    /// The provider's view of one of Settle's payments, for the sweep. The default asks by the payment's provider id
    /// (and answers `nil` without one); a provider that can look a payment up by Settle's id (Wompi's `reference`)
    /// overrides it, so a payment whose provider id was never learnt can still be settled.
    func fetchPayment(for payment: Payment) async throws(ProviderError) -> ProviderPaymentState?

    /// The buyer is back on Settle's return page, with what the provider added to its query (Wompi's `?id=`). A
    /// provider that names its transaction there fetches it from its API (the query itself is never trusted) and
    /// returns its state when it is this payment's; Settle applies it through the same exactly-once path as a
    /// notification, so a lost notification does not leave the buyer waiting. The default returns `nil`.
    func confirmReturn(of payment: Payment, query: [String: String]) async throws(ProviderError) -> ProviderPaymentState?

    /// The form the buyer's browser posts to the provider's hosted checkout, for providers whose checkout is a form
    /// POST (PayU's WebCheckout): Settle's page at ``ProviderPaymentRequest/formPageURL`` renders it and submits it on
    /// load. Built from the stored payment each time it is shown, signed by the adapter. `nil`: no form (the default).
    func checkoutForm(for payment: Payment, _ links: ProviderLinks) throws(ProviderError) -> ProviderCheckoutForm?

    /// Settle's own card page for this payment, for a provider whose cards are tokenized by its vault from the buyer's
    /// browser (Omise): the page at ``ProviderPaymentRequest/formPageURL`` takes the card, sends it straight to
    /// `tokenURL` (never through Settle), and posts the token back. `nil`: no card page (the default).
    func cardPage(for payment: Payment) -> ProviderCardPage?

    /// Charges the card behind a vault token from the card page. Called outside any database transaction, with an
    /// idempotency key. The answer names the provider's payment, its state when already final, and where the buyer goes
    /// next (3-D Secure). The default refuses: the provider has no card page.
    func chargeCard(_ payment: Payment, token: String, links: ProviderLinks, idempotencyKey: String) async throws(ProviderError) -> ProviderCardCharge

    /// Whether the buyer's waiting page shows an image from the provider (PromptPay's QR), served by Settle through
    /// ``buyerImage(for:)`` so the page loads nothing from other hosts. The default is false.
    func showsBuyerImage(for payment: Payment) -> Bool

    /// The image the waiting page shows (a bounded download from the provider); `nil` when there is none (any more).
    func buyerImage(for payment: Payment) async throws(ProviderError) -> ProviderImage?

    /// What Settle's status page tells the buyer while the payment is open (approve it in a wallet app), for
    /// providers that send the buyer to that page. `nil`: the page's general words. The default is `nil`.
    func buyerInstructions(for payment: Payment) -> String?

    /// A configuration Settle must not start with (keys of two environments mixed), in words naming the settings,
    /// never their values. Unlike ``availability``, which disables the provider, this stops the start. Default `nil`.
    var startupRefusal: String? { get }

    /// A list the provider publishes for building payments (Wompi's PSE banks), for `GET /v1/providers/{name}/{resource}`,
    /// in `mode`. `nil`: the provider has no such resource. The default is `nil`.
    func resource(_ name: String, mode: Mode) async throws(ProviderError) -> ProviderResource?

    /// Whether the provider keeps transactions of its own in Settle (``SynchronousProvider``s such as Payme); the
    /// sweep then hands them to ``expiryHold(for:transactions:now:)``. Defaults to false.
    var keepsTransactions: Bool { get }

    /// How long the sweep must leave an overdue payment open because the provider may still complete it (Payme
    /// performs a created transaction for up to 12 hours; PayU reports a cash voucher paid at the last minute some
    /// minutes later). `transactions` are the provider's own when it ``keepsTransactions``, else empty. `nil`: the
    /// payment may expire now. The default is `nil`.
    func expiryHold(for payment: Payment, transactions: [ProviderTransaction], now: Date) -> Date?

    /// How this provider's own records are read for reconciliation: listed by creation time, asked about per payment,
    /// or not at all (with the reason). The default: not at all.
    var reconciliationSource: ReconciliationSource { get }

    /// One page of the provider's payments and refunds created in `from..<to` (a ``ReconciliationSource/listing``
    /// provider), from `cursor` (`nil`: the first page). Called outside any database transaction.
    func reconciliationRecords(mode: Mode, from: Date, to: Date, cursor: String?) async throws(ProviderError) -> ProviderRecordPage

    /// The provider's records of one of Settle's payments and of its refunds (``ReconciliationSource/perPayment``, and
    /// for a listing provider a payment its listing did not show). Empty: the provider does not know the payment. The
    /// default asks ``fetchPayment(for:)`` about the payment alone.
    func reconciliationRecords(for subject: ReconciliationSubject) async throws(ProviderError) -> [ProviderRecord]
}

extension PaymentProvider {
    public func validate(_ payment: Payment) throws(ProviderError) {}

    public var openPaymentPolling: OpenPaymentPolling? { nil }

    public func fetchPayment(for payment: Payment) async throws(ProviderError) -> ProviderPaymentState? {
        guard let id = payment.providerPaymentID else { return nil }
        return try await fetchPayment(providerPaymentID: id)
    }

    public func confirmReturn(of payment: Payment, query: [String: String]) async throws(ProviderError) -> ProviderPaymentState? { nil }

    public func buyerInstructions(for payment: Payment) -> String? { nil }

    public func cardPage(for payment: Payment) -> ProviderCardPage? { nil }

    public func chargeCard(_ payment: Payment, token: String, links: ProviderLinks, idempotencyKey: String) async throws(ProviderError)
        -> ProviderCardCharge
    {
        throw ProviderError(.unsupported, "\(name) takes no card on Settle's page.")
    }

    public func showsBuyerImage(for payment: Payment) -> Bool { false }

    public func buyerImage(for payment: Payment) async throws(ProviderError) -> ProviderImage? { nil }

    public func checkoutForm(for payment: Payment, _ links: ProviderLinks) throws(ProviderError) -> ProviderCheckoutForm? { nil }

    public var startupRefusal: String? { nil }

    public func resource(_ name: String, mode: Mode) async throws(ProviderError) -> ProviderResource? { nil }

    public func cancelPayment(providerPaymentID: String) async throws(ProviderError) {}

    public func refundRefusal(for payment: Payment, amount: Int64) -> String? { nil }

    public func refundOutcome(providerRefundID: String, of payment: Payment) async throws(ProviderError) -> RefundStatus? { nil }

    public func refund(_ request: ProviderRefundRequest) async throws(ProviderError) -> ProviderRefundResult {
        .requiresAction("\(name) has no refund API for this payment: pay the buyer back by other means, then confirm the refund.")
    }

    public var keepsTransactions: Bool { false }

    public func expiryHold(for payment: Payment, transactions: [ProviderTransaction], now: Date) -> Date? { nil }

    public var reconciliationSource: ReconciliationSource { .unsupported("\(name) has no way for Settle to read its records.") }

    public func reconciliationRecords(mode: Mode, from: Date, to: Date, cursor: String?) async throws(ProviderError) -> ProviderRecordPage {
        ProviderRecordPage(records: [], nextCursor: nil)
    }

    public func reconciliationRecords(for subject: ReconciliationSubject) async throws(ProviderError) -> [ProviderRecord] {
        guard let state = try await fetchPayment(for: subject.payment) else { return [] }
        return [
            ProviderRecord(
                object: .payment, providerID: state.providerPaymentID ?? subject.payment.providerPaymentID ?? subject.payment.id,
                paymentID: subject.payment.id, status: ReconciledStatus(state.outcome), amount: state.amountMinorUnits,
                currency: state.currencyCode
            )
        ]
    }
}

/// A provider that calls Settle and reads Settle's answer as its protocol (Payme's Merchant API). The answer
/// depends on Settle's state, so the adapter is handed a narrow ``ProviderLedger`` instead of the database.
public protocol SynchronousProvider: PaymentProvider {
    /// Answers one call. The adapter authenticates the call itself (fail closed), then does its reads and writes
    /// in one ``ProviderLedger/transact(eventType:_:)``, which stores the raw call in the same transaction, so
    /// nothing is answered that was not stored. The answer always follows the provider's protocol, errors included.
    func answer(_ call: InboundNotification, ledger: any ProviderLedger) async -> ProviderAnswer
}

/// What a synchronous provider may do to Settle's state while answering one call.
public protocol ProviderLedger: Sendable {
    /// Runs `body` in one database transaction and stores the raw call in it, with the outcome `body` reports.
    /// Throws when the work could not be committed; the adapter then answers with its protocol's internal error.
    /// `body` may run more than once (a batch retried after another job failed); it must only touch the ledger.
    func transact(eventType: String, _ body: @escaping @Sendable (any ProviderLedgerTransaction) async throws -> LedgerOutcome)
        async throws -> LedgerOutcome
    /// Records a call refused before any state was read (bad credentials): its size and hash, never its content.
    func reject(reason: String) async
}

/// The operations of one ledger transaction. Every status change goes through the same exactly-once
/// finalization as a webhook, with its event, audit entry and outbound message.
public protocol ProviderLedgerTransaction: Sendable {
    /// Reads a payment and locks it until the transaction ends.
    func lockPayment(id: String) async throws -> Payment?
    /// One of this provider's transactions. Read it again after locking its payment before changing it.
    func transaction(providerTransactionID: String) async throws -> ProviderTransaction?
    func transactions(paymentID: String) async throws -> [ProviderTransaction]
    /// This provider's transactions whose provider time falls in `from...to`.
    func transactions(providerTimeFrom from: Int64, to: Int64) async throws -> [ProviderTransaction]
    func insert(_ transaction: ProviderTransaction) async throws
    func update(_ transaction: ProviderTransaction) async throws
    /// Applies a verified outcome to a locked payment (state machine, amount check, event, audit, outbound
    /// message). Returns the payment's status afterwards.
    func finalize(_ payment: Payment, outcome: ProviderOutcome, amountMinorUnits: Int64, currencyCode: String, type: String)
        async throws -> PaymentStatus
    /// Records the full refund of a locked payment, with its event, audit entry and outbound message.
    func refundInFull(_ payment: Payment, providerRefundID: String, reason: String) async throws
    /// Replaces a stored credential of this provider (Payme's `ChangePassword`); audited without its value.
    func setCredential(_ name: String, value: String) async throws
    /// Appends an audit entry for a change to one of this provider's transactions (`created`, `performed`, …; recorded
    /// as `<provider>.transaction_<change>`).
    func audit(change: String, transaction: ProviderTransaction, before: JSONValue, after: JSONValue) async throws
}

/// What one synchronous call led to: the answer, and what to store with the raw call.
public struct LedgerOutcome: Sendable {
    public var answer: ProviderAnswer
    public var paymentID: String?
    /// A short summary for the notification log (`result`, `error:-31008`).
    public var outcome: String
    public var detail: String?
    /// Stored instead of the raw body when the call carries a secret (a new key).
    public var redactedBody: [UInt8]?

    public init(answer: ProviderAnswer, paymentID: String? = nil, outcome: String, detail: String? = nil, redactedBody: [UInt8]? = nil) {
        self.answer = answer
        self.paymentID = paymentID
        self.outcome = outcome
        self.detail = detail
        self.redactedBody = redactedBody
    }
}

/// Credentials a provider stores in Settle's database (a key the provider rotated), read on each use. Names are the
/// provider's own (`key`); Settle keeps them apart per provider.
public struct StoredCredentials: Sendable {
    let read: @Sendable (String) async throws -> String?

    public init(read: @escaping @Sendable (String) async throws -> String?) {
        self.read = read
    }

    /// The stored value of `name`, or `nil`.
    public func value(_ name: String) async throws -> String? { try await read(name) }

    /// No stored credentials (unit tests of adapters).
    public static let none = StoredCredentials { _ in nil }
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
    /// Where the provider sends the buyer back when the merchant gave no `return_url`: Settle's return page, with
    /// the token that lets it show this payment.
    public var returnPageURL: String
    /// Settle's page that posts the provider's signed form for this payment (``PaymentProvider/checkoutForm(for:_:)``),
    /// with the token that lets it show the form: the checkout URL of a provider whose checkout is a form POST.
    public var formPageURL: String
    /// Whether the merchant set the payment's expiry (`expires_in`) rather than taking the default: a provider with an
    /// expiry of its own (a voucher's hours) then keeps the merchant's.
    public var expiryRequested: Bool

    public init(
        payment: Payment, idempotencyKey: String, notificationURL: String, publicURL: String, returnPageURL: String,
        formPageURL: String = "", expiryRequested: Bool = false
    ) {
        self.expiryRequested = expiryRequested
        self.payment = payment
        self.idempotencyKey = idempotencyKey
        self.notificationURL = notificationURL
        self.publicURL = publicURL
        self.returnPageURL = returnPageURL
        self.formPageURL = formPageURL
    }

    /// The payment's `return_url`, else Settle's return page.
    public var returnURL: String { payment.returnURL ?? returnPageURL }

    /// How the buyer pays (the default type when the merchant chose none).
    public var paymentMethod: PaymentMethod { payment.paymentMethod ?? PaymentMethod(type: PaymentMethod.checkoutType) }
}

/// What the provider created, and where the buyer goes next.
public struct ProviderPaymentCreation: Sendable, Hashable {
    public enum NextAction: Sendable, Hashable {
        /// Send the buyer to this URL (a hosted checkout, a bank redirect).
        case redirect(url: String)
        /// A cash voucher: the buyer pays later at a counter; `url` shows the voucher (its receipt page). Its reference
        /// is reserved under a unique constraint (per provider); on a collision Settle asks the provider again. The
        /// payment expires when the voucher does.
        case voucher(Voucher, url: String?)
    }

    /// `nil` when the provider has no id for it yet (a Payme checkout link: Payme names the payment by its id).
    public var providerPaymentID: String?
    public var nextAction: NextAction

    public init(providerPaymentID: String?, nextAction: NextAction) {
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

    /// The voucher, for a cash payment.
    public var voucher: Voucher? {
        if case .voucher(let voucher, _) = nextAction { return voucher }
        return nil
    }
}

/// What Settle asks a provider to refund.
public struct ProviderRefundRequest: Sendable {
    public var payment: Payment
    public var refundID: String
    public var amount: Money
    public var reason: String
    /// Passed to providers that accept one, so a retried call never refunds twice.
    public var idempotencyKey: String

    public init(payment: Payment, refundID: String, amount: Money, reason: String, idempotencyKey: String) {
        self.payment = payment
        self.refundID = refundID
        self.amount = amount
        self.reason = reason
        self.idempotencyKey = idempotencyKey
    }

    /// The whole of what the buyer paid.
    public var isFull: Bool { amount.minorUnits == payment.amount.minorUnits }
}

/// What the provider did with a refund request.
public enum ProviderRefundResult: Sendable, Hashable {
    case succeeded(providerRefundID: String?)
    /// Accepted; a notification naming the refund id confirms it later.
    case pending(providerRefundID: String?)
    /// The provider cannot refund this payment through its API (the reason, for the operator).
    case requiresAction(String)
}

/// Settle's addresses for one payment, as a provider puts them in what it sends the buyer.
public struct ProviderLinks: Sendable, Hashable {
    /// Where the provider posts its notifications (`<public url>/v1/webhooks/<provider>`).
    public var notificationURL: String
    /// Settle's return page for this payment, with its token.
    public var returnPageURL: String

    public init(notificationURL: String, returnPageURL: String) {
        self.notificationURL = notificationURL
        self.returnPageURL = returnPageURL
    }
}

/// A form the buyer's browser posts to a provider: its action and its fields, in order.
public struct ProviderCheckoutForm: Sendable, Hashable {
    public struct Field: Sendable, Hashable {
        public var name: String
        public var value: String

        public init(_ name: String, _ value: String) {
            self.name = name
            self.value = value
        }
    }

    public var action: String
    public var fields: [Field]

    public init(action: String, fields: [Field]) {
        self.action = action
        self.fields = fields
    }
}

/// Settle's card page for one payment: where the buyer's browser sends the card (the provider's vault) with which
/// public key, and the provider's name for the page.
public struct ProviderCardPage: Sendable, Hashable {
    /// The vault's token endpoint (`https://vault.omise.co/tokens`).
    public var tokenURL: String
    /// The public key the browser authenticates with (never a secret).
    public var publicKey: String
    public var providerName: String

    public init(tokenURL: String, publicKey: String, providerName: String) {
        self.tokenURL = tokenURL
        self.publicKey = publicKey
        self.providerName = providerName
    }
}

/// What charging a tokenized card led to.
public struct ProviderCardCharge: Sendable, Hashable {
    public var providerPaymentID: String
    /// The charge's state when the provider already decided it (a card without 3-D Secure).
    public var state: ProviderPaymentState?
    /// Where the buyer goes next (the 3-D Secure page); `nil`: Settle's return page.
    public var redirect: String?

    public init(providerPaymentID: String, state: ProviderPaymentState?, redirect: String?) {
        self.providerPaymentID = providerPaymentID
        self.state = state
        self.redirect = redirect
    }
}

/// An image for the buyer (a QR code), as the provider serves it.
public struct ProviderImage: Sendable, Hashable {
    /// `image/png` or `image/svg+xml`.
    public var contentType: String
    public var bytes: [UInt8]

    public init(contentType: String, bytes: [UInt8]) {
        self.contentType = contentType
        self.bytes = bytes
    }
}

/// The provider's authoritative state of one payment.
public struct ProviderPaymentState: Sendable, Hashable {
    public var outcome: ProviderOutcome?
    public var amountMinorUnits: Int64?
    public var currencyCode: String?
    /// The provider's id for what it found (a transaction id learnt on the buyer's return), recorded with it.
    public var providerPaymentID: String?
    /// Why it failed, in the provider's words, for a `failed` outcome.
    public var failure: PaymentFailure?
    /// Settle's payment, as the provider's API names it (a charge's metadata): lets a hint whose provider id Settle
    /// never recorded (the charge's answer was lost) find its payment. Never read from a notification's body.
    public var paymentID: String?

    public init(
        outcome: ProviderOutcome?, amountMinorUnits: Int64?, currencyCode: String?, providerPaymentID: String? = nil,
        failure: PaymentFailure? = nil, paymentID: String? = nil
    ) {
        self.paymentID = paymentID
        self.outcome = outcome
        self.amountMinorUnits = amountMinorUnits
        self.currencyCode = currencyCode
        self.providerPaymentID = providerPaymentID
        self.failure = failure
    }
}

/// How the sweep polls a provider's open payments: first once a payment has been unchanged for `quiet` (its
/// notification had time to arrive), then every `every` but never more often than a quarter of the payment's age
/// (an abandoned checkout is asked about a few dozen times in a day), those asked longest ago first.
public struct OpenPaymentPolling: Sendable, Hashable {
    public var quiet: Duration
    public var every: Duration

    public init(quiet: Duration, every: Duration) {
        self.quiet = quiet
        self.every = every
    }
}

/// A list a provider publishes (its banks), as Settle serves it: the items, when they were fetched, and whether the
/// provider could not be reached for a fresh copy (`stale`).
public struct ProviderResource: Sendable, Hashable {
    public var items: [JSONValue]
    public var fetchedAt: Date
    public var stale: Bool

    public init(items: [JSONValue], fetchedAt: Date, stale: Bool) {
        self.items = items
        self.fetchedAt = fetchedAt
        self.stale = stale
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
