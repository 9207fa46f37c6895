import Foundation
import Logging
import SettleCore

/// Paystack (Nigeria, Ghana, South Africa, Kenya): a transaction initialized with Settle's payment as its reference, the
/// buyer sent to Paystack's checkout, and every report — the buyer's return, `charge.success` — confirmed with
/// `GET /transaction/verify/{reference}`: only what verify says is applied. Webhooks are signed with HMAC-SHA512 of the
/// raw body under the secret key. Amounts are Paystack's subunits, which are the ISO 4217 minor units of every
/// currency Settle takes through Paystack (NGN kobo, GHS pesewas, ZAR, KES and USD cents).
///
/// A Paystack reference may hold only letters, digits, `-`, `.` and `=`: the reference is Settle's payment id with its
/// `_` written `-` (`pay_3x…` is `pay-3x…`), and the payment id itself travels in the metadata.
public struct PaystackProvider: PaymentProvider {
    let configuration: PaystackConfiguration
    let api: PaystackAPI?
    let logger: Logger

    public init(configuration: PaystackConfiguration, context: ProviderContext) {
        self.configuration = configuration
        self.logger = context.logger
        if configuration.problem == nil, let key = configuration.secretKey {
            api = PaystackAPI(base: configuration.apiBase, secretKey: key, client: context.apiClient("Paystack"))
        } else {
            api = nil
        }
    }

    /// The currencies Settle takes through Paystack: each one's subunit is its ISO 4217 minor unit.
    static let currencies: Set<String> = ["NGN", "GHS", "ZAR", "KES", "USD"]

    /// Paystack's reference for a payment.
    public static func reference(paymentID: String) -> String { paymentID.replacingOccurrences(of: "_", with: "-") }

    public var availability: ProviderAvailability { configuration.problem.map { .disabled(reason: $0) } ?? .enabled }

    public var modes: Set<Mode> { availability.isEnabled ? configuration.mode.map { [$0] } ?? [] : [] }

    public var startupRefusal: String? { configuration.startupRefusal }

    public func validate(_ payment: Payment) throws(ProviderError) {
        let code = payment.amount.currency.code
        guard Self.currencies.contains(code) else {
            throw ProviderError(.unsupported, providerCode: "currency", "Paystack does not take \(code) through Settle (NGN, GHS, ZAR, KES, USD).")
        }
        guard let email = payment.customer?.email, email.contains("@") else {
            throw ProviderError(.unsupported, providerCode: "customer.email", "Paystack needs the buyer's email: send customer.email.")
        }
    }

    public func createPayment(_ request: ProviderPaymentRequest) async throws(ProviderError) -> ProviderPaymentCreation {
        guard let api, let mode = configuration.mode else { throw ProviderError(.disabled, "The Paystack provider is disabled.") }
        let payment = request.payment
        guard payment.mode == mode else {
            throw ProviderError(.unsupported, "The configured Paystack key does not serve \(payment.mode.rawValue)-mode payments.")
        }
        let reference = Self.reference(paymentID: payment.id)
        let body = JSONValue.object([
            ("email", .string(payment.customer?.email ?? "")), ("amount", .int(payment.amount.minorUnits)),
            ("currency", .string(payment.amount.currency.code)), ("reference", .string(reference)),
            ("callback_url", .string(request.returnPageURL)),
            ("metadata", .object([
                ("settle_payment_id", .string(payment.id)), ("settle_reference", .string(String(payment.reference.prefix(200)))),
                ("cancel_action", .string(request.returnPageURL)),
            ])),
        ])
        let url = try await api.initialize(body)
        guard let checkout = Self.httpURL(url, allowHTTP: mode == .test) else {
            throw ProviderError(.unavailable, "Paystack's authorization_url is not an https URL.")
        }
        return ProviderPaymentCreation(providerPaymentID: reference, nextAction: .redirect(url: checkout))
    }

    /// An absolute https URL (http too with a test key: the emulator), else `nil`.
    static func httpURL(_ text: String, allowHTTP: Bool) -> String? {
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased(), scheme == "https" || (allowHTTP && scheme == "http"), url.host != nil
        else { return nil }
        return text
    }

    // MARK: - Notifications

    public func verify(_ notification: InboundNotification) async throws(NotificationRejection) -> VerifiedNotification {
        guard availability.isEnabled, let key = configuration.secretKey?.value else {
            throw NotificationRejection(.providerDisabled, "The Paystack provider is disabled.")
        }
        guard PaystackSignature.isValid(notification.header("x-paystack-signature"), body: notification.body, secretKey: key) else {
            throw NotificationRejection(.invalidSignature, "x-paystack-signature does not match the body.")
        }
        guard let event = try? JSONValue.parse(notification.body), let type = event["event"]?.stringValue, !type.isEmpty,
            let data = event["data"], data.isObject
        else { throw NotificationRejection(.malformed, "The body is not a Paystack event.") }
        return VerifiedNotification(events: [Self.event(type: type, data: data)])
    }

