import AsyncHTTPClient
import Foundation
import Logging
import SettleCore
import SettleProviders
import SettleStore
import Synchronization

/// What the buyer's pages may read and do. The server renders them; this decides what they show.
///
/// - The return page (`GET /checkout/return/{id}/{token}`, or `?token=` in links handed out before) shows a payment's
///   status only with the token bound to it, which Settle puts in the return link it gives providers. Without it, it
///   shows nothing of the payment. A provider that names its transaction in the query it appends (Wompi's `?id=`) is
///   asked for that transaction, and what it answers is applied exactly once, as a notification would be; a payment
///   that is settled then sends the buyer on to the merchant's `return_url`. While the payment is open the page
///   refreshes itself, with the provider's instructions (approve in the wallet app): it is also the waiting page.
/// - The sandbox's checkout page (`/sandbox/checkout/{id}`) is for test-mode sandbox payments only; a button press
///   must carry the form's token (CSRF) and is refused once the payment is final. It sends the signed notification
///   over HTTP to Settle's own webhook endpoint, as a real provider would.
public struct BuyerPages: Sendable {
    let store: Store
    let providers: ProviderRegistry
    let tokens: PageTokens
    let publicURL: @Sendable () -> String
    let httpClient: HTTPClient
    let logger: Logger
    /// A provider is asked about a return at most once every ``ReturnThrottle/interval`` per payment (a reloaded page,
    /// a hostile buyer repeating a signed query), on this instance.
    let returnThrottle = ReturnThrottle()
    let cardCharges = CardCharges()

    public init(
        store: Store, providers: ProviderRegistry, tokens: PageTokens, publicURL: @escaping @Sendable () -> String,
        httpClient: HTTPClient, logger: Logger
    ) {
        self.store = store
        self.providers = providers
        self.tokens = tokens
        self.publicURL = publicURL
        self.httpClient = httpClient
        self.logger = logger
    }

    /// `<public url>/checkout/return/<id>/<token>`: the token in the path, so a provider that appends its own query
    /// (`?id=…`) cannot break it.
    static func returnPageURL(publicURL: String, paymentID: String, tokens: PageTokens) -> String {
        "\(publicURL)/checkout/return/\(paymentID)/\(tokens.token(.returnPage, paymentID: paymentID))"
    }

    /// `<public url>/pay/<id>/<token>`: the page that posts a provider's signed checkout form (PayU's WebCheckout).
    static func formPageURL(publicURL: String, paymentID: String, tokens: PageTokens) -> String {
        "\(publicURL)/pay/\(paymentID)/\(tokens.token(.formPage, paymentID: paymentID))"
    }

    /// What the form page shows: the form to post; or the voucher Settle issued (its own cash voucher, shown whatever
    /// the payment's status, so the page can say it was paid or has expired); or, when neither applies any more, the
    /// buyer is sent to the return page.
    public struct FormView: Sendable {
        public var payment: Payment
        public var form: ProviderCheckoutForm?
        /// Settle's own voucher, to show with its barcode and instructions.
        public var voucher: Voucher?
        /// Settle's card page, for a provider whose vault tokenizes the card in the buyer's browser.
        public var card: ProviderCardPage?
        /// The payment's return page, with its token.
        public var returnPage: String
    }

    /// The signed form of a payment whose provider checks out with a form POST; not found without its token.
    public func formPage(paymentID: String, token: String?) async throws(SettleError) -> FormView {
        guard tokens.verify(token, .formPage, paymentID: paymentID) else { throw SettleError.notFound(.payment, id: paymentID) }
        let found = try await store.fetch({ try await store.payment(id: paymentID) }, logger: logger)
        guard let payment = found, let provider = providers.provider(named: payment.provider) else {
            throw SettleError.notFound(.payment, id: paymentID)
        }
        let publicURL = self.publicURL()
        let returnPage = Self.returnPageURL(publicURL: publicURL, paymentID: payment.id, tokens: tokens)
        if provider is any SettlementFileProvider, let voucher = payment.voucher {
            return FormView(payment: payment, form: nil, voucher: voucher, returnPage: returnPage)
        }
        guard payment.status == .requiresAction else { return FormView(payment: payment, form: nil, returnPage: returnPage) }
        guard provider.availability.isEnabled else {
            throw SettleError(.providerDisabled, "The \(payment.provider) provider is disabled.")
        }
        if let card = provider.cardPage(for: payment) {
            // A card already charged is followed on the return page, never charged again from here.
            guard payment.providerPaymentID == nil else { return FormView(payment: payment, form: nil, returnPage: returnPage) }
            return FormView(payment: payment, form: nil, card: card, returnPage: returnPage)
        }
        let form: ProviderCheckoutForm?
        do {
            form = try provider.checkoutForm(
                for: payment, ProviderLinks(notificationURL: "\(publicURL)/v1/webhooks/\(provider.name)", returnPageURL: returnPage)
            )
        } catch {
            throw SettleError.provider(error, paymentID: payment.id)
        }
        guard let form else { throw SettleError.notFound(.payment, id: paymentID) }
        return FormView(payment: payment, form: form, returnPage: returnPage)
    }

