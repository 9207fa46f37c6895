import Foundation
import Logging
import SettleCore

/// Wompi (Colombia): cards and every method enabled in the merchant's dashboard on Wompi's Web Checkout, and PSE,
/// Nequi and Bancolombia transfers created through the API. The Wompi `reference` of every payment is Settle's
/// payment id; amounts are Settle's minor units unchanged (Wompi's `amount_in_cents`), in whole pesos, COP only.
///
/// Confirmed before relying on them: whole pesos (Wompi's support pages: COP amounts must end in `00`); the redirect
/// back carries `?id=<transaction id>`; transactions can be listed by `reference` with the private key; events carry
/// no id of their own (deduplicated here on transaction id and status); Wompi retries an unanswered event three
/// times within 24 hours, so an event is accepted up to ``maximumEventAge`` after its `timestamp`.
public struct WompiProvider: PaymentProvider {
    /// Events older than this are refused: Wompi's last retry comes about 24 hours after the first attempt, and a
    /// retry may carry the first attempt's timestamp, so 36 hours leaves room without accepting old replays.
    public static let maximumEventAge: TimeInterval = 36 * 3600
    /// How far ahead of Settle's clock an event's timestamp may be.
    public static let maximumClockSkew: TimeInterval = 300
    /// PSE's `payment_description` limit (Wompi's sandbox documentation; a longer one is refused there).
    static let pseDescriptionLimit = 30
    static let bancolombiaDescriptionLimit = 64
    /// How long a fetched bank list is served before it is fetched again.
    public static let bankListLifetime: TimeInterval = 24 * 3600

    let configuration: WompiConfiguration
    let api: WompiAPI?
    let logger: Logger
    let now: @Sendable () -> Date
    let banks = ResourceCache()
    /// How many times, and how far apart, a new PSE or Bancolombia transaction is read until its bank URL appears.
    let bankURLPolls = (attempts: 10, interval: Duration.milliseconds(300))

    public init(configuration: WompiConfiguration, context: ProviderContext) {
        self.configuration = configuration
        self.logger = context.logger
        self.now = context.now
        if configuration.problem == nil, configuration.mixedEnvironments == nil, let publicKey = configuration.publicKey,
            let privateKey = configuration.privateKey
        {
            self.api = WompiAPI(base: configuration.apiBase, publicKey: publicKey, privateKey: privateKey, client: context.apiClient("Wompi"))
        } else {
            self.api = nil
        }
    }

    public var availability: ProviderAvailability {
        if let problem = configuration.problem { return .disabled(reason: problem) }
        if let mixed = configuration.mixedEnvironments { return .disabled(reason: mixed) }
        return .enabled
    }

    public var startupRefusal: String? { configuration.mixedEnvironments }

    public var modes: Set<Mode> {
        switch configuration.environment {
        case .test: [.test]
        case .production: [.live]
        case nil: []
        }
    }

    /// Events may be lost: open payments are asked about once quiet for two minutes, then every five.
    public var openPaymentPolling: OpenPaymentPolling? { OpenPaymentPolling(quiet: .seconds(120), every: .seconds(300)) }

    // MARK: - Payments

    public func validate(_ payment: Payment) throws(ProviderError) {
        guard payment.amount.currency.code == "COP" else {
            throw ProviderError(.unsupported, providerCode: "currency", "Wompi takes COP only, not \(payment.amount.currency.code).")
        }
        guard payment.amount.minorUnits > 0, payment.amount.minorUnits % 100 == 0 else {
            throw ProviderError(
                .unsupported, providerCode: "amount",
                "Wompi takes whole pesos: amount (in centavos) must be a multiple of 100, and \(payment.amount.minorUnits) is not."
            )
        }
        let method = payment.paymentMethod ?? PaymentMethod(type: PaymentMethod.checkoutType)
        if method.type != PaymentMethod.checkoutType, payment.customer?.email?.isEmpty ?? true {
            throw ProviderError(.unsupported, providerCode: "customer.email", "Wompi needs the buyer's customer.email for \(method.type) payments.")
        }
        switch method.type {
        case "pse":
            if let id = method["legal_id"], !id.utf8.allSatisfy({ WompiConfiguration.Credential.isKeyByte($0) && $0 != 0x5F }) {
                throw ProviderError(.unsupported, providerCode: "payment_method.legal_id", "payment_method.legal_id must be letters, digits and dashes.")
            }
        case "nequi":
            guard Self.nequiPhone(method: method, customer: payment.customer) != nil else {
                throw ProviderError(
                    .unsupported, providerCode: "payment_method.phone",
                    "Nequi needs payment_method.phone (10 digits), or a customer.phone that is a 10-digit Colombian mobile number."
                )
            }
        default:
            break
        }
    }

