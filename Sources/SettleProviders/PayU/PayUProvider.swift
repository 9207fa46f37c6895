import Foundation
import Logging
import SettleCore

/// PayU Latam (Colombia): cards and every method the account offers on PayU's WebCheckout, and PSE and cash vouchers
/// (Efecty, Su Red) through the Payments API. Every payment's `referenceCode` is Settle's payment id; amounts
/// leave Settle as exact decimal text made from minor units (never a float), COP only.
///
/// - The WebCheckout is a form POST, so the checkout link is Settle's page (`/pay/{id}/{token}`), which posts the form
///   signed here from the stored payment (``checkoutForm(for:_:)``).
/// - PayU's confirmation (a form POST, JSON on some accounts) is verified on its `sign` with PayU's `new_value` rule,
///   then confirmed with PayU's queries API (the sign does not cover the order or the response code), and
///   deduplicated on the order and PayU's state: PayU's retries carry a new `transaction_id`.
/// - The response page's query is verified (one decimal, half to even) and never applied: PayU's queries API is asked
///   instead. So is the sweep, for lost confirmations; a cash voucher is held open a while past its date, since PayU
///   learns of a counter payment minutes after it is made.
public struct PayUProvider: PaymentProvider {
    /// PayU keeps a cash voucher for at most this long (its documentation: 7 days; a later date is ignored).
    public static let maximumVoucherLifetime: TimeInterval = 7 * 24 * 3600
    /// How long past its date a voucher stays open: Efecty reports a payment to PayU about 15 minutes after
    /// the buyer pays, and PayU confirms after that.
    public static let voucherGrace: TimeInterval = 2 * 3600
    public static let bankListLifetime: TimeInterval = 24 * 3600
    /// Colombia's time for PayU's `expirationDate` (no daylight saving time).
    static let colombia = TimeZone(secondsFromGMT: -5 * 3600)!

    /// A cash network: its name in Settle, PayU's payment method, and PayU's amount limits in COP minor units.
    struct CashNetwork: Sendable {
        let name: String
        let paymentMethod: String
        let limits: ClosedRange<Int64>

        static let all = [
            CashNetwork(name: "efecty", paymentMethod: "EFECTY", limits: 20_000_00...6_000_000_00),
            CashNetwork(name: "su_red", paymentMethod: "OTHERS_CASH", limits: 1_000_00...4_000_000_00),
        ]

        static func named(_ name: String?) -> CashNetwork? { all.first { $0.name == (name ?? "efecty") } }
    }

    let configuration: PayUConfiguration
    let api: PayUAPI?
    let logger: Logger
    let now: @Sendable () -> Date
    let banks = ResourceCache()

    public init(configuration: PayUConfiguration, context: ProviderContext) {
        self.configuration = configuration
        self.logger = context.logger
        self.now = context.now
        if configuration.problem == nil, let apiKey = configuration.apiKey, let apiLogin = configuration.apiLogin {
            self.api = PayUAPI(
                apiBase: configuration.apiBase, reportsBase: configuration.reportsBase, apiKey: apiKey, apiLogin: apiLogin,
                test: configuration.mode != .live, client: context.apiClient("PayU")
            )
        } else {
            self.api = nil
        }
    }

    public var availability: ProviderAvailability {
        if let problem = configuration.problem { return .disabled(reason: problem) }
        return .enabled
    }

    public var startupRefusal: String? { configuration.startupRefusal }

    public var modes: Set<Mode> { configuration.problem == nil ? configuration.mode.map { [$0] } ?? [] : [] }

    /// Confirmations can be lost, so open payments are asked about, as PayU asks of its queries API: the first time
    /// seven minutes after the last change, then at most hourly.
    public var openPaymentPolling: OpenPaymentPolling? { OpenPaymentPolling(quiet: .seconds(420), every: .seconds(3600)) }

    struct Credentials {
        let merchantID: String
        let accountID: String
        let apiKey: String
        let hmacKey: String?
        let algorithm: PayUSignature.Algorithm
    }

