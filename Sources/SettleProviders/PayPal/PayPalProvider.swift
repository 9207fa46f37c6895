import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOSSL
import SettleCore
import Synchronization
import X509
import _CryptoExtras

/// PayPal (Orders v2): an order with `intent: CAPTURE` whose `custom_id` is Settle's payment id, the buyer sent to
/// PayPal's approval page, then a capture made exactly once — on the buyer's return, on `CHECKOUT.ORDER.APPROVED`, or
/// when a sweep finds the order approved, whichever comes first on whichever instance: every capture of an order
/// carries the same `PayPal-Request-Id`, so PayPal answers them all with the one capture, and an
/// `ORDER_ALREADY_CAPTURED` is read as the capture it names. Webhooks are verified offline (``PayPalSignature``).
///
/// Amounts are PayPal's decimal strings with exactly the currency's precision at PayPal (none for HUF, JPY and TWD,
/// two for the rest); an amount PayPal cannot take exactly is refused before anything is sent.
public final class PayPalProvider: PaymentProvider {
    let configuration: PayPalConfiguration
    let api: PayPalAPI?
    let logger: Logger
    let certificates: PayPalCertificates

    public init(configuration: PayPalConfiguration, context: ProviderContext) {
        self.configuration = configuration
        self.logger = context.logger
        if configuration.problem == nil, let clientID = configuration.clientID, let secret = configuration.clientSecret {
            api = PayPalAPI(
                base: configuration.apiBase, clientID: clientID, clientSecret: secret, client: context.apiClient("PayPal"), tokens: PayPalTokens()
            )
        } else {
            api = nil
        }
        certificates = PayPalCertificates(caFile: configuration.caFile, hosts: configuration.certHosts, logger: context.logger)
    }

    /// The currencies PayPal takes, with the decimals PayPal allows in each (not always ISO 4217's: HUF and TWD are
    /// whole units at PayPal).
    static let decimals: [String: Int] = [
        "AUD": 2, "BRL": 2, "CAD": 2, "CNY": 2, "CZK": 2, "DKK": 2, "EUR": 2, "HKD": 2, "HUF": 0, "ILS": 2, "JPY": 0, "MYR": 2, "MXN": 2,
        "TWD": 0, "NZD": 2, "NOK": 2, "PHP": 2, "PLN": 2, "GBP": 2, "SGD": 2, "SEK": 2, "CHF": 2, "THB": 2, "USD": 2,
    ]

    /// `money` as PayPal's `value`: `"10.00"` USD, `"1000"` JPY, `"1500"` HUF (for HUF 1,500.00).
    static func value(_ money: Money) throws(ProviderError) -> String {
        let code = money.currency.code
        guard let digits = decimals[code] else {
            throw ProviderError(.unsupported, providerCode: "currency", "PayPal does not take \(code).")
        }
        do {
            return try money.decimalString(fractionDigits: digits)
        } catch {
            throw ProviderError(.unsupported, providerCode: "amount", "PayPal takes \(code) in whole units only; \(money.formatted()) has a fraction.")
        }
    }

    /// PayPal's `value` in `currency` as minor units; `nil` when it is not an exact amount of it.
    static func minorUnits(_ value: String?, currency: String?) -> (Int64, String)? {
        guard let value, let code = currency?.uppercased(), let known = Currency.lookup(code), let digits = decimals[code],
            value.utf8.count <= 24
        else { return nil }
        // At most the decimals PayPal uses for the currency; a longer fraction is not PayPal's and is not read.
        if let dot = value.firstIndex(of: ".") { guard value.distance(from: value.index(after: dot), to: value.endIndex) <= max(digits, 0) else { return nil } }
        guard let money = try? Money(decimal: value, currency: known), money.minorUnits >= 0 else { return nil }
        return (money.minorUnits, code)
    }

    public var availability: ProviderAvailability {
        configuration.problem.map { .disabled(reason: $0) } ?? .enabled
    }

    public var modes: Set<Mode> { availability.isEnabled ? configuration.mode.map { [$0] } ?? [] : [] }

