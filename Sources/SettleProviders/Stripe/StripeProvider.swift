import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import SettleCore

/// Settings for the Stripe adapter, read from `SETTLE_STRIPE_*` (see ``StripeProvider/settings``).
public struct StripeConfiguration: Sendable {
    public static let defaultAPIBase = "https://api.stripe.com"

    /// `sk_test_…` or `sk_live_…`.
    public var secretKey: Secret?
    /// The endpoint's `whsec_…`.
    public var webhookSecret: Secret?
    /// Stripe's API by default; the emulator's in tests.
    public var apiBase: String

    public init(secretKey: String? = nil, webhookSecret: String? = nil, apiBase: String = defaultAPIBase) {
        self.secretKey = secretKey.map { Secret($0) }
        self.webhookSecret = webhookSecret.map { Secret($0) }
        self.apiBase = apiBase.hasSuffix("/") ? String(apiBase.dropLast()) : apiBase
    }
}

/// Stripe, through Checkout Sessions: Settle creates a session and sends the buyer to its hosted page; Stripe's
/// signed webhooks (`checkout.session.*`) finalize the payment; the session's state can be fetched for the sweep.
public struct StripeProvider: PaymentProvider {
    let configuration: StripeConfiguration
    let api: StripeAPI?
    let logger: Logger

    public init(configuration: StripeConfiguration, context: ProviderContext) {
        self.configuration = configuration
        self.logger = context.logger
        let client = context.apiClient("Stripe")
        self.api = configuration.secretKey.map { StripeAPI(secretKey: $0, base: configuration.apiBase, client: client) }
    }

    public var availability: ProviderAvailability {
        guard let key = configuration.secretKey?.value, !key.isEmpty else {
            return .disabled(reason: "SETTLE_STRIPE_SECRET_KEY is not set")
        }
        guard key.hasPrefix("sk_test_") || key.hasPrefix("sk_live_") || key.hasPrefix("rk_test_") || key.hasPrefix("rk_live_") else {
            return .disabled(reason: "SETTLE_STRIPE_SECRET_KEY is not a Stripe secret key (sk_test_… or sk_live_…)")
        }
        guard let secret = configuration.webhookSecret?.value, secret.hasPrefix("whsec_") else {
            return .disabled(reason: "SETTLE_STRIPE_WEBHOOK_SECRET is not set (whsec_…)")
        }
        return .enabled
    }

    /// A test key serves only test mode; a live key only live mode.
    public var modes: Set<Mode> {
        guard let key = configuration.secretKey?.value else { return [] }
        return key.contains("_live_") ? [.live] : [.test]
    }

    public func validate(_ payment: Payment) throws(ProviderError) {
        guard StripeCurrency.exponent(payment.amount.currency) != nil else {
            throw ProviderError(.unsupported, providerCode: "currency", "Stripe does not take \(payment.amount.currency.code).")
        }
        do {
            _ = try StripeCurrency.amount(payment.amount)
        } catch {
            throw ProviderError(.unsupported, providerCode: "amount", error.message)
        }
    }

    public func createPayment(_ request: ProviderPaymentRequest) async throws(ProviderError) -> ProviderPaymentCreation {
        guard availability.isEnabled, let api else { throw ProviderError(.disabled, "The Stripe provider is disabled.") }
        let payment = request.payment
        guard modes.contains(payment.mode) else {
            throw ProviderError(.unsupported, "The configured Stripe key does not serve \(payment.mode.rawValue)-mode payments.")
        }
        let amount: Int64
        do {
            amount = try StripeCurrency.amount(payment.amount)
        } catch {
            throw ProviderError(.unsupported, error.message)
        }
        let returnURL = request.returnURL
        let now = Date()
        // Stripe accepts a session expiry between 30 minutes and 24 hours from now.
        let expiry = min(max(payment.expiresAt ?? now.addingTimeInterval(86_400), now.addingTimeInterval(1860)), now.addingTimeInterval(86_000))
        var form = StripeForm()
        form.add("mode", "payment")
        form.add("line_items[0][price_data][currency]", payment.amount.currency.code.lowercased())
        form.add("line_items[0][price_data][unit_amount]", String(amount))
        form.add("line_items[0][price_data][product_data][name]", payment.description ?? payment.reference)
        form.add("line_items[0][quantity]", "1")
        form.add("client_reference_id", payment.id)
        form.add("metadata[settle_payment_id]", payment.id)
        form.add("metadata[settle_reference]", String(payment.reference.prefix(500)))
        form.add("success_url", returnURL)
        form.add("cancel_url", payment.cancelURL ?? returnURL)
        form.add("expires_at", String(UnixTime.seconds(expiry)))
        form.add("customer_email", payment.customer?.email)
        let bytes = try await api.post("/v1/checkout/sessions", form: form, idempotencyKey: request.idempotencyKey)
        guard let session = try? JSONDecoder().decode(StripeSession.self, from: Data(bytes)), let url = session.url else {
            throw ProviderError(.unavailable, "Stripe answered with something that is not a checkout session.")
        }
        return ProviderPaymentCreation(providerPaymentID: session.id, nextAction: .redirect(url: url))
    }