    var credentials: Credentials? {
        guard configuration.problem == nil, let merchantID = configuration.merchantID, let accountID = configuration.accountID,
            let apiKey = configuration.apiKey?.value, let algorithm = configuration.algorithm
        else { return nil }
        return Credentials(merchantID: merchantID, accountID: accountID, apiKey: apiKey, hmacKey: configuration.hmacKey?.value, algorithm: algorithm)
    }

    func sign(_ credentials: Credentials, _ fields: [String]) -> String {
        PayUSignature.sign(credentials.algorithm, apiKey: credentials.apiKey, hmacKey: credentials.hmacKey, fields)
    }

    // MARK: - Payments

    public func validate(_ payment: Payment) throws(ProviderError) {
        guard payment.amount.currency.code == "COP" else {
            throw ProviderError(.unsupported, providerCode: "currency", "PayU's Colombian account takes COP only, not \(payment.amount.currency.code).")
        }
        guard payment.amount.minorUnits > 0 else {
            throw ProviderError(.unsupported, providerCode: "amount", "PayU needs an amount above zero.")
        }
        guard let email = payment.customer?.email, !email.isEmpty else {
            throw ProviderError(.unsupported, providerCode: "customer.email", "PayU needs the buyer's customer.email.")
        }
        let method = payment.paymentMethod ?? PaymentMethod(type: PaymentMethod.checkoutType)
        guard method.type != PaymentMethod.checkoutType else { return }
        guard payment.amount.minorUnits % 100 == 0 else {
            throw ProviderError(
                .unsupported, providerCode: "amount",
                "PayU takes PSE and cash payments in whole pesos: amount (in centavos) must be a multiple of 100, and \(payment.amount.minorUnits) is not."
            )
        }
        guard let name = payment.customer?.name, !name.isEmpty else {
            throw ProviderError(.unsupported, providerCode: "customer.name", "PayU needs the buyer's customer.name for \(method.type) payments.")
        }
        if method.type == "cash", let network = CashNetwork.named(method["network"]), !network.limits.contains(payment.amount.minorUnits) {
            let low = Money(minorUnits: network.limits.lowerBound, currency: payment.amount.currency)
            let high = Money(minorUnits: network.limits.upperBound, currency: payment.amount.currency)
            throw ProviderError(
                .unsupported, providerCode: "amount",
                "PayU takes \(network.name) vouchers from \(low.formatted()) to \(high.formatted()); \(payment.amount.formatted()) is outside."
            )
        }
        if method.type == "pse", payment.customer?.phone?.isEmpty ?? true {
            throw ProviderError(.unsupported, providerCode: "customer.phone", "PayU needs the buyer's customer.phone for PSE payments.")
        }
        if method.type == "pse", let id = method["legal_id"], !id.utf8.allSatisfy({ PayUSignature.isDigit($0) || Self.isLetter($0) || $0 == 0x2D }) {
            throw ProviderError(.unsupported, providerCode: "payment_method.legal_id", "payment_method.legal_id must be letters, digits and dashes.")
        }
    }

    static func isLetter(_ byte: UInt8) -> Bool { (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte) }