    public var startupRefusal: String? { configuration.startupRefusal }

    public func validate(_ payment: Payment) throws(ProviderError) {
        _ = try Self.value(payment.amount)
        if let type = payment.paymentMethod?.type, type != PaymentMethod.checkoutType, type != "paypal" {
            throw ProviderError(.unsupported, providerCode: "payment_method", "PayPal takes payment_method checkout (PayPal's approval page) only.")
        }
    }

    public func createPayment(_ request: ProviderPaymentRequest) async throws(ProviderError) -> ProviderPaymentCreation {
        guard let api, let mode = configuration.mode else { throw ProviderError(.disabled, "The PayPal provider is disabled.") }
        let payment = request.payment
        guard payment.mode == mode else {
            throw ProviderError(.unsupported, "The configured PayPal mode does not serve \(payment.mode.rawValue)-mode payments.")
        }
        let amount = JSONValue.object([("currency_code", .string(payment.amount.currency.code)), ("value", .string(try Self.value(payment.amount)))])
        let unit = JSONValue.object([
            ("reference_id", .string(payment.id)), ("custom_id", .string(payment.id)), ("invoice_id", .string(payment.id)),
            ("description", .string(String((payment.description ?? payment.reference).prefix(127)))), ("amount", amount),
        ])
        let context = JSONValue.object([
            ("return_url", .string(request.returnPageURL)), ("cancel_url", .string(request.returnPageURL)),
            ("user_action", .string("PAY_NOW")), ("shipping_preference", .string("NO_SHIPPING")),
        ])
        let body = JSONValue.object([
            ("intent", .string("CAPTURE")), ("purchase_units", .array([unit])),
            ("payment_source", .object([("paypal", .object([("experience_context", context)]))])),
        ])
        let order = try await api.createOrder(body, requestID: "order:" + request.idempotencyKey)
        guard let link = order.approvalURL, let approval = Self.httpURL(link, allowHTTP: mode == .test) else {
            throw ProviderError(.unavailable, "PayPal's order has no approval link.")
        }
        return ProviderPaymentCreation(providerPaymentID: order.id, nextAction: .redirect(url: approval))
    }

    /// An absolute https URL (http too in sandbox mode: the emulator), else `nil`.
    static func httpURL(_ text: String, allowHTTP: Bool) -> String? {
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased(), scheme == "https" || (allowHTTP && scheme == "http"), url.host != nil
        else { return nil }
        return text
    }

    // MARK: - Asking PayPal (and capturing)

    /// The order's state; an approved order is captured first (exactly once: see the type's comment).
    public func fetchPayment(providerPaymentID: String) async throws(ProviderError) -> ProviderPaymentState? {
        guard let api else { throw ProviderError(.disabled, "The PayPal provider is disabled.") }
        guard var order = try await api.order(id: providerPaymentID) else { return nil }
        if order.status == "APPROVED" { order = try await capture(order, api: api) }
        return Self.state(order)
    }

    func capture(_ order: PayPalOrder, api: PayPalAPI) async throws(ProviderError) -> PayPalOrder {
        do {
            return try await api.capture(orderID: order.id, requestID: "capture:" + order.id)
        } catch where error.providerCode == "ORDER_ALREADY_CAPTURED" {
            return try await api.order(id: order.id) ?? order
        }
    }

    /// PayPal's order as Settle's outcome: captured (`COMPLETED` capture) succeeded, a pending capture processing,
    /// a declined or failed one failed, a voided order canceled; created or awaiting the buyer, no outcome yet.
    static func state(_ order: PayPalOrder) -> ProviderPaymentState {
        let capture = order.captures.first
        let outcome: ProviderOutcome?
        switch (order.status, capture?.status) {
        case (_, "COMPLETED"?), (_, "PARTIALLY_REFUNDED"?), (_, "REFUNDED"?): outcome = .succeeded
        case (_, "PENDING"?): outcome = .processing
        case (_, "DECLINED"?), (_, "FAILED"?): outcome = .failed
        case ("VOIDED", _): outcome = .canceled
        default: outcome = nil
        }
        let money = minorUnits(capture?.value ?? order.value, currency: capture?.currency ?? order.currency)
        return ProviderPaymentState(
            outcome: outcome, amountMinorUnits: money?.0, currencyCode: money?.1 ?? order.currency?.uppercased(), providerPaymentID: order.id,
            failure: outcome == .failed ? PaymentFailure(code: "capture_\(capture?.status.lowercased() ?? "failed")", message: "PayPal did not capture the payment.") : nil,
            paymentID: order.customID
        )
    }