    /// One verified event. Paystack's events carry no id of their own: the event's name and its object's id (or
    /// reference) identify it, so a delivery repeated by Paystack is stored once.
    static func event(type: String, data: JSONValue) -> ProviderEvent {
        let objectID = data["id"]?.intValue.map(String.init) ?? data["id"]?.stringValue ?? data["reference"]?.stringValue ?? "?"
        let eventID = "\(type):\(Text.echo(objectID, limit: 64))"
        switch type {
        case "charge.success":
            // A hint: the transaction is verified with Paystack and only verify's answer is applied.
            guard let reference = data["reference"]?.stringValue else { return ProviderEvent(eventID: eventID, type: type, target: nil, outcome: nil) }
            return ProviderEvent(eventID: eventID, type: type, target: .providerPayment(id: reference), outcome: nil, isHint: true)
        case "refund.processed", "refund.failed":
            let reference = data["transaction_reference"]?.stringValue ?? data["transaction"]?["reference"]?.stringValue
            guard let reference, let refundID = data["id"]?.intValue.map(String.init) ?? data["id"]?.stringValue else {
                return ProviderEvent(eventID: eventID, type: type, target: nil, outcome: nil)
            }
            return ProviderEvent(
                eventID: eventID, type: type, target: .providerPayment(id: reference), outcome: nil, amountMinorUnits: data["amount"]?.intValue,
                currencyCode: data["currency"]?.stringValue?.uppercased(),
                refund: ProviderRefund(providerRefundID: refundID, reason: "refunded_at_provider", outcome: type == "refund.failed" ? .failed : .succeeded)
            )
        default:
            // refund.pending, refund.processing and everything else: stored, nothing to apply.
            return ProviderEvent(eventID: eventID, type: type, target: nil, outcome: nil)
        }
    }

    // MARK: - Asking Paystack

    /// Verify's status as Settle's outcome: `success` succeeded; `failed` failed; `ongoing`, `pending`, `processing`
    /// and `queued` processing; `abandoned` (the buyer has not finished) and `reversed` no outcome (the payment expires
    /// on its own, and a reversal is read as refunds).
    static func state(_ transaction: PaystackTransaction) -> ProviderPaymentState {
        let outcome: ProviderOutcome? =
            switch transaction.status {
            case "success": .succeeded
            case "failed": .failed
            case "ongoing", "pending", "processing", "queued": .processing
            default: nil
            }
        let failure = outcome == .failed
            ? PaymentFailure(code: "declined", message: Text.echo(transaction.gatewayResponse ?? "Paystack declined the payment.", limit: 200)) : nil
        return ProviderPaymentState(
            outcome: outcome, amountMinorUnits: transaction.amount, currencyCode: transaction.currency, providerPaymentID: transaction.reference,
            failure: failure, paymentID: transaction.settlePayment
        )
    }

    public func fetchPayment(providerPaymentID: String) async throws(ProviderError) -> ProviderPaymentState? {
        guard let api else { throw ProviderError(.disabled, "The Paystack provider is disabled.") }
        return try await api.verify(reference: providerPaymentID).map(Self.state)
    }

    /// The buyer is back from Paystack's checkout (`?trxref=<reference>&reference=<reference>`): verify, for this
    /// payment's own reference only.
    public func confirmReturn(of payment: Payment, query: [String: String]) async throws(ProviderError) -> ProviderPaymentState? {
        guard let reference = payment.providerPaymentID, query["reference"] == reference || query["trxref"] == reference else { return nil }
        return try await fetchPayment(providerPaymentID: reference)
    }

    /// A checkout left open, a bank transfer in progress: asked after two quiet minutes, then every five.
    public var openPaymentPolling: OpenPaymentPolling? { OpenPaymentPolling(quiet: .seconds(120), every: .seconds(300)) }

    // MARK: - Refunds

    /// `POST /refund` of the transaction, in parts or whole; Paystack queues it (`pending`) and reports the outcome with
    /// `refund.processed` or `refund.failed` (or the sweep asks `GET /refund/{id}`).
    public func refund(_ request: ProviderRefundRequest) async throws(ProviderError) -> ProviderRefundResult {
        guard let api else { throw ProviderError(.disabled, "The Paystack provider is disabled.") }
        guard let reference = request.payment.providerPaymentID else {
            throw ProviderError(.rejected, providerCode: "no_transaction", "Settle does not know this payment's Paystack transaction.")
        }
        let refund = try await api.refund(.object([
            ("transaction", .string(reference)), ("amount", .int(request.amount.minorUnits)), ("currency", .string(request.amount.currency.code)),
            ("merchant_note", .string("Settle refund \(request.refundID)")),
        ]))
        switch refund.status {
        case "processed": return .succeeded(providerRefundID: refund.id)
        case "failed": throw ProviderError(.rejected, providerCode: "refund_failed", "Paystack did not make the refund.")
        default: return .pending(providerRefundID: refund.id)
        }
    }

    public func refundOutcome(providerRefundID: String, of payment: Payment) async throws(ProviderError) -> RefundStatus? {
        guard let api else { throw ProviderError(.disabled, "The Paystack provider is disabled.") }
        switch try await api.refundStatus(id: providerRefundID) {
        case "processed"?: return .succeeded
        case "failed"?: return .failed
        default: return nil
        }
    }

    // MARK: - Reconciliation

    public var reconciliationSource: ReconciliationSource { .perPayment(refunds: false) }

    /// The transaction, from verify.
    public func reconciliationRecords(for subject: ReconciliationSubject) async throws(ProviderError) -> [ProviderRecord] {
        guard let api else { throw ProviderError(.disabled, "The Paystack provider is disabled.") }
        guard let reference = subject.payment.providerPaymentID, let transaction = try await api.verify(reference: reference) else { return [] }
        let status: ReconciledStatus =
            switch transaction.status {
            case "success", "reversed": .succeeded
            case "failed": .failed
            case "ongoing", "pending", "processing", "queued": .processing
            default: .open
            }
        return [
            ProviderRecord(
                object: .payment, providerID: transaction.reference, paymentID: transaction.settlePayment ?? subject.payment.id, status: status,
                amount: transaction.amount, currency: transaction.currency
            )
        ]
    }
}