    public func createPayment(_ request: ProviderPaymentRequest) async throws(ProviderError) -> ProviderPaymentCreation {
        guard let credentials, let api else { throw ProviderError(.disabled, "The PayU provider is disabled.") }
        let payment = request.payment
        guard modes.contains(payment.mode) else {
            throw ProviderError(.unsupported, "The PayU account is configured for \(configuration.modeSetting) mode, not \(payment.mode.rawValue)-mode payments.")
        }
        switch request.paymentMethod.type {
        case PaymentMethod.checkoutType:
            return ProviderPaymentCreation(providerPaymentID: nil, nextAction: .redirect(url: request.formPageURL))
        case "pse":
            let response = try await api.submit(transaction(request, credentials: credentials, paymentMethod: "PSE", expiration: nil))
            try Self.requireAccepted(response)
            guard let bank = response.extra["BANK_URL"], isSafeLink(bank) else {
                throw ProviderError(.unavailable, "PayU gave no bank address for PSE order \(response.orderID).")
            }
            return ProviderPaymentCreation(providerPaymentID: response.orderID, nextAction: .redirect(url: bank))
        case "cash":
            guard let network = CashNetwork.named(request.paymentMethod["network"]) else {
                throw ProviderError(.unsupported, providerCode: "payment_method.network", "PayU does not take that cash network.")
            }
            let at = now()
            let latest = at.addingTimeInterval(Self.maximumVoucherLifetime)
            let expiry = min(payment.expiresAt ?? latest, latest)
            let response = try await api.submit(
                transaction(request, credentials: credentials, paymentMethod: network.paymentMethod, expiration: Self.expirationDate(expiry))
            )
            try Self.requireAccepted(response)
            let reference = response.extra["REFERENCE"] ?? response.orderID
            let expiresAt = response.extra["EXPIRATION_DATE"].flatMap(Int64.init).map(UnixTime.date(milliseconds:)) ?? expiry
            let receipt = response.extra["URL_PAYMENT_RECEIPT_HTML"].flatMap { isSafeLink($0) ? $0 : nil }
            let voucher = Voucher(
                network: network.name, reference: reference, expiresAt: expiresAt, receiptURL: receipt,
                receiptPDFURL: response.extra["URL_PAYMENT_RECEIPT_PDF"].flatMap { isSafeLink($0) ? $0 : nil }
            )
            return ProviderPaymentCreation(providerPaymentID: response.orderID, nextAction: .voucher(voucher, url: receipt ?? request.returnPageURL))
        default:
            throw ProviderError(.unsupported, providerCode: "payment_method.type", "PayU does not take \(request.paymentMethod.type).")
        }
    }

    /// A link PayU gives for the buyer: https on a live account (http only against a test base, the emulator's), with
    /// no spaces or quotes.
    func isSafeLink(_ url: String) -> Bool {
        guard url.utf8.count <= 2048, !url.contains(where: { $0 == " " || $0 == "\"" || $0 == "<" || $0 == ">" }) else { return false }
        return url.hasPrefix("https://") || (configuration.mode != .live && url.hasPrefix("http://"))
    }

    /// A new PSE or cash order must come back `PENDING`; a refusal is the payment's failure, in PayU's words.
    static func requireAccepted(_ response: PayUTransactionResponse) throws(ProviderError) {
        guard response.state == "PENDING" || response.state == "APPROVED" else {
            let why = response.message ?? response.responseCode ?? response.state
            throw ProviderError(.rejected, providerCode: response.responseCode ?? response.state, "PayU refused the order: \(Text.echo(why, limit: 200))")
        }
    }

    /// `2026-12-08T23:59:59`: PayU's `expirationDate`, in Colombia's time.
    static func expirationDate(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = colombia
        formatter.dateFormat = "yyyy-MM-dd'T'HH:mm:ss"
        return formatter.string(from: date)
    }