    public func verify(_ notification: InboundNotification) async throws(NotificationRejection) -> VerifiedNotification {
        guard availability.isEnabled, let secret = configuration.webhookSecret?.value else {
            throw NotificationRejection(.providerDisabled, "The Stripe provider is disabled.")
        }
        do {
            try StripeSignature.verify(
                header: notification.header("stripe-signature"), body: notification.body, secret: secret, now: notification.receivedAt
            )
        } catch {
            throw NotificationRejection(.invalidSignature, "Stripe-Signature verification failed: \(error.rawValue).")
        }
        guard let envelope = try? JSONDecoder().decode(StripeEventEnvelope.self, from: Data(notification.body)) else {
            throw NotificationRejection(.malformed, "The body is not a Stripe event.")
        }
        if envelope.type.hasPrefix("refund."), let refund = try? JSONDecoder().decode(StripeEventRefund.self, from: Data(notification.body)).data.object {
            // A refund made in Stripe's dashboard names no Settle payment: its payment intent's session does.
            var session: String?
            if refund.metadata?["settle_payment"] == nil, let intent = refund.paymentIntent {
                do {
                    session = try await self.session(paymentIntent: intent)
                } catch {
                    throw NotificationRejection(.unavailable, "Stripe could not be asked which payment the refund belongs to; retry.")
                }
            }
            return VerifiedNotification(events: [Self.event(refund: refund, envelope: envelope, session: session)])
        }
        return VerifiedNotification(events: [Self.event(from: envelope, body: notification.body)])
    }

    /// A refund event: for a refund Settle asked for (its metadata names the payment), `succeeded` or `failed` settles
    /// it; `pending` changes nothing. A refund made in Stripe's dashboard names the payment by `session`, the Checkout
    /// Session of its payment intent (asked of Stripe); without one it is stored unmatched.
    static func event(refund: StripeRefund, envelope: StripeEventEnvelope, session: String? = nil) -> ProviderEvent {
        let outcome: RefundStatus? =
            switch refund.status {
            case "succeeded": .succeeded
            case "failed", "canceled": .failed
            default: nil
            }
        var amount: Int64?
        if let value = refund.amount, let currency = refund.currency.flatMap(Currency.lookup) {
            amount = StripeCurrency.minorUnits(stripeAmount: value, currency: currency) ?? -1
        }
        return ProviderEvent(
            eventID: envelope.id, type: envelope.type,
            target: refund.metadata?["settle_payment"].map { .payment(id: $0) } ?? session.map { .providerPayment(id: $0) }, outcome: nil,
            amountMinorUnits: amount, currencyCode: refund.currency?.uppercased(),
            refund: outcome.map {
                ProviderRefund(providerRefundID: refund.id, reason: "refunded at Stripe", outcome: $0, refundID: refund.metadata?["settle_refund"])
            }
        )
    }