    /// The Nequi number: the method's field, else the customer's phone as 10 digits (a leading `+57` or `57` dropped).
    static func nequiPhone(method: PaymentMethod, customer: Customer?) -> String? {
        if let phone = method["phone"] { return phone.utf8.count == 10 && phone.utf8.allSatisfy { (0x30...0x39).contains($0) } ? phone : nil }
        guard let raw = customer?.phone else { return nil }
        var digits = raw.filter { $0 != " " && $0 != "-" }
        if digits.hasPrefix("+57") { digits.removeFirst(3) } else if digits.count == 12, digits.hasPrefix("57") { digits.removeFirst(2) }
        return digits.count == 10 && digits.utf8.allSatisfy { (0x30...0x39).contains($0) } ? digits : nil
    }

    public func createPayment(_ request: ProviderPaymentRequest) async throws(ProviderError) -> ProviderPaymentCreation {
        guard availability.isEnabled, let api, let integrity = configuration.integritySecret?.value, let publicKey = configuration.publicKey
        else { throw ProviderError(.disabled, "The Wompi provider is disabled.") }
        let payment = request.payment
        guard modes.contains(payment.mode) else {
            throw ProviderError(.unsupported, "The configured Wompi keys do not serve \(payment.mode.rawValue)-mode payments.")
        }
        try validate(payment)
        let expiration = payment.expiresAt.map(Self.expirationTime)
        let signature = WompiSignature.integrity(
            reference: payment.id, amountInCents: payment.amount.minorUnits, currency: "COP", expirationTime: expiration, secret: integrity
        )
        let method = request.paymentMethod
        if method.type == PaymentMethod.checkoutType {
            return ProviderPaymentCreation(
                providerPaymentID: nil,
                nextAction: .redirect(url: checkoutURL(payment, publicKey: publicKey, signature: signature, expiration: expiration, returnPage: request.returnPageURL))
            )
        }
        let body = try await transactionBody(request, signature: signature, expiration: expiration, api: api)
        let created: WompiTransaction
        do {
            created = try await api.createTransaction(body)
        } catch where error.code == .unavailable {
            // The create may have happened with its answer lost: Wompi takes no idempotency key, but the reference
            // is unique, so look it up before reporting a failure.
            guard let found = try? await api.transactions(reference: payment.id).first else { throw error }
            created = found
        }
        guard created.reference == nil || created.reference == payment.id else {
            throw ProviderError(.unavailable, "Wompi answered with a transaction for another reference.")
        }
        switch method.type {
        case "nequi":
            // The buyer approves in the Nequi app; Settle's own page waits with them.
            return ProviderPaymentCreation(providerPaymentID: created.id, nextAction: .redirect(url: request.returnPageURL))
        default:
            return ProviderPaymentCreation(providerPaymentID: created.id, nextAction: .redirect(url: try await bankURL(created, api: api)))
        }
    }