    /// The `transaction` of `SUBMIT_TRANSACTION` for a PSE or cash order. `TX_VALUE` is whole pesos as a JSON integer,
    /// and the order's signature signs that same integer text, with MD5: the order carries no algorithm field and
    /// every example of PayU's documentation is MD5.
    func transaction(_ request: ProviderPaymentRequest, credentials: Credentials, paymentMethod: String, expiration: String?) -> JSONValue {
        let payment = request.payment
        let pesos = payment.amount.minorUnits / 100
        let signature = PayUSignature.sign(.md5, apiKey: credentials.apiKey, [credentials.merchantID, payment.id, String(pesos), "COP"])
        let description = String((payment.description ?? "Pago \(payment.reference)").prefix(255))
        let customer = payment.customer
        var person: [(String, JSONValue)] = [("fullName", .string(customer?.name)), ("emailAddress", .string(customer?.email))]
        if let phone = customer?.phone { person.append(("contactPhone", .string(phone))) }
        let method = request.paymentMethod
        var payer = person
        if method.type == "pse" {
            person.append(("dniNumber", .string(method["legal_id"])))
            payer += [("dniNumber", .string(method["legal_id"])), ("dniType", .string(method["legal_id_type"]))]
        }
        let buyerIP = method["buyer_ip"] ?? "127.0.0.1"
        var transaction: [(String, JSONValue)] = [
            ("order", .object([
                ("accountId", .string(credentials.accountID)), ("referenceCode", .string(payment.id)), ("description", .string(description)),
                ("language", .string("es")), ("signature", .string(signature)), ("notifyUrl", .string(request.notificationURL)),
                ("additionalValues", .object([
                    ("TX_VALUE", .object([("value", .int(pesos)), ("currency", .string("COP"))])),
                    ("TX_TAX", .object([("value", .int(0)), ("currency", .string("COP"))])),
                    ("TX_TAX_RETURN_BASE", .object([("value", .int(0)), ("currency", .string("COP"))])),
                ])),
                ("buyer", .object(person)),
            ])),
            ("payer", .object(payer)),
            ("type", .string("AUTHORIZATION_AND_CAPTURE")),
            ("paymentMethod", .string(paymentMethod)),
            ("paymentCountry", .string("CO")),
            ("ipAddress", .string(buyerIP)),
        ]
        if method.type == "pse" {
            // PayU's device fields: Settle's server makes the call, so the session is the payment's own id.
            transaction += [("deviceSessionId", .string(payment.id)), ("cookie", .string(payment.id)), ("userAgent", .string("Settle"))]
        }
        if let expiration { transaction.append(("expirationDate", .string(expiration))) }
        if method.type == "pse" {
            transaction.append(("extraParameters", .object([
                ("RESPONSE_URL", .string(request.returnPageURL)),
                ("PSE_REFERENCE1", .string(buyerIP)),
                ("FINANCIAL_INSTITUTION_CODE", .string(method["bank"])),
                ("USER_TYPE", .string(method["user_type"] == "legal" ? "J" : "N")),
                ("PSE_REFERENCE2", .string(method["legal_id_type"])),
                ("PSE_REFERENCE3", .string(method["legal_id"])),
            ])))
        }
        return .object(transaction)
    }

    /// PayU's WebCheckout form for a payment: signed over `merchantId~referenceCode~amount~currency` with `amount`
    /// byte-identical to the posted field; `tax` and `taxReturnBase` are `0` (Settle's amount is the total; without
    /// them PayU would add 19 % IVA).
    public func checkoutForm(for payment: Payment, _ links: ProviderLinks) throws(ProviderError) -> ProviderCheckoutForm? {
        guard let credentials else { throw ProviderError(.disabled, "The PayU provider is disabled.") }
        guard (payment.paymentMethod?.type ?? PaymentMethod.checkoutType) == PaymentMethod.checkoutType else { return nil }
        let amount = PayUSignature.amountText(payment.amount)
        let currency = payment.amount.currency.code
        var fields: [ProviderCheckoutForm.Field] = [
            .init("merchantId", credentials.merchantID), .init("accountId", credentials.accountID),
            .init("description", String((payment.description ?? "Pago \(payment.reference)").prefix(255))),
            .init("referenceCode", payment.id), .init("amount", amount), .init("tax", "0"), .init("taxReturnBase", "0"),
            .init("currency", currency),
            .init("signature", sign(credentials, [credentials.merchantID, payment.id, amount, currency])),
            .init("algorithmSignature", credentials.algorithm.formName),
            .init("buyerEmail", payment.customer?.email ?? ""),
        ]
        if let name = payment.customer?.name { fields.append(.init("buyerFullName", name)) }
        if let phone = payment.customer?.phone { fields.append(.init("telephone", phone)) }
        fields += [
            .init("test", payment.mode == .live ? "0" : "1"), .init("responseUrl", links.returnPageURL),
            .init("confirmationUrl", links.notificationURL),
        ]
        return ProviderCheckoutForm(action: configuration.checkoutBase, fields: fields)
    }