    /// `POST /v1/refunds` on the session's payment intent, with Settle's idempotency key and the refund's ids in its
    /// metadata (so its events find the payment).
    public func refund(_ request: ProviderRefundRequest) async throws(ProviderError) -> ProviderRefundResult {
        guard let api else { throw ProviderError(.disabled, "The Stripe provider is disabled.") }
        guard let sessionID = request.payment.providerPaymentID else {
            throw ProviderError(.rejected, providerCode: "no_session", "Settle does not know this payment's Stripe session.")
        }
        let escaped = sessionID.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(.init(charactersIn: "_"))) ?? ""
        // Stripe unreachable stays an error (the refund waits); only a session without a payment is a refusal.
        let sessionBytes = try await api.get("/v1/checkout/sessions/\(escaped)")
        guard let session = try? JSONDecoder().decode(StripeSession.self, from: Data(sessionBytes)), let intent = session.paymentIntent else {
            throw ProviderError(.rejected, providerCode: "no_payment_intent", "The Stripe session has no payment to refund.")
        }
        let amount: Int64
        do {
            amount = try StripeCurrency.amount(request.amount)
        } catch {
            throw ProviderError(.unsupported, providerCode: "amount", error.message)
        }
        var form = StripeForm()
        form.add("payment_intent", intent)
        form.add("amount", String(amount))
        if ["requested_by_customer", "duplicate", "fraudulent"].contains(request.reason) { form.add("reason", request.reason) }
        form.add("metadata[settle_payment]", request.payment.id)
        form.add("metadata[settle_refund]", request.refundID)
        let bytes = try await api.post("/v1/refunds", form: form, idempotencyKey: request.idempotencyKey)
        guard let refund = try? JSONDecoder().decode(StripeRefund.self, from: Data(bytes)) else {
            throw ProviderError(.unavailable, "Stripe answered with something that is not a refund.")
        }
        switch refund.status {
        case "succeeded": return .succeeded(providerRefundID: refund.id)
        case "failed", "canceled": throw ProviderError(.rejected, providerCode: refund.status, "Stripe could not refund the payment (\(refund.status ?? "")).")
        default: return .pending(providerRefundID: refund.id)
        }
    }

    /// Maps a verified Stripe event onto Settle's outcomes.
    static func event(from envelope: StripeEventEnvelope, body: [UInt8]) -> ProviderEvent {
        let session = (try? JSONDecoder().decode(StripeEventSession.self, from: Data(body)))?.data.object
        let isSession = session?.object == "checkout.session"
        let outcome: ProviderOutcome?
        switch (envelope.type, session?.paymentStatus) {
        case ("checkout.session.completed", "paid"): outcome = .succeeded
        case ("checkout.session.completed", "unpaid"): outcome = .processing
        case ("checkout.session.async_payment_succeeded", _): outcome = .succeeded
        case ("checkout.session.async_payment_failed", _): outcome = .failed
        case ("checkout.session.expired", _): outcome = .expired
        default: outcome = nil
        }
        var amount: Int64?
        var currencyCode: String?
        if let session, isSession, let total = session.amountTotal, let code = session.currency {
            currencyCode = code.uppercased()
            if let currency = Currency.lookup(code) {
                // Not representable exactly → a value that can never match, so the payment goes to review.
                amount = StripeCurrency.minorUnits(stripeAmount: total, currency: currency) ?? -1
            } else {
                amount = -1
            }
        }
        return ProviderEvent(
            eventID: envelope.id, type: envelope.type, target: isSession ? session.map { .providerPayment(id: $0.id) } : nil,
            outcome: isSession ? outcome : nil, amountMinorUnits: amount, currencyCode: currencyCode,
            failure: outcome == .failed ? PaymentFailure(code: "async_payment_failed", message: "The delayed payment failed at Stripe.") : nil
        )
    }

    /// The Checkout Session whose payment intent this is (`GET /v1/checkout/sessions?payment_intent=`), or `nil`.
    func session(paymentIntent: String) async throws(ProviderError) -> String? {
        guard let api else { throw ProviderError(.disabled, "The Stripe provider is disabled.") }
        let bytes = try await api.get("/v1/checkout/sessions?payment_intent=\(StripeForm.escape(paymentIntent))&limit=1")
        guard let list = try? JSONDecoder().decode(StripeList<StripeListedSession>.self, from: Data(bytes)) else {
            throw ProviderError(.unavailable, "Stripe answered with something that is not a list of checkout sessions.")
        }
        return list.data.first?.id
    }

    public func fetchPayment(providerPaymentID: String) async throws(ProviderError) -> ProviderPaymentState? {
        guard let api else { throw ProviderError(.disabled, "The Stripe provider is disabled.") }
        let escaped = providerPaymentID.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(.init(charactersIn: "_"))) ?? ""
        let bytes: [UInt8]
        do {
            bytes = try await api.get("/v1/checkout/sessions/\(escaped)")
        } catch where error.code == .rejected {
            return nil  // Stripe does not know it
        }
        guard let session = try? JSONDecoder().decode(StripeSession.self, from: Data(bytes)) else {
            throw ProviderError(.unavailable, "Stripe answered with something that is not a checkout session.")
        }
        let outcome: ProviderOutcome? =
            switch (session.status, session.paymentStatus) {
            case ("complete", "paid"): .succeeded
            case ("complete", "unpaid"): .processing
            case ("expired", _): .expired
            default: nil
            }
        var amount: Int64?
        if let total = session.amountTotal, let code = session.currency, let currency = Currency.lookup(code) {
            amount = StripeCurrency.minorUnits(stripeAmount: total, currency: currency) ?? -1
        }
        return ProviderPaymentState(outcome: outcome, amountMinorUnits: amount, currencyCode: session.currency?.uppercased())
    }
}

/// The fields of a Checkout Session Settle reads.
struct StripeSession: Codable, Sendable {
    var id: String
    var object: String?
    var url: String?
    var status: String?
    var paymentStatus: String?
    var amountTotal: Int64?
    var currency: String?
    var clientReferenceID: String?
    var paymentIntent: String?

    enum CodingKeys: String, CodingKey {
        case id, object, url, status, currency
        case paymentStatus = "payment_status"
        case amountTotal = "amount_total"
        case clientReferenceID = "client_reference_id"
        case paymentIntent = "payment_intent"
    }
}

/// The fields of a Refund Settle reads.
struct StripeRefund: Decodable, Sendable {
    var id: String
    var object: String?
    var status: String?
    var amount: Int64?
    var currency: String?
    var metadata: [String: String]?
    var paymentIntent: String?

    enum CodingKeys: String, CodingKey {
        case id, object, status, amount, currency, metadata
        case paymentIntent = "payment_intent"
    }
}

struct StripeEventRefund: Decodable, Sendable {
    struct DataField: Decodable, Sendable {
        let object: StripeRefund
    }
    let data: DataField
}

struct StripeEventEnvelope: Decodable, Sendable {
    let id: String
    let type: String
}

struct StripeEventSession: Decodable, Sendable {
    struct DataField: Decodable, Sendable {
        let object: StripeSession
    }
    let data: DataField
}