    /// The buyer is back from PayPal (`?token=<order>&PayerID=…`): the order, captured if approved. Only the order
    /// Settle recorded is asked about (Settle's return page keeps `token` out of the query it hands over; if one
    /// arrives, one naming another order asks nothing).
    public func confirmReturn(of payment: Payment, query: [String: String]) async throws(ProviderError) -> ProviderPaymentState? {
        guard let id = payment.providerPaymentID, query["token"].map({ $0 == id }) ?? true else { return nil }
        return try await fetchPayment(providerPaymentID: id)
    }

    /// An approval left open: asked after three quiet minutes, then every ten (PayPal's approval lasts about 3 hours).
    public var openPaymentPolling: OpenPaymentPolling? { OpenPaymentPolling(quiet: .seconds(180), every: .seconds(600)) }

    // MARK: - Notifications

    public func verify(_ notification: InboundNotification) async throws(NotificationRejection) -> VerifiedNotification {
        guard availability.isEnabled, let webhookID = configuration.webhookID else {
            throw NotificationRejection(.providerDisabled, "The PayPal provider is disabled.")
        }
        do {
            try await verifySignature(notification, webhookID: webhookID)
        } catch {
            throw NotificationRejection(.invalidSignature, "PayPal's signature verification failed: \(error.rawValue).")
        }
        guard let event = try? JSONValue.parse(notification.body), let id = event["id"]?.stringValue, !id.isEmpty,
            let type = event["event_type"]?.stringValue, let resource = event["resource"], resource.isObject
        else {
            throw NotificationRejection(.malformed, "The body is not a PayPal event.")
        }
        return VerifiedNotification(events: [Self.event(id: id, type: type, resource: resource)])
    }

    func verifySignature(_ notification: InboundNotification, webhookID: String) async throws(PayPalSignature.Failure) {
        guard let transmissionID = notification.header("paypal-transmission-id"), let time = notification.header("paypal-transmission-time"),
            let signature = notification.header("paypal-transmission-sig"), let certURL = notification.header("paypal-cert-url")
        else { throw .missingHeader }
        guard (notification.header("paypal-auth-algo") ?? "SHA256withRSA").caseInsensitiveCompare("SHA256withRSA") == .orderedSame else {
            throw .algorithm
        }
        guard let sent = PayPalSignature.time(time), abs(sent.timeIntervalSince(notification.receivedAt)) <= PayPalSignature.tolerance else {
            throw .stale
        }
        guard let url = PayPalSignature.certificateURL(certURL, hosts: configuration.certHosts) else { throw .certificateURL }
        let key = try await certificates.key(at: url, now: notification.receivedAt)
        let message = PayPalSignature.signedString(transmissionID: transmissionID, transmissionTime: time, webhookID: webhookID, body: notification.body)
        guard PayPalSignature.isValid(signature: signature, message: message, key: key) else { throw .signature }
    }