    /// The card page sent the vault's token: the card is charged (outside any transaction, with one idempotency key per
    /// payment, so however many tokens are posted, on however many instances, the provider makes one charge), the
    /// charge recorded on the payment, a decided charge applied through the notification path; returns where the buyer
    /// goes (3-D Secure, or the return page). A payment already charged is not charged again; a second post while the
    /// first is being charged on this instance is refused; one the provider refuses as a repeat leads to the return page.
    public func submitCard(paymentID: String, pageToken: String?, cardToken: String?) async throws(SettleError) -> CardNext {
        guard tokens.verify(pageToken, .formPage, paymentID: paymentID) else { throw SettleError.notFound(.payment, id: paymentID) }
        guard let cardToken, !cardToken.isEmpty, cardToken.utf8.count <= 100 else {
            throw SettleError.invalid("card_token", "The card was not tokenized; go back and enter it again.")
        }
        let found = try await store.fetch({ try await store.payment(id: paymentID) }, logger: logger)
        guard let payment = found, let provider = providers.provider(named: payment.provider), provider.cardPage(for: payment) != nil else {
            throw SettleError.notFound(.payment, id: paymentID)
        }
        let publicURL = self.publicURL()
        let returnPage = Self.returnPageURL(publicURL: publicURL, paymentID: payment.id, tokens: tokens)
        guard payment.status == .requiresAction, payment.providerPaymentID == nil else { return CardNext(url: returnPage, leavesSettle: false) }
        guard cardCharges.begin(paymentID) else {
            throw SettleError(.paymentNotPayable, "This payment's card is being charged; wait for the page to update.", status: 409)
        }
        defer { cardCharges.end(paymentID) }
        let charge: ProviderCardCharge
        do {
            charge = try await provider.chargeCard(
                payment, token: cardToken,
                links: ProviderLinks(notificationURL: "\(publicURL)/v1/webhooks/\(provider.name)", returnPageURL: returnPage),
                // One key per payment: a second token (a double click, another instance) can never make a second charge.
                idempotencyKey: "card:\(payment.id)"
            )
        } catch where error.code == .rejected && error.providerCode == "invalid_token" {
            throw SettleError.invalid("card_token", "The card was not tokenized; go back and enter it again.")
        } catch where error.code == .rejected && (error.providerCode == "bad_request" || error.providerCode == "idempotency_key_in_use") {
            // Another token for a payment already being charged: the first charge stands.
            logger.notice("a second card for a payment already charged was refused", metadata: ["payment": "\(payment.id)"])
            return CardNext(url: returnPage, leavesSettle: false)
        } catch {
            throw SettleError.provider(error, paymentID: payment.id, action: "charge the card of")
        }
        let at = Date()
        let id = payment.id
        _ = try await store.perform({ tx in
            guard let locked = try await tx.lockPayment(id: id) else { return false }
            if locked.providerPaymentID == nil { try await tx.learnProviderPaymentID(paymentID: id, providerPaymentID: charge.providerPaymentID) }
            guard let state = charge.state, let outcome = state.outcome else { return true }
            var charged = locked
            charged.providerPaymentID = charged.providerPaymentID ?? charge.providerPaymentID
            _ = try await NotificationIngestor.applyFetched(state, outcome: outcome, source: "card", payment: charged, at: at, in: tx)
            return true
        }, logger: logger)
        return charge.redirect.map { CardNext(url: $0, leavesSettle: true) } ?? CardNext(url: returnPage, leavesSettle: false)
    }

    /// Where the card page sends the buyer: Settle's return page, or the provider's 3-D Secure page (another origin,
    /// which the card page's `form-action` would not let a redirect reach).
    public struct CardNext: Sendable, Hashable {
        public var url: String
        public var leavesSettle: Bool
    }

    /// The image the payment's waiting page shows (PromptPay's QR), from the provider; not found without the return
    /// page's token, once the payment is final, or when the provider has none.
    public func buyerImage(paymentID: String, token: String?) async throws(SettleError) -> ProviderImage {
        guard tokens.verify(token, .returnPage, paymentID: paymentID) else { throw SettleError.notFound(.payment, id: paymentID) }
        let found = try await store.fetch({ try await store.payment(id: paymentID) }, logger: logger)
        guard let payment = found, !payment.status.isFinal, let provider = providers.provider(named: payment.provider),
            provider.showsBuyerImage(for: payment)
        else { throw SettleError.notFound(.payment, id: paymentID) }
        let image: ProviderImage?
        do {
            image = try await provider.buyerImage(for: payment)
        } catch {
            throw SettleError.provider(error, paymentID: payment.id, action: "show the code of")
        }
        guard let image else { throw SettleError.notFound(.payment, id: paymentID) }
        return image
    }

