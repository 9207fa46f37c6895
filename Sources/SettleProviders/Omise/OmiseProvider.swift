import Foundation
import Logging
import SettleCore

/// Omise (Thailand, Japan, Singapore, Malaysia): cards on Settle's own card page, tokenized by Omise's vault from the
/// buyer's browser, then a charge (3-D Secure through `authorize_uri`); PromptPay as a source and a charge whose QR
/// Settle's waiting page shows. Notifications are signed (`Omise-Signature`), and still only a hint: the charge is
/// always fetched again and only the fetched object is acted on. Amounts are Omise's smallest units, which are the
/// ISO 4217 minor units of every currency Settle takes through Omise (THB satang, JPY yen).
public struct OmiseProvider: PaymentProvider {
    let configuration: OmiseConfiguration
    let api: OmiseAPI?
    let logger: Logger

    public init(configuration: OmiseConfiguration, context: ProviderContext) {
        self.configuration = configuration
        self.logger = context.logger
        if configuration.problem == nil, let key = configuration.secretKey {
            api = OmiseAPI(base: configuration.apiBase, secretKey: key, client: context.apiClient("Omise"))
        } else {
            api = nil
        }
    }

    /// The currencies Settle takes through Omise, with the smallest amount Omise charges where it is known.
    static let minimums: [String: Int64] = ["THB": 2000, "JPY": 100, "SGD": 100, "MYR": 200, "USD": 100]

    public var availability: ProviderAvailability {
        configuration.problem.map { .disabled(reason: $0) } ?? .enabled
    }

    public var modes: Set<Mode> { availability.isEnabled ? configuration.mode.map { [$0] } ?? [] : [] }

    public var startupRefusal: String? { configuration.startupRefusal }

    public func validate(_ payment: Payment) throws(ProviderError) {
        let code = payment.amount.currency.code
        guard let minimum = Self.minimums[code] else {
            throw ProviderError(.unsupported, providerCode: "currency", "Omise does not take \(code) through Settle (THB, JPY, SGD, MYR, USD).")
        }
        guard payment.amount.minorUnits >= minimum else {
            throw ProviderError(.unsupported, providerCode: "amount", "Omise charges at least \(Money(minorUnits: minimum, currency: payment.amount.currency).formatted()).")
        }
        if payment.paymentMethod?.type == "promptpay", code != "THB" {
            throw ProviderError(.unsupported, providerCode: "currency", "PromptPay takes THB only.")
        }
    }

    static func isPromptPay(_ payment: Payment) -> Bool { payment.paymentMethod?.type == "promptpay" }

    /// Settle's return page, marked so the return asks Omise about the charge (Omise adds nothing to it).
    static func returnURI(_ page: String) -> String { page + (page.contains("?") ? "&" : "?") + "omise=return" }

    public func createPayment(_ request: ProviderPaymentRequest) async throws(ProviderError) -> ProviderPaymentCreation {
        guard let api, let mode = configuration.mode else { throw ProviderError(.disabled, "The Omise provider is disabled.") }
        let payment = request.payment
        guard payment.mode == mode else {
            throw ProviderError(.unsupported, "The configured Omise key does not serve \(payment.mode.rawValue)-mode payments.")
        }
        guard Self.isPromptPay(payment) else {
            // Cards: Settle's card page takes the card and the charge is made when its token comes back.
            return ProviderPaymentCreation(providerPaymentID: nil, nextAction: .redirect(url: request.formPageURL))
        }
        let source = try await api.createSource(
            .object([("type", .string("promptpay")), ("amount", .int(payment.amount.minorUnits)), ("currency", .string("thb"))]),
            idempotencyKey: "source:" + request.idempotencyKey
        )
        let charge = try await api.createCharge(
            chargeBody(payment, ("source", source), returnURI: Self.returnURI(request.returnPageURL)), idempotencyKey: "charge:" + request.idempotencyKey
        )
        return ProviderPaymentCreation(providerPaymentID: charge.id, nextAction: .redirect(url: request.returnPageURL))
    }

    func chargeBody(_ payment: Payment, _ instrument: (String, String), returnURI: String) -> JSONValue {
        .object([
            ("amount", .int(payment.amount.minorUnits)), ("currency", .string(payment.amount.currency.code.lowercased())),
            (instrument.0, .string(instrument.1)), ("return_uri", .string(returnURI)),
            ("description", .string(String((payment.description ?? payment.reference).prefix(255)))),
            ("metadata", .object([("settle_payment_id", .string(payment.id)), ("settle_reference", .string(String(payment.reference.prefix(255))))])),
        ])
    }