    // MARK: - Confirmations

    /// The fields of a confirmation, from a form body or a JSON object (some accounts send JSON).
    static func fields(of notification: InboundNotification) -> [String: String]? {
        let type = notification.contentType?.lowercased() ?? ""
        if type.hasPrefix("application/json") || notification.body.first == UInt8(ascii: "{") {
            guard case .object(let members)? = try? JSONValue.parse(notification.body) else { return nil }
            var fields: [String: String] = [:]
            for (name, value) in members { if let text = PayUAPI.text(value) { fields[name] = text } }
            return fields
        }
        return FormURLEncoded.parse(notification.body)
    }

    /// A confirmation whose `sign` verifies: what it names, before PayU's API has confirmed it.
    struct SignedConfirmation: Sendable, Hashable {
        /// `reference_sale`: Settle's payment id.
        var reference: String
        /// `reference_pol`: PayU's order. Not covered by the sign.
        var order: String
        var statePol: String
        var amountMinorUnits: Int64
        var currency: String
        /// The confirmation calls itself a test transaction (`test=1`).
        var test: Bool
    }

    /// Checks a confirmation's `sign` (PayU's `new_value` rule, constant time) and merchant, and reads what it names.
    /// Missing, wrong or another merchant's: `invalidSignature`; an amount that is not exact: `malformed`.
    func authenticate(_ notification: InboundNotification) throws(NotificationRejection) -> SignedConfirmation {
        guard let credentials else { throw NotificationRejection(.providerDisabled, "The PayU provider is disabled.") }
        guard let fields = Self.fields(of: notification) else {
            throw NotificationRejection(.invalidSignature, "The body is not a PayU confirmation (neither a form nor a JSON object).")
        }
        guard let presented = fields["sign"], !presented.isEmpty else {
            throw NotificationRejection(.invalidSignature, "The PayU confirmation has no sign.")
        }
        guard let merchant = fields["merchant_id"], let reference = fields["reference_sale"], let value = fields["value"],
            let currency = fields["currency"], let state = fields["state_pol"]
        else { throw NotificationRejection(.invalidSignature, "The PayU confirmation lacks a signed field (merchant_id, reference_sale, value, currency, state_pol).") }
        guard let newValue = PayUSignature.confirmationValue(value) else {
            throw NotificationRejection(.invalidSignature, "The PayU confirmation's value is not a PayU amount.")
        }
        let expected = sign(credentials, [merchant, reference, newValue, currency, state])
        guard PayUSignature.matches(presented, expected) else {
            throw NotificationRejection(.invalidSignature, "The PayU confirmation's sign does not match.")
        }
        guard merchant == credentials.merchantID else {
            throw NotificationRejection(.invalidSignature, "The PayU confirmation is for another merchant.")
        }
        guard let order = fields["reference_pol"], (1...19).contains(order.utf8.count), order.utf8.allSatisfy(PayUSignature.isDigit) else {
            throw NotificationRejection(.malformed, "The PayU confirmation has no reference_pol (PayU's numeric order id).")
        }
        guard let code = Currency.lookup(currency), let money = try? Money(decimal: value, currency: code) else {
            throw NotificationRejection(.malformed, "The PayU confirmation's value \(Text.echo(value, limit: 24)) \(Text.echo(currency, limit: 8)) is not an exact amount.")
        }
        let test = ["1", "true", "TRUE"].contains(fields["test"] ?? "")
        return SignedConfirmation(reference: reference, order: order, statePol: state, amountMinorUnits: money.minorUnits, currency: code.code, test: test)
    }