    /// One verified event. Order events are hints (the order is fetched, and captured if approved); capture events
    /// carry the capture PayPal signed; refunds and reversals are refunds.
    static func event(id: String, type: String, resource: JSONValue) -> ProviderEvent {
        let customID = resource["custom_id"]?.stringValue
        let orderID = resource["supplementary_data"]?["related_ids"]?["order_id"]?.stringValue
        let target: PaymentTarget? = customID.map { .payment(id: $0) } ?? orderID.map { .providerPayment(id: $0) }
        let money = minorUnits(resource["amount"]?["value"]?.stringValue, currency: resource["amount"]?["currency_code"]?.stringValue)
        switch type {
        case "CHECKOUT.ORDER.APPROVED", "CHECKOUT.ORDER.COMPLETED":
            let order = resource["id"]?.stringValue
            let unitCustomID = resource["purchase_units"]?.arrayValue?.first?["custom_id"]?.stringValue
            return ProviderEvent(
                eventID: id, type: type, target: order.map { .providerPayment(id: $0) } ?? unitCustomID.map { .payment(id: $0) }, outcome: nil, isHint: true
            )
        case "CHECKOUT.PAYMENT-APPROVAL.REVERSED":
            let order = resource["order_id"]?.stringValue ?? resource["id"]?.stringValue
            return ProviderEvent(
                eventID: id, type: type, target: order.map { .providerPayment(id: $0) } ?? target, outcome: .failed,
                failure: PaymentFailure(code: "approval_reversed", message: "PayPal reversed the buyer's approval before the capture.")
            )
        case "PAYMENT.CAPTURE.COMPLETED", "PAYMENT.CAPTURE.PENDING", "PAYMENT.CAPTURE.DENIED":
            let outcome: ProviderOutcome = type.hasSuffix("COMPLETED") ? .succeeded : type.hasSuffix("PENDING") ? .processing : .failed
            return ProviderEvent(
                eventID: id, type: type, target: target, outcome: outcome, amountMinorUnits: money?.0,
                currencyCode: money?.1 ?? resource["amount"]?["currency_code"]?.stringValue,
                failure: outcome == .failed ? PaymentFailure(code: "capture_denied", message: "PayPal denied the capture.") : nil,
                providerPaymentID: orderID
            )
        case "PAYMENT.CAPTURE.REFUNDED", "PAYMENT.CAPTURE.REVERSED":
            guard let refundID = resource["id"]?.stringValue else { return ProviderEvent(eventID: id, type: type, target: nil, outcome: nil) }
            return ProviderEvent(
                eventID: id, type: type, target: target, outcome: nil, amountMinorUnits: money?.0, currencyCode: money?.1,
                refund: ProviderRefund(providerRefundID: refundID, reason: type.hasSuffix("REVERSED") ? "reversed_at_provider" : "refunded_at_provider")
            )
        default:
            return ProviderEvent(eventID: id, type: type, target: target, outcome: nil)
        }
    }

    // MARK: - Refunds

    /// `POST /v2/payments/captures/{id}/refund` of the order's capture, in parts or whole, with the refund's key.
    public func refund(_ request: ProviderRefundRequest) async throws(ProviderError) -> ProviderRefundResult {
        guard let api else { throw ProviderError(.disabled, "The PayPal provider is disabled.") }
        guard let orderID = request.payment.providerPaymentID, let capture = try await api.order(id: orderID)?.captures.first else {
            throw ProviderError(.rejected, providerCode: "no_capture", "PayPal has no capture for this payment.")
        }
        let body = JSONValue.object([
            ("amount", .object([("currency_code", .string(request.amount.currency.code)), ("value", .string(try Self.value(request.amount)))])),
            ("invoice_id", .string(request.refundID)),
        ])
        let refund = try await api.refund(captureID: capture.id, body, requestID: request.idempotencyKey)
        switch refund.status {
        case "COMPLETED": return .succeeded(providerRefundID: refund.id)
        case "PENDING": return .pending(providerRefundID: refund.id)
        default: throw ProviderError(.rejected, providerCode: refund.status, "PayPal did not make the refund (\(Text.echo(refund.status, limit: 40))).")
        }
    }

    public func refundOutcome(providerRefundID: String, of payment: Payment) async throws(ProviderError) -> RefundStatus? {
        guard let api else { throw ProviderError(.disabled, "The PayPal provider is disabled.") }
        switch try await api.refundStatus(id: providerRefundID) {
        case "COMPLETED"?: return .succeeded
        case "FAILED"?, "CANCELLED"?: return .failed
        default: return nil
        }
    }