    /// What the return page shows.
    public struct ReturnView: Sendable {
        public var payment: Payment
        /// The provider's words for the buyer while the payment is open.
        public var instructions: String?
        /// Where to send the buyer now (the merchant's `return_url`, once there is an outcome to show there).
        public var continueTo: String?
        /// What the provider's response carried did not verify (an altered query): the page says so and nothing was
        /// applied from it.
        public var unverified: Bool = false
        /// Whether the page shows the provider's image (PromptPay's QR, at `qr` under the page's own path).
        public var showsImage: Bool = false
    }

    /// The payment behind a return link; not found without its token. `query` is what the provider appended.
    public func returnPage(paymentID: String, token: String?, query: [String: String] = [:]) async throws(SettleError) -> ReturnView {
        guard tokens.verify(token, .returnPage, paymentID: paymentID) else { throw SettleError.notFound(.payment, id: paymentID) }
        let found = try await store.fetch({ try await store.payment(id: paymentID) }, logger: logger)
        guard var payment = found else { throw SettleError.notFound(.payment, id: paymentID) }
        var confirmed = false
        var unverified = false
        if !payment.status.isFinal, !query.isEmpty, let provider = providers.provider(named: payment.provider),
            provider.availability.isEnabled, returnThrottle.mayAsk(paymentID, at: Date())
        {
            do {
                let state = try await provider.confirmReturn(of: payment, query: query)
                returnThrottle.record(paymentID, at: Date())
                if let state {
                    confirmed = true
                    if let outcome = state.outcome {
                        let current = payment
                        let at = Date()
                        _ = try await store.perform({ tx in
                            try await NotificationIngestor.applyFetched(state, outcome: outcome, source: "return", payment: current, at: at, in: tx)
                        }, logger: logger)
                        payment = try await store.fetch({ try await store.payment(id: paymentID) }, logger: logger) ?? payment
                    }
                }
            } catch let error as ProviderError where error.code == .unverified {
                logger.notice("a provider's response page did not verify", metadata: ["payment": "\(paymentID)", "provider": "\(payment.provider)"])
                unverified = true
            } catch let error as ProviderError {
                // The buyer still sees the page; the notification or the sweep settles the payment.
                logger.notice("could not confirm a return with the provider", metadata: ["payment": "\(paymentID)", "code": "\(error.code)"])
            } catch {
                logger.notice("could not record a confirmed return", metadata: ["payment": "\(paymentID)", "error": "\(error)"])
            }
        }
        let provider = providers.provider(named: payment.provider)
        let instructions = payment.status.isFinal ? nil : provider?.buyerInstructions(for: payment)
        let continueTo = !unverified && (payment.status.isFinal || confirmed) ? payment.returnURL : nil
        let showsImage = !payment.status.isFinal && provider?.showsBuyerImage(for: payment) == true
        return ReturnView(payment: payment, instructions: instructions, continueTo: continueTo, unverified: unverified, showsImage: showsImage)
    }

    /// A sandbox checkout page: the payment, and the token its form must send back.
    public func sandboxCheckout(paymentID: String) async throws(SettleError) -> (payment: Payment, formToken: String) {
        let payment = try await sandboxPayment(paymentID)
        return (payment, tokens.token(.sandboxCheckout, paymentID: payment.id))
    }

    /// A button on the sandbox's page: sends the matching signed notification to Settle's webhook endpoint and
    /// returns where the buyer goes next.
    public func sandboxChoose(paymentID: String, action: String?, formToken: String?) async throws(SettleError) -> String {
        let payment = try await sandboxPayment(paymentID)
        guard tokens.verify(formToken, .sandboxCheckout, paymentID: payment.id) else {
            throw SettleError(.csrfTokenInvalid, "This form is not one Settle served for this payment; reload the page.")
        }
        guard let choice = action, let action = SandboxAction(rawValue: choice) else {
            throw SettleError.invalid("action", "action must be one of approve, decline, pending, expire.")
        }
        guard !payment.status.isFinal else {
            throw SettleError(.paymentNotPayable, "Payment \(payment.id) is \(payment.status.rawValue); nothing is left to do.")
        }
        guard let sandbox = providers.provider(named: SandboxProvider.name) as? SandboxProvider, let secret = sandbox.secret else {
            throw SettleError(.providerDisabled, "The sandbox provider is disabled.")
        }
        let notifier = SandboxNotifier(secret: secret, webhookURL: "\(publicURL())/v1/webhooks/sandbox", httpClient: httpClient)
        let status: Int
        do {
            status = try await notifier.send(notifier.message(for: action, paymentID: payment.id, amount: payment.amount))
        } catch {
            throw SettleError(.sandboxDeliveryFailed, "The sandbox could not reach Settle's webhook endpoint.")
        }
        guard (200..<300).contains(status) else {
            throw SettleError(.sandboxDeliveryFailed, "Settle answered the sandbox's notification with \(status).")
        }
        return (action == .decline ? payment.cancelURL ?? payment.returnURL : payment.returnURL) ?? "/sandbox/checkout/\(payment.id)"
    }