    /// A confirmation is authenticated, then confirmed with PayU's queries API: its sign covers the reference, the
    /// value, the currency and the state but not the order (`reference_pol`), the response code or the message, and the
    /// response page the buyer sees is signed over the same text (for whole amounts the two `new_value` rules agree),
    /// so a buyer could post their own. Settle asks PayU for the order it names (`ORDER_DETAIL`), requires it to be this
    /// payment's, and applies PayU's state, amount and response code. The event is the order and that state, so PayU's
    /// retries (a new `transaction_id` each) and replays of an earlier state change nothing. A test transaction on a
    /// live account is stored and not acted on. PayU unreachable: 503, and PayU sends it again.
    public func verify(_ notification: InboundNotification) async throws(NotificationRejection) -> VerifiedNotification {
        let signed = try authenticate(notification)
        guard let api else { throw NotificationRejection(.providerDisabled, "The PayU provider is disabled.") }
        let acknowledgement = ProviderAnswer(status: 200, contentType: "text/plain; charset=utf-8", body: Array("OK".utf8))
        let live = configuration.mode == .live
        if live, signed.test {
            return VerifiedNotification(
                events: [ProviderEvent(eventID: "\(signed.order):test:\(signed.statePol)", type: "confirmation:test_transaction", target: .payment(id: signed.reference), outcome: nil)],
                acknowledgement: acknowledgement
            )
        }
        let order: PayUOrder?
        do {
            order = try await api.order(id: signed.order)
        } catch {
            throw NotificationRejection(.unavailable, "PayU could not be asked to confirm order \(signed.order); send it again.")
        }
        guard let order, order.referenceCode == signed.reference else {
            throw NotificationRejection(.invalidSignature, "PayU holds no order \(signed.order) for payment \(Text.echo(signed.reference, limit: 40)).")
        }
        guard !(live && order.isTest), let state = Self.state(order), let transaction = order.decisive else {
            return VerifiedNotification(
                events: [ProviderEvent(eventID: "\(order.id):ignored:\(signed.statePol)", type: "confirmation:\(signed.statePol)", target: .payment(id: signed.reference), outcome: nil)],
                acknowledgement: acknowledgement
            )
        }
        let event = ProviderEvent(
            eventID: "\(order.id):\(transaction.state)", type: "confirmation:\(signed.statePol)", target: .payment(id: signed.reference),
            outcome: state.outcome, amountMinorUnits: state.amountMinorUnits, currencyCode: state.currencyCode, failure: state.failure,
            providerPaymentID: order.id
        )
        return VerifiedNotification(events: [event], acknowledgement: acknowledgement)
    }

    /// `state_pol` as Settle's outcome: 4 succeeded; 6 and 104 failed; 5 expired; 7 and PayU's pending codes processing.
    static func outcome(statePol: String) -> ProviderOutcome? {
        switch statePol {
        case "4": .succeeded
        case "6", "104": .failed
        case "5": .expired
        case "7", "10", "12", "14", "15", "18": .processing
        default: nil
        }
    }

    /// A transaction's `state` in the APIs as Settle's outcome.
    static func outcome(apiState: String) -> ProviderOutcome? {
        switch apiState {
        case "APPROVED": .succeeded
        case "DECLINED", "ERROR": .failed
        case "EXPIRED": .expired
        case "PENDING": .processing
        default: nil
        }
    }

    /// PayU's reason, without control characters, at most 200 characters.
    static func failure(code: String?, message: String?, state: String) -> PaymentFailure {
        let text = message ?? (state == "104" || state == "ERROR" ? "PayU reported an error." : "Declined.")
        let printable = String(String.UnicodeScalarView(text.unicodeScalars.filter { $0.value >= 0x20 && !(0x7F...0x9F).contains($0.value) }))
        let codeText = (code ?? state).lowercased().filter { $0.isLetter || $0.isNumber || $0 == "_" }
        return PaymentFailure(code: String(codeText.prefix(64)), message: String(printable.prefix(200)))
    }