    /// Wompi's Web Checkout link: the public key, the amount, the reference, the integrity signature, the return page
    /// as `redirect-url` (Wompi appends `?id=<transaction>`), the expiry, and the buyer's details Settle has.
    func checkoutURL(_ payment: Payment, publicKey: String, signature: String, expiration: String?, returnPage: String) -> String {
        var fields: [(String, String)] = [
            ("public-key", publicKey), ("currency", "COP"), ("amount-in-cents", String(payment.amount.minorUnits)),
            ("reference", payment.id), ("signature:integrity", signature), ("redirect-url", returnPage),
        ]
        if let expiration { fields.append(("expiration-time", expiration)) }
        if let email = payment.customer?.email { fields.append(("customer-data:email", email)) }
        if let name = payment.customer?.name { fields.append(("customer-data:full-name", name)) }
        if let phone = payment.customer?.phone { fields.append(("customer-data:phone-number", phone)) }
        let query = fields.map { "\(Self.escape($0.0))=\(Self.escape($0.1))" }.joined(separator: "&")
        return configuration.checkoutBase + (configuration.checkoutBase.contains("?") ? "&" : "?") + query
    }

    /// The body of `POST /transactions` for an API method, with the merchant's current acceptance tokens.
    func transactionBody(_ request: ProviderPaymentRequest, signature: String, expiration: String?, api: WompiAPI) async throws(ProviderError)
        -> JSONValue
    {
        let payment = request.payment
        let method = request.paymentMethod
        let description = payment.description ?? "Pago \(payment.reference)"
        let paymentMethod: JSONValue
        switch method.type {
        case "pse":
            paymentMethod = .object([
                ("type", .string("PSE")), ("user_type", .int(method["user_type"] == "legal" ? 1 : 0)),
                ("user_legal_id_type", .string(method["legal_id_type"])), ("user_legal_id", .string(method["legal_id"])),
                ("financial_institution_code", .string(method["bank"])),
                ("payment_description", .string(Self.cut(description, to: Self.pseDescriptionLimit))),
            ])
        case "nequi":
            paymentMethod = .object([("type", .string("NEQUI")), ("phone_number", .string(Self.nequiPhone(method: method, customer: payment.customer)))])
        case "bancolombia_transfer":
            paymentMethod = .object([
                ("type", .string("BANCOLOMBIA_TRANSFER")), ("user_type", .string("PERSON")),
                ("payment_description", .string(Self.cut(description, to: Self.bancolombiaDescriptionLimit))),
            ])
        default:
            throw ProviderError(.unsupported, providerCode: "payment_method.type", "Wompi does not take \(method.type) through the API.")
        }
        let tokens = try await api.acceptanceTokens()
        var members: [(String, JSONValue)] = [
            ("acceptance_token", .string(tokens.acceptance)),
        ]
        if let personal = tokens.personalData { members.append(("accept_personal_auth", .string(personal))) }
        members += [
            ("amount_in_cents", .int(payment.amount.minorUnits)), ("currency", .string("COP")), ("signature", .string(signature)),
            ("customer_email", .string(payment.customer?.email)), ("reference", .string(payment.id)), ("payment_method", paymentMethod),
            ("redirect_url", .string(request.returnPageURL)),
        ]
        if let expiration { members.append(("expiration_time", .string(expiration))) }
        var customer: [(String, JSONValue)] = []
        if let name = payment.customer?.name { customer.append(("full_name", .string(name))) }
        if let phone = payment.customer?.phone { customer.append(("phone_number", .string(phone))) }
        if method.type == "pse" {
            customer += [("legal_id", .string(method["legal_id"])), ("legal_id_type", .string(method["legal_id_type"]))]
        }
        if !customer.isEmpty { members.append(("customer_data", .object(customer))) }
        return .object(members)
    }

    /// Reads a new transaction until Wompi gives the bank's address (it is not in the creation answer).
    func bankURL(_ created: WompiTransaction, api: WompiAPI) async throws(ProviderError) -> String {
        if let url = created.asyncPaymentURL { return url }
        for _ in 0..<bankURLPolls.attempts {
            do {
                try await Task.sleep(for: bankURLPolls.interval)
            } catch {
                throw ProviderError(.unavailable, "The call to Wompi was cancelled.")
            }
            if let url = try await api.transaction(id: created.id)?.asyncPaymentURL { return url }
        }
        throw ProviderError(.unavailable, "Wompi did not give the bank's address for transaction \(created.id) in time.")
    }