    /// The sandbox's page for a refund it left pending: the refund, and the token its form must send back.
    public func sandboxRefund(refundID: String) async throws(SettleError) -> (refund: Refund, formToken: String) {
        let refund = try await sandboxPendingRefund(refundID)
        return (refund, tokens.token(.sandboxCheckout, paymentID: refund.id))
    }

    /// A button on that page: the sandbox reports the refund succeeded or failed, with a signed notification to
    /// Settle's webhook endpoint.
    public func sandboxRefundChoose(refundID: String, succeeded: Bool, formToken: String?) async throws(SettleError) {
        let refund = try await sandboxPendingRefund(refundID)
        guard tokens.verify(formToken, .sandboxCheckout, paymentID: refund.id) else {
            throw SettleError(.csrfTokenInvalid, "This form is not one Settle served for this refund; reload the page.")
        }
        guard refund.status == .pending, let providerRefundID = refund.providerRefundID else {
            throw SettleError(.refundNotConfirmable, "Refund \(refund.id) is \(refund.status.rawValue); nothing is left to do.")
        }
        guard let sandbox = providers.provider(named: SandboxProvider.name) as? SandboxProvider, let secret = sandbox.secret else {
            throw SettleError(.providerDisabled, "The sandbox provider is disabled.")
        }
        let notifier = SandboxNotifier(secret: secret, webhookURL: "\(publicURL())/v1/webhooks/sandbox", httpClient: httpClient)
        let status: Int
        do {
            status = try await notifier.send(
                notifier.refundMessage(providerRefundID: providerRefundID, paymentID: refund.paymentID, amount: refund.amount, succeeded: succeeded)
            )
        } catch {
            throw SettleError(.sandboxDeliveryFailed, "The sandbox could not reach Settle's webhook endpoint.")
        }
        guard (200..<300).contains(status) else {
            throw SettleError(.sandboxDeliveryFailed, "Settle answered the sandbox's notification with \(status).")
        }
    }

    private func sandboxPendingRefund(_ id: String) async throws(SettleError) -> Refund {
        let refund = try await store.fetch({ try await store.refund(id: id) }, logger: logger)
        guard let refund, refund.mode == .test else { throw SettleError.notFound(.refund, id: id) }
        let payment = try await store.fetch({ try await store.payment(id: refund.paymentID) }, logger: logger)
        guard payment?.provider == SandboxProvider.name else { throw SettleError.notFound(.refund, id: id) }
        return refund
    }

    private func sandboxPayment(_ id: String) async throws(SettleError) -> Payment {
        let payment = try await store.fetch({ try await store.payment(id: id, mode: .test) }, logger: logger)
        guard let payment, payment.provider == SandboxProvider.name else { throw SettleError.notFound(.payment, id: id) }
        return payment
    }
}

/// When each payment's return was last confirmed with its provider, on this instance.
final class ReturnThrottle: Sendable {
    static let interval: TimeInterval = 10
    static let capacity = 10_000
    private let asked = Mutex<[String: Date]>([:])

    /// Whether the provider may be asked now.
    func mayAsk(_ paymentID: String, at now: Date) -> Bool {
        asked.withLock { asked in asked[paymentID].map { now.timeIntervalSince($0) >= Self.interval } ?? true }
    }

    /// The provider was asked (a query that did not verify asked nothing, and is not recorded).
    func record(_ paymentID: String, at now: Date) {
        asked.withLock { asked in
            if asked.count >= Self.capacity { asked = asked.filter { now.timeIntervalSince($0.value) < Self.interval } }
            asked[paymentID] = now
        }
    }
}

/// Payments whose card is being charged in this process: a second post of the card page meanwhile (a double click)
/// is refused rather than charging twice.
final class CardCharges: Sendable {
    private let charging = Mutex<Set<String>>([])

    func begin(_ paymentID: String) -> Bool { charging.withLock { $0.insert(paymentID).inserted } }

    func end(_ paymentID: String) { _ = charging.withLock { $0.remove(paymentID) } }
}