    // MARK: - Asking PayU

    static func state(_ order: PayUOrder) -> ProviderPaymentState? {
        guard let transaction = order.decisive else { return nil }
        let outcome = outcome(apiState: transaction.state)
        var amount: Int64?
        if let value = order.value, let code = order.currency.flatMap(Currency.lookup) {
            amount = try? Money(decimal: value, currency: code).minorUnits
        }
        return ProviderPaymentState(
            outcome: outcome, amountMinorUnits: amount, currencyCode: order.currency, providerPaymentID: order.id,
            failure: outcome == .failed
                ? failure(code: transaction.responseCode, message: transaction.responseMessage ?? transaction.responseCode, state: transaction.state) : nil
        )
    }

    public func fetchPayment(providerPaymentID: String) async throws(ProviderError) -> ProviderPaymentState? {
        guard let api else { throw ProviderError(.disabled, "The PayU provider is disabled.") }
        return try await api.order(id: providerPaymentID).flatMap(Self.state)
    }

    /// By the reference code, which is Settle's payment id: a checkout's order is known only to PayU until its
    /// confirmation arrives.
    public func fetchPayment(for payment: Payment) async throws(ProviderError) -> ProviderPaymentState? {
        guard let api else { throw ProviderError(.disabled, "The PayU provider is disabled.") }
        let found = try await api.orders(referenceCode: payment.id)
        let live = configuration.mode == .live
        let orders = found.filter { $0.referenceCode == payment.id && !(live && $0.isTest) }
        let states = orders.compactMap(Self.state)
        return states.first { $0.outcome == .succeeded } ?? states.first { $0.outcome == .processing } ?? states.last
    }

    /// The buyer is back from PayU with its response page's query: its signature must verify (else
    /// ``ProviderError/Code/unverified``, and nothing is applied), and then PayU's queries API, not the query, says
    /// what happened.
    public func confirmReturn(of payment: Payment, query: [String: String]) async throws(ProviderError) -> ProviderPaymentState? {
        guard let credentials, let presented = query["signature"] else { return nil }
        guard let merchant = query["merchantId"], let reference = query["referenceCode"], let value = query["TX_VALUE"],
            let currency = query["currency"], let state = query["transactionState"], let rounded = PayUSignature.responsePageValue(value),
            PayUSignature.matches(presented, sign(credentials, [merchant, reference, rounded, currency, state])),
            merchant == credentials.merchantID, reference == payment.id
        else { throw ProviderError(.unverified, "PayU's response page query does not verify.") }
        return try await fetchPayment(for: payment)
    }

    /// A cash voucher stays open ``voucherGrace`` past its date: a last-minute counter payment reaches PayU, and then
    /// Settle, some minutes later.
    public func expiryHold(for payment: Payment, transactions: [ProviderTransaction], now: Date) -> Date? {
        guard payment.voucher != nil, let expiresAt = payment.expiresAt else { return nil }
        return expiresAt.addingTimeInterval(Self.voucherGrace)
    }

    public func buyerInstructions(for payment: Payment) -> String? {
        guard let voucher = payment.voucher else { return nil }
        return "Pay in cash at any \(voucher.network == "su_red" ? "Su Red" : voucher.network.capitalized) counter with reference \(voucher.reference)."
    }

    // MARK: - PSE banks

    public func resource(_ name: String, mode: Mode) async throws(ProviderError) -> ProviderResource? {
        guard name == "pse_banks" else { return nil }
        guard let api else { throw ProviderError(.disabled, "The PayU provider is disabled.") }
        return try await banks.list(now: now(), lifetime: Self.bankListLifetime) { () throws(ProviderError) in try await api.pseBanks() }
    }
}

/// Reconciliation: PayU's queries API is asked about each payment by its reference code (Settle's id); refunds are not
/// compared (Settle makes none through PayU).
extension PayUProvider {
    public var reconciliationSource: ReconciliationSource { .perPayment(refunds: false) }
}