    // MARK: - The card page

    public func cardPage(for payment: Payment) -> ProviderCardPage? {
        guard !Self.isPromptPay(payment), let publicKey = configuration.publicKey, availability.isEnabled else { return nil }
        return ProviderCardPage(tokenURL: configuration.vaultBase + "/tokens", publicKey: publicKey, providerName: "Omise")
    }

    public func chargeCard(_ payment: Payment, token: String, links: ProviderLinks, idempotencyKey: String) async throws(ProviderError)
        -> ProviderCardCharge
    {
        guard let api else { throw ProviderError(.disabled, "The Omise provider is disabled.") }
        guard token.hasPrefix("tokn_"), (6...80).contains(token.utf8.count), token.utf8.allSatisfy({ OmiseProvider.isIDByte($0) }) else {
            throw ProviderError(.rejected, providerCode: "invalid_token", "The card page sent something that is not an Omise token.")
        }
        let charge = try await api.createCharge(chargeBody(payment, ("card", token), returnURI: Self.returnURI(links.returnPageURL)), idempotencyKey: idempotencyKey)
        let state = Self.state(charge)
        return ProviderCardCharge(
            providerPaymentID: charge.id, state: state.outcome == nil ? nil : state,
            redirect: charge.status == "pending" ? charge.authorizeURI.flatMap { Self.httpURL($0, allowHTTP: configuration.mode == .test) } : nil
        )
    }

    static func isIDByte(_ byte: UInt8) -> Bool {
        (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte) || byte == 0x5F
    }

    /// An absolute https URL (http too with test keys: the emulator), else `nil`: the buyer is never sent, and nothing
    /// is fetched, anywhere else a provider's answer names.
    static func httpURL(_ text: String, allowHTTP: Bool) -> String? {
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased(), scheme == "https" || (allowHTTP && scheme == "http"),
            url.host != nil
        else { return nil }
        return text
    }

    // MARK: - PromptPay's QR

    public func showsBuyerImage(for payment: Payment) -> Bool { Self.isPromptPay(payment) && payment.providerPaymentID != nil }

    public func buyerImage(for payment: Payment) async throws(ProviderError) -> ProviderImage? {
        guard let api, Self.isPromptPay(payment), let id = payment.providerPaymentID else { return nil }
        guard let charge = try await api.charge(id: id), charge.status == "pending",
            let url = charge.qrImageURL.flatMap({ Self.httpURL($0, allowHTTP: configuration.mode == .test) })
        else { return nil }
        return try await api.image(url)
    }

    public func buyerInstructions(for payment: Payment) -> String? {
        Self.isPromptPay(payment) ? "Scan the QR code with your banking app to pay; this page updates by itself." : nil
    }

    // MARK: - Notifications

    public func verify(_ notification: InboundNotification) async throws(NotificationRejection) -> VerifiedNotification {
        guard availability.isEnabled, let key = configuration.webhookKey else {
            throw NotificationRejection(.providerDisabled, "The Omise provider is disabled.")
        }
        do {
            try OmiseSignature.verify(
                signatures: notification.header("omise-signature"), timestamp: notification.header("omise-signature-timestamp"),
                body: notification.body, key: key, now: notification.receivedAt
            )
        } catch {
            throw NotificationRejection(.invalidSignature, "Omise-Signature verification failed: \(error.rawValue).")
        }
        guard let event = OmiseEvent.read(notification.body) else {
            throw NotificationRejection(.malformed, "The body is not an Omise event.")
        }
        // Only the charge's id is read from the body: what happened is fetched from Omise.
        guard let chargeID = event.chargeID else {
            return VerifiedNotification(events: [ProviderEvent(eventID: event.id, type: event.key, target: nil, outcome: nil)])
        }
        return VerifiedNotification(events: [ProviderEvent(eventID: event.id, type: event.key, target: .providerPayment(id: chargeID), outcome: nil, isHint: true)])
    }

    // MARK: - Asking Omise