    // MARK: - Reconciliation

    public var reconciliationSource: ReconciliationSource { .perPayment(refunds: false) }

    /// The order (with its capture), from PayPal; reading it never captures.
    public func reconciliationRecords(for subject: ReconciliationSubject) async throws(ProviderError) -> [ProviderRecord] {
        guard let api else { throw ProviderError(.disabled, "The PayPal provider is disabled.") }
        guard let id = subject.payment.providerPaymentID, let order = try await api.order(id: id) else { return [] }
        let state = Self.state(order)
        let status: ReconciledStatus =
            switch state.outcome {
            case .succeeded?: .succeeded
            case .processing?: .processing
            case .failed?: .failed
            case .canceled?: .canceled
            case .expired?: .expired
            case nil: .open
            }
        return [
            ProviderRecord(
                object: .payment, providerID: order.id, paymentID: order.customID ?? subject.payment.id, status: status, amount: state.amountMinorUnits,
                currency: state.currencyCode
            )
        ]
    }
}

/// Signing certificates fetched from `PAYPAL-CERT-URL`, checked once and kept by URL until they expire. Fetched over
/// https from the allowed hosts only, trusting the system's roots and the CA file's (the emulator's own CA).
final class PayPalCertificates: Sendable {
    let hosts: Set<String>
    let roots: [Certificate]
    let extraRoots: [NIOSSLCertificate]
    let httpClient: HTTPClient
    let logger: Logger
    private let cache = Mutex<[String: (key: _RSA.Signing.PublicKey, notAfter: Date)]>([:])

    init(caFile: String?, hosts: Set<String>, logger: Logger) {
        self.hosts = hosts
        self.logger = logger
        let extra = caFile.map { PayPalSignature.certificates(inFile: $0) } ?? []
        self.roots = PayPalSignature.systemRoots + extra
        self.extraRoots = caFile.flatMap { try? NIOSSLCertificate.fromPEMFile($0) } ?? []
        // Always a client of its own: it never follows a redirect (an allowed host must not hand the fetch to another).
        self.httpClient = Self.client(trusting: caFile ?? "", extraRoots)
    }

    /// One client per CA file (`""`: none) for the process's lifetime (a client is never dropped while it could be in
    /// use); none follows redirects.
    static let clients = Mutex<[String: HTTPClient]>([:])

    static func client(trusting path: String, _ roots: [NIOSSLCertificate]) -> HTTPClient {
        clients.withLock { clients in
            if let client = clients[path] { return client }
            var tls = TLSConfiguration.makeClientConfiguration()
            if !roots.isEmpty { tls.additionalTrustRoots = [.certificates(roots)] }
            var configuration = HTTPClient.Configuration(tlsConfiguration: tls)
            configuration.redirectConfiguration = .disallow
            configuration.timeout = .init(connect: .seconds(5), read: .seconds(10))
            let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
            clients[path] = client
            return client
        }
    }

    func key(at url: URL, now: Date) async throws(PayPalSignature.Failure) -> _RSA.Signing.PublicKey {
        let address = url.absoluteString
        if let cached = cache.withLock({ $0[address] }), cached.notAfter > now { return cached.key }
        let pem: String
        do {
            var request = HTTPClientRequest(url: address)
            request.method = .GET
            let response = try await httpClient.execute(request, timeout: .seconds(10))
            guard response.status == .ok else { throw PayPalSignature.Failure.certificateUnavailable }
            pem = String(buffer: try await response.body.collect(upTo: 64 * 1024))
        } catch {
            logger.notice("PayPal certificate unavailable", metadata: ["host": "\(url.host ?? "")"])
            throw .certificateUnavailable
        }
        let checked = try await PayPalSignature.signingKey(pem: pem, roots: roots, now: now)
        cache.withLock { cache in
            if cache.count > 100 { cache.removeAll() }
            cache[address] = checked
        }
        return checked.key
    }
}