    /// `2026-12-01T10:00:00.000Z`: what Wompi reads and what the integrity signature covers.
    static func expirationTime(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: Date(timeIntervalSince1970: date.timeIntervalSince1970.rounded(.down)))
    }

    /// At most `limit` characters, cut on a character boundary.
    static func cut(_ text: String, to limit: Int) -> String { String(text.prefix(limit)) }

    /// Percent-encodes all but unreserved characters (so `:` in `signature:integrity` travels as `%3A`).
    static func escape(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(.init(charactersIn: "-._~"))) ?? ""
    }

    // MARK: - Events

    public func verify(_ notification: InboundNotification) async throws(NotificationRejection) -> VerifiedNotification {
        guard availability.isEnabled, let secret = configuration.eventsSecret?.value else {
            throw NotificationRejection(.providerDisabled, "The Wompi provider is disabled.")
        }
        guard let event = try? JSONValue.parse(notification.body) else {
            throw NotificationRejection(.invalidSignature, "The body is not a signed Wompi event (not JSON).")
        }
        let timestamp: Int64
        let signed: [String]
        do {
            (timestamp, signed) = try WompiSignature.verify(event: event, header: notification.header("x-event-checksum"), secret: secret)
        } catch {
            throw NotificationRejection(.invalidSignature, "Wompi event checksum verification failed: \(error.rawValue).")
        }
        let received = notification.receivedAt.timeIntervalSince1970
        guard Double(timestamp) >= received - Self.maximumEventAge else {
            throw NotificationRejection(.invalidSignature, "The Wompi event is older than \(Int(Self.maximumEventAge / 3600)) hours (a replay).")
        }
        guard Double(timestamp) <= received + Self.maximumClockSkew else {
            throw NotificationRejection(.invalidSignature, "The Wompi event's timestamp is in the future.")
        }
        guard let type = event["event"]?.stringValue else {
            throw NotificationRejection(.malformed, "The Wompi event has no type.")
        }
        guard type == "transaction.updated", let transaction = WompiTransaction(event["data"]?["transaction"]) else {
            return VerifiedNotification(events: [ProviderEvent(eventID: "\(type):\(timestamp)", type: type, target: nil, outcome: nil)])
        }
        let eventID = "\(transaction.id):\(transaction.status)"
        if Self.readFields.allSatisfy(signed.contains) {
            return VerifiedNotification(events: [Self.event(transaction, eventID: eventID)])
        }
        // Wompi signs the id, the status and the amount, not the reference: a genuine event replayed with another
        // payment's reference would still verify. What is not signed is read from Wompi's API by the signed id.
        guard signed.contains("transaction.id"), let api else {
            throw NotificationRejection(.invalidSignature, "The Wompi event does not sign its transaction id.")
        }
        let confirmed: WompiTransaction?
        do {
            confirmed = try await api.transaction(id: transaction.id)
        } catch {
            throw NotificationRejection(.unavailable, "Wompi could not be asked to confirm transaction \(transaction.id); send it again.")
        }
        guard let confirmed else {
            throw NotificationRejection(.invalidSignature, "Wompi does not know transaction \(Text.echo(transaction.id, limit: 64)).")
        }
        return VerifiedNotification(events: [Self.event(confirmed, eventID: eventID)])
    }

    /// The fields Settle acts on: an event that signs them all is read as it is; otherwise its transaction is read
    /// from Wompi's API.
    static let readFields = [
        "transaction.id", "transaction.status", "transaction.amount_in_cents", "transaction.currency", "transaction.reference",
    ]

    /// A transaction as Settle's event: it moves the payment whose id is the reference. `eventID` is the event's own
    /// (transaction id and the status it reported), so repeats of one event are dropped and each status is stored.
    static func event(_ transaction: WompiTransaction, eventID: String) -> ProviderEvent {
        let mapped = Self.outcome(status: transaction.status)
        let target = transaction.reference.map { PaymentTarget.payment(id: $0) }
        return ProviderEvent(
            eventID: eventID, type: "transaction.updated:\(transaction.status)", target: target,
            outcome: mapped.outcome, amountMinorUnits: transaction.amountInCents, currencyCode: transaction.currency,
            failure: mapped.outcome == .failed ? Self.failure(transaction) : nil,
            refund: mapped.refund ? ProviderRefund(providerRefundID: transaction.id, reason: "voided at Wompi") : nil,
            providerPaymentID: transaction.id
        )
    }

    /// Wompi's status as Settle's outcome: `APPROVED` succeeded, `DECLINED` and `ERROR` failed, `PENDING`
    /// processing, `VOIDED` a full refund of an approved payment; anything else is not acted on.
    static func outcome(status: String) -> (outcome: ProviderOutcome?, refund: Bool) {
        switch status {
        case "APPROVED": (.succeeded, false)
        case "DECLINED", "ERROR": (.failed, false)
        case "PENDING": (.processing, false)
        case "VOIDED": (nil, true)
        default: (nil, false)
        }
    }

    /// Wompi's reason in its own words (Spanish, accents kept), without control characters, at most 200 characters.
    static func failure(_ transaction: WompiTransaction) -> PaymentFailure {
        let message = transaction.statusMessage ?? (transaction.status == "ERROR" ? "Wompi reported an error." : "Declined.")
        let printable = String(String.UnicodeScalarView(message.unicodeScalars.filter { $0.value >= 0x20 && !(0x7F...0x9F).contains($0.value) }))
        return PaymentFailure(code: transaction.status.lowercased(), message: String(printable.prefix(200)))
    }

    // MARK: - Asking Wompi

    static func state(_ transaction: WompiTransaction) -> ProviderPaymentState {
        let mapped = outcome(status: transaction.status)
        return ProviderPaymentState(
            outcome: mapped.outcome, amountMinorUnits: transaction.amountInCents, currencyCode: transaction.currency,
            providerPaymentID: transaction.id, failure: mapped.outcome == .failed ? failure(transaction) : nil
        )
    }

    public func fetchPayment(providerPaymentID: String) async throws(ProviderError) -> ProviderPaymentState? {
        guard let api else { throw ProviderError(.disabled, "The Wompi provider is disabled.") }
        return try await api.transaction(id: providerPaymentID).map(Self.state)
    }

    /// By the transaction when its id is known, else by the reference (a checkout whose events were lost): an
    /// approved transaction wins, then a pending one, then the latest refusal.
    public func fetchPayment(for payment: Payment) async throws(ProviderError) -> ProviderPaymentState? {
        guard let api else { throw ProviderError(.disabled, "The Wompi provider is disabled.") }
        if let id = payment.providerPaymentID {
            guard let transaction = try await api.transaction(id: id), transaction.reference == payment.id else { return nil }
            return Self.state(transaction)
        }
        let transactions = try await api.transactions(reference: payment.id).filter { $0.reference == payment.id }
        return Self.pick(transactions).map(Self.state)
    }

    static func pick(_ transactions: [WompiTransaction]) -> WompiTransaction? {
        transactions.first { $0.status == "APPROVED" } ?? transactions.first { $0.status == "PENDING" }
            ?? transactions.last { $0.status == "DECLINED" || $0.status == "ERROR" }
    }

    /// The buyer is back from Wompi with `?id=<transaction>`: that transaction, read from Wompi, if it is this
    /// payment's.
    public func confirmReturn(of payment: Payment, query: [String: String]) async throws(ProviderError) -> ProviderPaymentState? {
        guard let api, let id = query["id"], (1...64).contains(id.utf8.count),
            id.utf8.allSatisfy({ WompiConfiguration.Credential.isKeyByte($0) })
        else { return nil }
        guard let transaction = try await api.transaction(id: id) else { return nil }
        guard transaction.reference == payment.id else {
            logger.notice("a Wompi return named another payment's transaction", metadata: ["payment": "\(payment.id)"])
            return nil
        }
        return Self.state(transaction)
    }

    // MARK: - Refunds

    /// Wompi returns money only by voiding an approved card transaction, in full: anything else is refused before it is
    /// asked for. PSE, Nequi and Bancolombia transfers have no refund through Wompi's API.
    public func refundRefusal(for payment: Payment, amount: Int64) -> String? {
        let type = payment.paymentMethod?.type ?? PaymentMethod.checkoutType
        guard type == PaymentMethod.checkoutType else { return nil }  // requires_action: an operator pays back
        guard amount == payment.amount.minorUnits, payment.amountRefunded == 0 else {
            return "Wompi refunds card payments only by voiding them in full (\(payment.amount.formatted())); refund the whole amount, or pay this part back by other means."
        }
        return nil
    }

    /// A card payment is voided at Wompi (its `VOIDED` event confirms it); a PSE, Nequi or Bancolombia payment waits for
    /// an operator.
    public func refund(_ request: ProviderRefundRequest) async throws(ProviderError) -> ProviderRefundResult {
        guard let api else { throw ProviderError(.disabled, "The Wompi provider is disabled.") }
        let type = request.payment.paymentMethod?.type ?? PaymentMethod.checkoutType
        guard type == PaymentMethod.checkoutType else {
            return .requiresAction("Wompi has no refund for \(type) payments: pay the buyer back by other means, then confirm the refund.")
        }
        guard let transaction = request.payment.providerPaymentID else {
            throw ProviderError(.rejected, providerCode: "no_transaction", "Settle does not know this payment's Wompi transaction.")
        }
        // Asked again (the first answer was lost): a transaction already voided is this refund, done.
        if try await api.transaction(id: transaction)?.status == "VOIDED" { return .succeeded(providerRefundID: transaction) }
        let voided = try await api.void(id: transaction)
        return voided?.status == "VOIDED" ? .succeeded(providerRefundID: transaction) : .pending(providerRefundID: transaction)
    }

    public func buyerInstructions(for payment: Payment) -> String? {
        guard payment.paymentMethod?.type == "nequi" else { return nil }
        let phone = Self.nequiPhone(method: payment.paymentMethod ?? .init(type: "nequi"), customer: payment.customer) ?? ""
        return "Open the Nequi app on the phone ending in \(phone.suffix(4)) and accept the payment notification."
    }

    // MARK: - PSE banks

    public func resource(_ name: String, mode: Mode) async throws(ProviderError) -> ProviderResource? {
        guard name == "pse_banks" else { return nil }
        guard let api else { throw ProviderError(.disabled, "The Wompi provider is disabled.") }
        return try await banks.list(now: now(), lifetime: Self.bankListLifetime) { () throws(ProviderError) in try await api.pseBanks() }
    }
}