/// Refunds: a card payment made on WebCheckout is refunded with `SUBMIT_TRANSACTION` of type `REFUND` on its order's
/// approved transaction (a part names its value in whole pesos). PayU answers `PENDING` while its review decides; the
/// sweep then asks the queries API where the refund stands. Cash and PSE payments are paid back by an operator
/// (PayU's Colombian refund rules for them are not confirmed).
extension PayUProvider {
    public func refundRefusal(for payment: Payment, amount: Int64) -> String? {
        guard (payment.paymentMethod?.type ?? PaymentMethod.checkoutType) == PaymentMethod.checkoutType else { return nil }
        guard payment.amount.currency.code == "COP", amount % 100 == 0 else {
            return "PayU refunds whole pesos: ask for a multiple of 100 minor units, or pay the rest back by other means."
        }
        return nil
    }

    public func refund(_ request: ProviderRefundRequest) async throws(ProviderError) -> ProviderRefundResult {
        let payment = request.payment
        guard (payment.paymentMethod?.type ?? PaymentMethod.checkoutType) == PaymentMethod.checkoutType else {
            return .requiresAction("PayU does not refund cash or PSE payments through its API: pay the buyer back by other means, then confirm the refund.")
        }
        guard let api else { throw ProviderError(.disabled, "The PayU provider is disabled.") }
        guard let orderID = payment.providerPaymentID, let orderNumber = Int64(orderID) else {
            throw ProviderError(.rejected, providerCode: "no_order", "Settle does not know this payment's PayU order.")
        }
        guard let order = try await api.order(id: orderID) else {
            throw ProviderError(.rejected, providerCode: "no_order", "PayU does not know order \(orderID).")
        }
        if order.transactions.contains(where: { $0.type == "REFUND" && $0.state == "PENDING" }) {
            // SUBMIT_TRANSACTION takes no idempotency key: a refund already in review may be this one, asked before
            // an answer was lost. Never ask twice.
            return .requiresAction("A refund of this order is already in PayU's review: check it in PayU's panel, then confirm this refund.")
        }
        guard let parent = order.transactions.first(where: { ($0.type == nil || $0.type == "AUTHORIZATION_AND_CAPTURE") && $0.state == "APPROVED" }) else {
            throw ProviderError(.rejected, providerCode: "not_approved", "PayU shows no approved transaction to refund on order \(orderID).")
        }
        var transaction: [(String, JSONValue)] = [
            ("order", .object([("id", .int(orderNumber))])), ("type", .string("REFUND")),
            ("reason", .string("Settle refund \(request.refundID): \(request.reason)")), ("parentTransactionId", .string(parent.id)),
        ]
        if !request.isFull {
            transaction.append(
                ("additionalValues", .object([("TX_VALUE", .object([("value", .int(request.amount.minorUnits / 100)), ("currency", .string("COP"))]))]))
            )
        }
        let response = try await api.submit(.object(transaction))
        switch response.state {
        case "APPROVED": return .succeeded(providerRefundID: response.transactionID)
        case "PENDING": return .pending(providerRefundID: response.transactionID)
        default:
            throw ProviderError(.rejected, providerCode: response.responseCode, "PayU refused the refund: \(Text.echo(response.message ?? response.state, limit: 200)).")
        }
    }

    /// The refund's transaction on its order, from the queries API.
    public func refundOutcome(providerRefundID: String, of payment: Payment) async throws(ProviderError) -> RefundStatus? {
        guard let api else { throw ProviderError(.disabled, "The PayU provider is disabled.") }
        guard let orderID = payment.providerPaymentID, let order = try await api.order(id: orderID),
            let refund = order.transactions.first(where: { $0.id == providerRefundID && $0.type == "REFUND" })
        else { return nil }
        switch refund.state {
        case "APPROVED": return .succeeded
        case "DECLINED", "ERROR", "EXPIRED": return .failed
        default: return nil
        }
    }
}