    /// Omise's status as Settle's outcome: `successful` succeeded, `failed` failed, `expired` expired, `reversed`
    /// canceled; `pending` is no outcome yet.
    static func state(_ charge: OmiseCharge) -> ProviderPaymentState {
        let outcome: ProviderOutcome? =
            switch charge.status {
            case "successful": charge.paid ? .succeeded : nil
            case "failed": .failed
            case "expired": .expired
            case "reversed": .canceled
            default: nil
            }
        let failure = outcome == .failed
            ? PaymentFailure(code: Text.echo(charge.failureCode ?? "failed", limit: 60), message: Text.echo(charge.failureMessage ?? "Omise declined the charge.", limit: 200))
            : nil
        return ProviderPaymentState(
            outcome: outcome, amountMinorUnits: charge.amount, currencyCode: charge.currency, providerPaymentID: charge.id, failure: failure,
            paymentID: charge.settlePayment
        )
    }

    public func fetchPayment(providerPaymentID: String) async throws(ProviderError) -> ProviderPaymentState? {
        guard let api else { throw ProviderError(.disabled, "The Omise provider is disabled.") }
        return try await api.charge(id: providerPaymentID).map(Self.state)
    }

    /// The buyer is back from 3-D Secure (or from the QR page): the charge, from Omise.
    public func confirmReturn(of payment: Payment, query: [String: String]) async throws(ProviderError) -> ProviderPaymentState? {
        guard query["omise"] == "return", let id = payment.providerPaymentID else { return nil }
        return try await fetchPayment(providerPaymentID: id)
    }

    /// A QR left unscanned, a 3-D Secure page left open: asked after two quiet minutes, then every five.
    public var openPaymentPolling: OpenPaymentPolling? { OpenPaymentPolling(quiet: .seconds(120), every: .seconds(300)) }

    // MARK: - Refunds

    /// `POST /charges/{id}/refunds`, in parts or whole, with the refund's idempotency key.
    public func refund(_ request: ProviderRefundRequest) async throws(ProviderError) -> ProviderRefundResult {
        guard let api else { throw ProviderError(.disabled, "The Omise provider is disabled.") }
        guard let chargeID = request.payment.providerPaymentID else {
            throw ProviderError(.rejected, providerCode: "no_charge", "Settle does not know this payment's Omise charge.")
        }
        let refund = try await api.refund(
            chargeID: chargeID,
            .object([("amount", .int(request.amount.minorUnits)), ("metadata", .object([("settle_refund", .string(request.refundID))]))]),
            idempotencyKey: request.idempotencyKey
        )
        switch refund.status {
        case "closed": return .succeeded(providerRefundID: refund.id)
        case "pending": return .pending(providerRefundID: refund.id)
        default: throw ProviderError(.rejected, providerCode: refund.status, "Omise did not make the refund (\(Text.echo(refund.status ?? "no status", limit: 40))).")
        }
    }

    /// A pending refund, from its charge's refunds.
    public func refundOutcome(providerRefundID: String, of payment: Payment) async throws(ProviderError) -> RefundStatus? {
        guard let api else { throw ProviderError(.disabled, "The Omise provider is disabled.") }
        guard let id = payment.providerPaymentID, let refund = try await api.charge(id: id)?.refunds.first(where: { $0.id == providerRefundID }) else {
            return nil
        }
        switch refund.status {
        case "closed": return .succeeded
        case "pending": return nil
        default: return .failed
        }
    }

    // MARK: - Reconciliation

    public var reconciliationSource: ReconciliationSource { .perPayment(refunds: true) }

    /// The charge and its refunds, from Omise.
    public func reconciliationRecords(for subject: ReconciliationSubject) async throws(ProviderError) -> [ProviderRecord] {
        guard let api else { throw ProviderError(.disabled, "The Omise provider is disabled.") }
        guard let id = subject.payment.providerPaymentID, let charge = try await api.charge(id: id) else { return [] }
        let status: ReconciledStatus =
            switch charge.status {
            case "successful": charge.paid ? .succeeded : .processing
            case "failed": .failed
            case "expired": .expired
            case "reversed": .canceled
            default: .open
            }
        return [
            ProviderRecord(
                object: .payment, providerID: charge.id, paymentID: charge.settlePayment ?? subject.payment.id, status: status, amount: charge.amount,
                currency: charge.currency
            )
        ] + charge.refunds.map { refund in
            ProviderRecord(
                object: .refund, providerID: refund.id, paymentID: subject.payment.id, providerPaymentID: charge.id, refundID: refund.settleRefund,
                status: refund.status == "pending" ? .processing : .succeeded, amount: refund.amount, currency: refund.currency
            )
        }
    }
}