/// Reconciliation: Wompi is asked about each payment (its transaction, else by reference, Settle's id); a `VOIDED`
/// transaction is an approved payment refunded in full. Wompi's listing of transactions by date is documented only
/// second-hand, so money Settle never heard of is not looked for.
extension WompiProvider {
    public var reconciliationSource: ReconciliationSource { .perPayment(refunds: true) }

    public func reconciliationRecords(for subject: ReconciliationSubject) async throws(ProviderError) -> [ProviderRecord] {
        guard let api else { throw ProviderError(.disabled, "The Wompi provider is disabled.") }
        let payment = subject.payment
        let transaction: WompiTransaction?
        if let id = payment.providerPaymentID {
            transaction = try await api.transaction(id: id).flatMap { $0.reference == payment.id ? $0 : nil }
        } else {
            let all = try await api.transactions(reference: payment.id).filter { $0.reference == payment.id }
            transaction = all.first { $0.status == "VOIDED" } ?? Self.pick(all)
        }
        guard let transaction else { return [] }
        let status: ReconciledStatus =
            switch transaction.status {
            case "APPROVED", "VOIDED": .succeeded
            case "DECLINED", "ERROR": .failed
            case "PENDING": .processing
            default: .open
            }
        var records = [
            ProviderRecord(
                object: .payment, providerID: transaction.id, paymentID: payment.id, status: status, amount: transaction.amountInCents,
                currency: transaction.currency
            )
        ]
        if transaction.status == "VOIDED" {
            records.append(
                ProviderRecord(
                    object: .refund, providerID: transaction.id, paymentID: payment.id, status: .succeeded, amount: transaction.amountInCents,
                    currency: transaction.currency
                )
            )
        }
        return records
    }
}
