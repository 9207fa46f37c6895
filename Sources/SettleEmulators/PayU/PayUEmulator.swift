import AsyncHTTPClient
import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import SettleCore
import Synchronization

/// Plays the part of PayU Latam (Colombia) that Settle uses, over real HTTP: the WebCheckout form (which refuses a
/// wrong `signature` with PayU's "Firma inválida" page, and a reference already paid), a card page standing in for
/// PayU's, the Payments API (`PING`, `GET_BANKS_LIST`, `SUBMIT_TRANSACTION` for PSE and cash vouchers — Efecty, Baloto,
/// Su Red — with PayU's checks, limits and error envelope), the queries API (`ORDER_DETAIL_BY_REFERENCE_CODE`,
/// `ORDER_DETAIL`, amounts written as two-decimal JSON numbers), a PSE bank page, the cash receipt (HTML and PDF) with
/// a counter where the voucher is paid, and confirmations posted to each order's `confirmationUrl`/`notifyUrl`.
///
/// Sandbox outcomes: on the card page the buyer approves, declines or leaves the payment pending (PayU confirms only
/// final states); on the PSE bank page (banks `1022` "BANCO QUE APRUEBA" and `1051` "BANCO QUE RECHAZA" — every PSE
/// order starts `PENDING`, the page's buttons decide) the buyer approves or declines; a cash voucher is paid at the
/// counter before its date, or ``expire(orderID:)`` lets it lapse. The confirmation is sent before the buyer is sent
/// back to `responseUrl`, as PayU does.
///
/// Every signature — the form's and the order's (`ApiKey~merchantId~referenceCode~amount~currency`), the
/// confirmation's `sign` (PayU's `new_value`: two decimals, a trailing zero dropped) and the response page's
/// `signature` (one decimal, rounded half to even) — is computed here, with the emulator's own hashing and amount
/// texts, never with the adapter's code, so a bug on one side cannot cancel one on the other. Amounts are kept as
/// exact hundredths (never a float).
///
/// Faults: API and queries failures (HTTP 500) and delays, confirmations sent again with new `transaction_id`s (as
/// PayU's retries are), dropped confirmations, confirmations sent as JSON (some accounts), and prepared confirmations
/// that tests tamper with, re-sign with another key or replay by hand.
public final class PayUEmulator: Sendable {
    public struct Configuration: Sendable {
        public var merchantID: String
        public var accountID: String
        public var apiKey: String
        public var apiLogin: String
        /// The account's signature: `md5`, `sha1`, `sha256` or `hmac-sha256` (confirmations, the response page, API
        /// orders). The form names its own in `algorithmSignature`.
        public var algorithm: String
        /// The HMAC-SHA256 key configured in PayU's panel; `nil` keys the HMAC with the ApiKey.
        public var hmacKey: String?
        public var host = "127.0.0.1"
        public var port: Int

        public init(
            merchantID: String = "508029", accountID: String = "512321", apiKey: String, apiLogin: String, algorithm: String = "md5",
            hmacKey: String? = nil, port: Int = 12113
        ) {
            self.merchantID = merchantID
            self.accountID = accountID
            self.apiKey = apiKey
            self.apiLogin = apiLogin
            self.algorithm = algorithm
            self.hmacKey = hmacKey
            self.port = port
        }
    }

    public struct Faults: Sendable {
        /// The next N calls to the Payments or queries API answer HTTP 500.
        public var failNextAPICalls = 0
        /// Every API call waits this long first.
        public var apiDelay: Duration = .zero
        /// Every confirmation is sent N more times, each with a new `transaction_id`.
        public var extraConfirmations = 0
        /// Confirmations are not sent.
        public var dropConfirmations = false
        /// Confirmations are sent as `application/json` with the same keys (every value a JSON string).
        public var confirmationsAsJSON = false
        /// WebCheckout takes a new form for a reference already paid (an account without PayU's unique-reference
        /// validation), so one payment can be paid twice.
        public var allowPaidReference = false
        /// An unknown reference on `ORDER_DETAIL_BY_REFERENCE_CODE` answers `code: ERROR` (instead of an empty result).
        public var unknownReferenceIsError = false
        public init() {}
    }

    /// An order as the emulator keeps it.
    public struct Order: Sendable, Hashable {
        /// PayU's `orderId` (`reference_pol`).
        public var id: Int64
        public var referenceCode: String
        /// As sent: the form's `amount` text, or the API's `TX_VALUE` integer as text.
        public var amount: String
        public var currency: String
        /// `PENDING`, `APPROVED`, `DECLINED`, `EXPIRED`, `ERROR`.
        public var state: String
        /// `VISA` (WebCheckout), `PSE`, `EFECTY`, `BALOTO`, `OTHERS_CASH`.
        public var paymentMethod: String
        public var description: String
        public var buyerEmail: String?
        public var confirmationURL: String?
        public var responseURL: String?
        /// A cash voucher's date.
        public var expiresAt: Date?
        /// A PSE order's bank (`pseCode`).
        public var bank: String?
        /// Every transaction id PayU gave the order: the first at creation, then one per confirmation sent.
        public var transactionIDs: [String]
        public var createdAt: Date
        /// Refunds asked for (`SUBMIT_TRANSACTION` of type `REFUND`): each `PENDING` until PayU's review decides.
        public var refunds: [RefundTransaction] = []

        /// The amount in hundredths.
        var cents: Int64
        var message: String?
        /// The cash receipt's `vid`.
        var receiptID: String?
        var trazabilityCode: String
        var updatedAt: Date
    }

    /// A refund of an order, as PayU keeps it.
    public struct RefundTransaction: Sendable, Hashable {
        public var id: String
        public var parentTransactionID: String
        /// In hundredths of the order's currency.
        public var cents: Int64
        /// `PENDING`, `APPROVED`, `DECLINED`.
        public var state: String
        public var reason: String
    }

    private struct State {
        var orders: [Int64: Order] = [:]
        var nextOrderID: Int64 = 1_400_449_740
        var faults = Faults()
        var port: Int?
        var apiBodies: [String] = []
        var commands: [String] = []
        var sentConfirmations: [String] = []
    }

    /// PayU's sandbox bank list: the placeholder first, then a bank for each outcome.
    public static let banks: [(id: String, description: String, pseCode: String)] = [
        ("34e6e912-a395-4d31-9599-9baa176c1a61", "A continuación seleccione su banco", "0"),
        ("5dfa1b2c-64bd-4e8c-9fad-585337cfd4ff", "BANCO QUE APRUEBA", "1022"),
        ("0b0d3f6e-8a41-4c53-9d0e-2f5a7c1b9e44", "BANCO QUE RECHAZA", "1051"),
    ]

    /// PayU's cash networks and their limits, in whole pesos.
    static let cashLimits: [String: ClosedRange<Int64>] = [
        "EFECTY": 20_000...6_000_000, "BALOTO": 3_000...1_000_000, "OTHERS_CASH": 1_000...4_000_000,
    ]

    /// Colombia's time (no daylight saving time), PayU's for `expirationDate` and its dates.
    static let colombia = TimeZone(secondsFromGMT: -5 * 3600)!
    static let maximumVoucherLifetime: TimeInterval = 7 * 24 * 3600

    let configuration: Configuration
    let httpClient: HTTPClient
    private let store = Mutex(State())
    /// Stands for a decimal amount in a queries answer until the JSON text is written (unguessable, so no field a
    /// merchant sent can be mistaken for it).
    private let amountMarker = "amount-\(Identifier.randomToken(length: 24))"

    public init(configuration: Configuration, httpClient: HTTPClient = .shared) {
        self.configuration = configuration
        self.httpClient = httpClient
    }

    public var faults: Faults {
        get { store.withLock { $0.faults } }
        set { store.withLock { $0.faults = newValue } }
    }

    public var baseURL: String { "http://\(configuration.host):\(store.withLock { $0.port } ?? configuration.port)" }
    public var isRunning: Bool { store.withLock { $0.port } != nil }
    /// Settle's `SETTLE_PAYU_CHECKOUT_BASE`.
    public var checkoutURL: String { baseURL + "/ppp-web-gateway-payu/" }
    /// Settle's `SETTLE_PAYU_API_BASE`.
    public var apiURL: String { baseURL + "/payments-api/4.0/service.cgi" }
    /// Settle's `SETTLE_PAYU_REPORTS_BASE`.
    public var reportsURL: String { baseURL + "/reports-api/4.0/service.cgi" }

    /// The latest order with that reference code.
    public func order(referenceCode: String) -> Order? {
        store.withLock { $0.orders.values.filter { $0.referenceCode == referenceCode }.max { $0.id < $1.id } }
    }

    public func order(id: Int64) -> Order? { store.withLock { $0.orders[id] } }

    /// The raw bodies of every Payments API call, in order (tests pin them to hand-written JSON).
    public var apiBodies: [String] { store.withLock { $0.apiBodies } }
    /// `payments:<command>` or `reports:<command>` of every API call, in order.
    public var commands: [String] { store.withLock { $0.commands } }
    /// `<orderId>:<state_pol>:<transaction_id>` of every confirmation posted, in order.
    public var sentConfirmations: [String] { store.withLock { $0.sentConfirmations } }

    public func application(logger: Logger) -> some ApplicationProtocol {
        Application(
            router: buildRouter(),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "payu-emulator"),
            onServerRunning: { channel in self.store.withLock { $0.port = channel.localAddress?.port } },
            logger: logger
        )
    }

    func buildRouter() -> Router<BasicRequestContext> {
        let router = Router()
        // One route serves `/ppp-web-gateway-payu/` and `/ppp-web-gateway-payu`: the router ignores empty components.
        router.post("ppp-web-gateway-payu") { request, _ in try await self.checkoutForm(request) }
        router.post("ppp-web-gateway-payu/pay") { request, context in try await self.payByCard(request, context: context) }
        router.get("ppp-web-gateway-payu/app/v2") { request, _ in self.receiptPage(request.uri.queryParameters.get("vid") ?? "") }
        router.post("ppp-web-gateway-payu/app/v2/pay") { request, _ in
            try await self.payReceipt(request.uri.queryParameters.get("vid") ?? "")
        }
        router.get("ppp-web-gateway-payu/receipt") { request, _ in self.receiptPDF(request.uri.queryParameters.get("vid") ?? "") }
        router.post("payments-api/4.0/service.cgi") { request, _ in try await self.service(request, api: .payments) }
        router.post("reports-api/4.0/service.cgi") { request, _ in try await self.service(request, api: .reports) }
        router.get("pse/:id") { _, context in self.bankPage(context.parameters.get("id").flatMap { Int64($0) }) }
        router.post("pse/:id") { request, context in
            try await self.bankChoice(request, id: context.parameters.get("id").flatMap { Int64($0) }, context: context)
        }
        return router
    }

    // MARK: - Signatures and amount texts (the emulator's own)

    static func hex<Bytes: Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        bytes.map { String(format: "%02x", $0) }.joined()
    }

    /// `algorithm` (`md5`, `sha1`, `sha256`, `hmac-sha256`) of `text`, lowercase hex.
    func hash(_ algorithm: String, _ text: String) -> String {
        let data = Data(text.utf8)
        switch algorithm.lowercased() {
        case "sha1": return Self.hex(Insecure.SHA1.hash(data: data))
        case "sha256": return Self.hex(SHA256.hash(data: data))
        case "hmac-sha256":
            let key = SymmetricKey(data: Data((configuration.hmacKey ?? configuration.apiKey).utf8))
            return Self.hex(HMAC<SHA256>.authenticationCode(for: data, using: key))
        default: return Self.hex(Insecure.MD5.hash(data: data))
        }
    }

    /// PayU's signature: the ApiKey (or `apiKey`) and `fields` joined with `~`, hashed with `algorithm` (the
    /// account's when `nil`).
    func sign(_ fields: [String], algorithm: String? = nil, apiKey: String? = nil) -> String {
        hash(algorithm ?? configuration.algorithm, ([apiKey ?? configuration.apiKey] + fields).joined(separator: "~"))
    }

    /// The form's `algorithmSignature` as the emulator's algorithm name; `nil` for one PayU does not know.
    static func formAlgorithm(_ name: String?) -> String? {
        switch (name ?? "").uppercased() {
        case "", "MD5": "md5"
        case "SHA", "SHA1": "sha1"
        case "SHA256": "sha256"
        case "HMAC-SHA256", "HMAC_SHA256": "hmac-sha256"
        default: nil
        }
    }

    static func isDigit(_ byte: UInt8) -> Bool { (0x30...0x39).contains(byte) }

    /// `20000`, `20000.5`, `20000.50` as hundredths; `nil` for anything else (signs, exponents, separators, more than
    /// two decimals).
    static func cents(_ text: String) -> Int64? {
        let parts = text.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        guard let whole = parts.first, (1...15).contains(whole.utf8.count), whole.utf8.allSatisfy(isDigit), let units = Int64(whole) else {
            return nil
        }
        var fraction = ""
        if parts.count > 1 {
            fraction = String(parts[1])
            guard (1...2).contains(fraction.utf8.count), fraction.utf8.allSatisfy(isDigit) else { return nil }
        }
        while fraction.utf8.count < 2 { fraction += "0" }
        return units * 100 + Int64(fraction)!
    }

    /// `150000.00`.
    static func twoDecimals(_ cents: Int64) -> String {
        let fraction = cents % 100
        return "\(cents / 100).\(fraction < 10 ? "0" : "")\(fraction)"
    }

    /// The confirmation's `new_value`: two decimals, the second dropped when it is 0 (`150.00` → `150.0`, `150.26` →
    /// `150.26`).
    static func confirmationValue(_ cents: Int64) -> String {
        let text = twoDecimals(cents)
        return cents % 10 == 0 ? String(text.dropLast()) : text
    }

    /// The response page's `new_value`: one decimal, rounded half to even (`150.25` → `150.2`, `150.35` → `150.4`).
    static func responsePageValue(_ cents: Int64) -> String {
        var tenths = cents / 10
        let rest = cents % 10
        if rest > 5 || (rest == 5 && tenths % 2 == 1) { tenths += 1 }
        return "\(tenths / 10).\(tenths % 10)"
    }

    // MARK: - States and codes

    /// `state_pol` / `transactionState`.
    static func statePol(_ state: String) -> String {
        switch state {
        case "APPROVED": "4"
        case "DECLINED": "6"
        case "EXPIRED": "5"
        case "PENDING": "7"
        default: "104"
        }
    }

    /// `response_code_pol` and `response_message_pol` of a `state_pol`.
    static func responseCodes(statePol: String) -> (code: String, message: String) {
        switch statePol {
        case "4": ("1", "APPROVED")
        case "6": ("5", "ENTITY_DECLINED")
        case "5": ("20", "EXPIRED_TRANSACTION")
        case "7": ("25", "PENDING_TRANSACTION_CONFIRMATION")
        default: ("9999", "ERROR")
        }
    }

    /// The API's `responseCode` for a state.
    static func responseCode(_ state: String) -> String {
        switch state {
        case "APPROVED": "APPROVED"
        case "DECLINED": "ENTITY_DECLINED"
        case "PENDING": "PENDING_TRANSACTION_CONFIRMATION"
        case "EXPIRED": "EXPIRED_TRANSACTION"
        default: "ERROR"
        }
    }

    /// The queries API's order `status` for a state.
    static func orderStatus(_ state: String) -> String {
        switch state {
        case "APPROVED": "CAPTURED"
        case "PENDING": "IN_PROGRESS"
        case "EXPIRED": "CANCELLED"
        default: "DECLINED"
        }
    }

    static func isCash(_ method: String) -> Bool { cashLimits[method] != nil }

    /// `payment_method_type`: 2 card, 4 PSE, 7 cash.
    static func methodType(_ method: String) -> String { method == "PSE" ? "4" : isCash(method) ? "7" : "2" }

    static func lapMethodType(_ method: String) -> String { method == "PSE" ? "PSE" : isCash(method) ? "CASH" : "CREDIT_CARD" }

    static func networkName(_ method: String) -> String {
        switch method {
        case "EFECTY": "Efecty"
        case "BALOTO": "Baloto"
        case "OTHERS_CASH": "Su Red"
        default: method
        }
    }

    static func bankName(_ code: String?) -> String { banks.first { $0.pseCode == code }?.description ?? "Banco \(code ?? "")" }

    // MARK: - Small helpers

    static func milliseconds(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1000).rounded(.down)) }

    static func colombiaText(_ date: Date, format: String) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = colombia
        formatter.dateFormat = format
        return formatter.string(from: date)
    }

    /// PayU's `expirationDate` (`yyyy-MM-ddTHH:mm:ss`, milliseconds allowed), in Colombia's time.
    static func colombiaDate(_ text: String) -> Date? {
        for format in ["yyyy-MM-dd'T'HH:mm:ss", "yyyy-MM-dd'T'HH:mm:ss.SSS"] {
            let formatter = DateFormatter()
            formatter.locale = Locale(identifier: "en_US_POSIX")
            formatter.timeZone = colombia
            formatter.dateFormat = format
            if let date = formatter.date(from: text) { return date }
        }
        return nil
    }

    static func newUUID() -> String { UUID().uuidString.lowercased() }

    /// Percent-encoding that leaves only RFC 3986's unreserved characters as they are.
    static func percentEncode(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            let unreserved =
                (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte) || isDigit(byte) || byte == 0x2D || byte == 0x2E || byte == 0x5F
                || byte == 0x7E
            if unreserved { out.unicodeScalars.append(Unicode.Scalar(byte)) } else { out += String(format: "%%%02X", byte) }
        }
        return out
    }

    static func encode(_ pairs: [(String, String)]) -> String {
        pairs.map { "\(percentEncode($0.0))=\(percentEncode($0.1))" }.joined(separator: "&")
    }

    static func escape(_ text: String) -> String { Text.htmlEscaped(text) }

    /// A JSON string or integer as text (PayU takes ids as either).
    static func text(_ value: JSONValue?) -> String? {
        switch value {
        case .string(let text)?: text
        case .int(let number)?: String(number)
        default: nil
        }
    }

    static func json(_ value: JSONValue, status: Int = 200) -> Response {
        jsonText(value.serialized(), status: status)
    }

    static func jsonText(_ text: String, status: Int = 200) -> Response {
        Response(status: .init(code: status), headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    static func html(_ body: String, status: Int = 200) -> Response {
        let page = """
            <!doctype html><html><head><meta charset="utf-8"><title>PayU emulator</title>
            <style>body{font-family:system-ui;max-width:440px;margin:3rem auto}button,input{display:block;width:100%;margin:.5rem 0;padding:.6rem}</style>
            </head><body><p>PayU Latam emulator · sandbox</p>\(body)</body></html>
            """
        return Response(status: .init(code: status), headers: [.contentType: "text/html; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: page)))
    }

    // MARK: - WebCheckout

    /// The WebCheckout form: PayU's checks (merchant, account, fields, amount, then the signature in the form's
    /// `algorithmSignature`), then a card order for the reference (its `PENDING` order reused) and the card page.
    private func checkoutForm(_ request: Request) async throws -> Response {
        let form = FormURLEncoded.parse(Array(buffer: try await request.body.collect(upTo: 1 << 16)))
        guard form["merchantId"] == configuration.merchantID, form["accountId"] == configuration.accountID else {
            return Self.html("<h1 id=\"error\">Comercio o cuenta inválidos</h1>", status: 400)
        }
        var missing: [String] = []
        let reference = form["referenceCode"] ?? ""
        if reference.isEmpty { missing.append("referenceCode") }
        let amountText = form["amount"] ?? ""
        let parsed = Self.cents(amountText)
        if parsed == nil || parsed! <= 0 { missing.append("amount") }
        let currency = form["currency"] ?? ""
        if !["COP", "USD"].contains(currency) { missing.append("currency") }
        let email = form["buyerEmail"] ?? ""
        if !email.contains("@") { missing.append("buyerEmail") }
        guard missing.isEmpty, let cents = parsed else {
            return Self.html("<h1 id=\"error\">Faltan datos del pago</h1><p>Campos inválidos: \(Self.escape(missing.joined(separator: ", ")))</p>", status: 400)
        }
        var signed = [configuration.merchantID, reference, amountText, currency]
        for field in ["paymentMethods", "iin", "pseBanks"] { if let value = form[field], !value.isEmpty { signed.append(value) } }
        guard let algorithm = Self.formAlgorithm(form["algorithmSignature"]), let presented = form["signature"],
            presented.lowercased() == sign(signed, algorithm: algorithm)
        else { return Self.html("<h1 id=\"error\">Firma inválida</h1><p>La firma de la transacción no es válida.</p>", status: 403) }

        let now = Date()
        let chosen = store.withLock { state -> Order? in
            let same = state.orders.values.filter { $0.referenceCode == reference }
            if same.contains(where: { $0.state == "APPROVED" }), !state.faults.allowPaidReference { return nil }
            if var reused = same.filter({ $0.state == "PENDING" && $0.paymentMethod == "VISA" && $0.cents == cents && $0.currency == currency })
                .max(by: { $0.id < $1.id })
            {
                reused.description = form["description"] ?? reused.description
                reused.buyerEmail = email
                reused.responseURL = form["responseUrl"] ?? reused.responseURL
                reused.confirmationURL = form["confirmationUrl"] ?? reused.confirmationURL
                state.orders[reused.id] = reused
                return reused
            }
            let id = state.nextOrderID
            state.nextOrderID += 1
            let created = Order(
                id: id, referenceCode: reference, amount: amountText, currency: currency, state: "PENDING", paymentMethod: "VISA",
                description: form["description"] ?? "", buyerEmail: email, confirmationURL: form["confirmationUrl"],
                responseURL: form["responseUrl"], expiresAt: nil, bank: nil, transactionIDs: [Self.newUUID()], createdAt: now,
                cents: cents, message: nil, receiptID: nil, trazabilityCode: String(Int.random(in: 1_000_000...9_999_999)), updatedAt: now
            )
            state.orders[id] = created
            return created
        }
        guard let order = chosen else { return Self.html("<h1 id=\"error\">Referencia ya pagada</h1><p>La referencia \(Self.escape(reference)) ya fue pagada.</p>", status: 400) }
        return Self.html(
            """
            <h1 id="amount">\(Self.twoDecimals(order.cents)) \(Self.escape(order.currency))</h1>
            <p>Referencia <code id="reference">\(Self.escape(order.referenceCode))</code> · orden \(order.id)</p><p>\(Self.escape(order.description))</p>
            <form method="post" action="/ppp-web-gateway-payu/pay"><input type="hidden" name="order" value="\(order.id)">
            <p>Tarjeta VISA de prueba 4097440000000004</p>
            <button name="outcome" value="approve" id="approve">Aprobar</button>
            <button name="outcome" value="decline" id="decline">Rechazar</button>
            <button name="outcome" value="pending" id="pending">Dejar pendiente</button></form>
            """
        )
    }

    /// The buyer's card outcome. A final one is confirmed before the buyer is sent back to `responseUrl`.
    private func payByCard(_ request: Request, context: BasicRequestContext) async throws -> Response {
        let form = FormURLEncoded.parse(Array(buffer: try await request.body.collect(upTo: 1 << 16)))
        guard let id = form["order"].flatMap({ Int64($0) }), let order = order(id: id), order.paymentMethod == "VISA" else {
            return Self.html("<h1 id=\"error\">Orden inválida</h1>", status: 404)
        }
        let outcome = form["outcome"] ?? ""
        guard ["approve", "decline", "pending"].contains(outcome) else { return Self.html("<h1 id=\"error\">Opción inválida</h1>", status: 400) }
        if order.state == "PENDING" {
            do {
                switch outcome {
                case "approve": try await finish(orderID: id, state: "APPROVED", message: nil)
                case "decline": try await finish(orderID: id, state: "DECLINED", message: "Transacción rechazada por la entidad")
                default: break  // PayU confirms only final states.
                }
            } catch {
                context.logger.warning("PayU emulator: confirmation of order \(id) failed: \(error)")
            }
        }
        return back(orderID: id)
    }

    /// The buyer back to the order's `responseUrl` with PayU's signed query.
    private func back(orderID: Int64) -> Response {
        guard let order = order(id: orderID), let query = responseQuery(orderID: orderID) else {
            return Self.html("<h1 id=\"error\">Orden inválida</h1>", status: 404)
        }
        guard let url = order.responseURL, !url.isEmpty else {
            return Self.html("<h1 id=\"state\">\(Self.escape(order.state))</h1><p>Orden \(order.id), referencia \(Self.escape(order.referenceCode))</p>")
        }
        return Response(status: .found, headers: [.location: url + (url.contains("?") ? "&" : "?") + query])
    }

    /// The query PayU appends to `responseUrl` for an order (signed over one decimal, rounded half to even), as
    /// percent-encoded `k=v&…`. `tamper` claims `transactionState` 4 and another `TX_VALUE` without re-signing;
    /// `claimState` signs another state correctly (a query that verifies but does not say what PayU holds).
    public func responseQuery(orderID: Int64, tamper: Bool = false, claimState: String? = nil) -> String? {
        guard var order = order(id: orderID) else { return nil }
        if let claimState { order.state = claimState }
        let statePol = Self.statePol(order.state)
        let signature = sign([configuration.merchantID, order.referenceCode, Self.responsePageValue(order.cents), order.currency, statePol])
        let shownState = tamper ? "4" : statePol
        let codes = Self.responseCodes(statePol: shownState)
        let lapState = tamper ? "APPROVED" : order.state
        var pairs: [(String, String)] = [
            ("merchantId", configuration.merchantID), ("merchant_name", "Comercio emulado"),
            ("transactionState", shownState), ("polTransactionState", shownState), ("polResponseCode", codes.code),
            ("lapTransactionState", lapState), ("lapResponseCode", codes.message),
            ("message", tamper ? "APPROVED" : order.message ?? order.state),
            ("referenceCode", order.referenceCode), ("reference_pol", String(order.id)),
            ("transactionId", order.transactionIDs.last ?? Self.newUUID()), ("description", order.description),
            ("TX_VALUE", Self.twoDecimals(tamper ? order.cents + 100_000 : order.cents)), ("TX_TAX", "0.00"), ("currency", order.currency),
            ("buyerEmail", order.buyerEmail ?? ""), ("lapPaymentMethod", order.paymentMethod),
            ("lapPaymentMethodType", Self.lapMethodType(order.paymentMethod)),
        ]
        if order.paymentMethod == "PSE" { pairs += [("pseBank", Self.bankName(order.bank)), ("cus", order.trazabilityCode)] }
        pairs += [("processingDate", Self.colombiaText(order.updatedAt, format: "yyyy-MM-dd")), ("signature", signature)]
        return Self.encode(pairs)
    }

    // MARK: - Payments and queries APIs

    enum API: String { case payments, reports }

    /// One `service.cgi` call: recorded, delayed or failed as the faults say, authenticated on `merchant`, then run.
    private func service(_ request: Request, api: API) async throws -> Response {
        let bytes = Array(buffer: try await request.body.collect(upTo: 1 << 20))
        let body = try? JSONValue.parse(bytes)
        let command = body?["command"]?.stringValue ?? ""
        let (fail, delay) = store.withLock { state -> (Bool, Duration) in
            state.commands.append("\(api.rawValue):\(command)")
            if api == .payments { state.apiBodies.append(String(decoding: bytes, as: UTF8.self)) }
            let fail = state.faults.failNextAPICalls > 0
            if fail { state.faults.failNextAPICalls -= 1 }
            return (fail, state.faults.apiDelay)
        }
        if delay > .zero { try await Task.sleep(for: delay) }
        if fail { return Self.jsonText("{}", status: 500) }
        let envelope = api == .payments ? "transactionResponse" : "result"
        guard let body, body.isObject else { return Self.error("El cuerpo de la solicitud no es JSON válido", envelope: envelope) }
        guard body["merchant"]?["apiKey"]?.stringValue == configuration.apiKey, body["merchant"]?["apiLogin"]?.stringValue == configuration.apiLogin
        else { return Self.error("Credenciales inválidas", envelope: envelope) }
        switch (api, command) {
        case (_, "PING"):
            return Self.json(.object([("code", .string("SUCCESS")), ("error", .null), ("transactionResponse", .null)]))
        case (.payments, "GET_BANKS_LIST"):
            let info = body["bankListInformation"]
            guard info?["paymentMethod"]?.stringValue == "PSE", info?["paymentCountry"]?.stringValue == "CO" else {
                return Self.error("property: bankListInformation, message: solo PSE en CO", envelope: envelope)
            }
            return Self.json(
                .object([
                    ("code", .string("SUCCESS")), ("error", .null),
                    ("banks", .array(Self.banks.map { .object([("id", .string($0.id)), ("description", .string($0.description)), ("pseCode", .string($0.pseCode))]) })),
                ])
            )
        case (.payments, "SUBMIT_TRANSACTION"):
            return submit(body)
        case (.reports, "ORDER_DETAIL_BY_REFERENCE_CODE"):
            guard let reference = body["details"]?["referenceCode"]?.stringValue, !reference.isEmpty else {
                return Self.error("property: details.referenceCode, message: no puede ser vacío", envelope: envelope)
            }
            let found = store.withLock { $0.orders.values.filter { $0.referenceCode == reference }.sorted { $0.id < $1.id } }
            guard !found.isEmpty else {
                if faults.unknownReferenceIsError { return Self.error("No se encontraron órdenes para la referencia", envelope: envelope) }
                return Self.json(.object([("code", .string("SUCCESS")), ("error", .null), ("result", .null)]))
            }
            return queriesAnswer(.array(found.map(orderJSON)), amounts: Set(found.flatMap { [$0.cents] + $0.refunds.map(\.cents) }))
        case (.reports, "ORDER_DETAIL"):
            guard let id = Self.text(body["details"]?["orderId"]).flatMap({ Int64($0) }) else {
                return Self.error("property: details.orderId, message: debe ser un número", envelope: envelope)
            }
            guard let found = order(id: id) else {
                return Self.json(.object([("code", .string("SUCCESS")), ("error", .null), ("result", .object([("payload", .null)]))]))
            }
            return queriesAnswer(orderJSON(found), amounts: Set([found.cents] + found.refunds.map(\.cents)))
        default:
            return Self.error("Comando no soportado: \(command)", envelope: envelope)
        }
    }

    /// PayU's refusal: HTTP 200, `code` `ERROR`, the reason in `error`.
    static func error(_ text: String, envelope: String = "transactionResponse") -> Response {
        json(.object([("code", .string("ERROR")), ("error", .string(text)), (envelope, .null)]))
    }

    /// `SUBMIT_TRANSACTION` for PSE and cash: PayU's checks, then a `PENDING` order.
    private func submit(_ body: JSONValue) -> Response {
        guard let transaction = body["transaction"], transaction.isObject, let orderField = transaction["order"], orderField.isObject else {
            return Self.error("property: transaction.order, message: no puede ser nulo")
        }
        if transaction["type"]?.stringValue == "REFUND" { return refund(transaction, order: orderField) }
        guard transaction["type"]?.stringValue == "AUTHORIZATION_AND_CAPTURE" else {
            return Self.error("Tipo de transacción no soportado: \(Self.text(transaction["type"]) ?? "ninguno")")
        }
        guard Self.text(orderField["accountId"]) == configuration.accountID else {
            return Self.error("La cuenta \(Self.text(orderField["accountId"]) ?? "") no existe o no pertenece al comercio")
        }
        guard let reference = orderField["referenceCode"]?.stringValue, !reference.isEmpty, reference.utf8.count <= 255 else {
            return Self.error("property: order.referenceCode, message: no puede ser vacío")
        }
        guard let description = orderField["description"]?.stringValue, !description.isEmpty, description.utf8.count <= 255 else {
            return Self.error("property: order.description, message: no puede ser vacío")
        }
        let txValue = orderField["additionalValues"]?["TX_VALUE"]
        guard let pesos = txValue?["value"]?.intValue, pesos > 0, pesos <= 999_999_999_999 else {
            return Self.error("property: order.additionalValues.TX_VALUE.value, message: debe ser un número entero mayor que cero")
        }
        guard let currency = txValue?["currency"]?.stringValue, currency == "COP" else {
            return Self.error("La moneda \(txValue?["currency"]?.stringValue ?? "") no es válida para la cuenta: solo COP")
        }
        guard let presented = orderField["signature"]?.stringValue,
            presented.lowercased() == sign([configuration.merchantID, reference, String(pesos), currency])
        else { return Self.error("Firma inválida") }
        guard transaction["paymentCountry"].map({ $0.stringValue == "CO" }) ?? true else {
            return Self.error("property: transaction.paymentCountry, message: debe ser CO")
        }
        let method = transaction["paymentMethod"]?.stringValue ?? ""
        let now = Date()
        var expiresAt: Date?
        var bank: String?
        var responseURL: String?
        if let limits = Self.cashLimits[method] {
            if pesos < limits.lowerBound {
                return Self.error("The order value is less than minimum allowed. Minimum value allowed \(limits.lowerBound) COP")
            }
            if pesos > limits.upperBound {
                return Self.error("The order value is greater than maximum allowed. Maximum value allowed \(limits.upperBound) COP")
            }
            let latest = now.addingTimeInterval(Self.maximumVoucherLifetime)
            if let text = transaction["expirationDate"]?.stringValue {
                guard let date = Self.colombiaDate(text) else {
                    return Self.error("property: transaction.expirationDate, message: formato inválido (yyyy-MM-ddTHH:mm:ss)")
                }
                guard date > now else { return Self.error("property: transaction.expirationDate, message: la fecha ya pasó") }
                expiresAt = min(date, latest)
            } else {
                expiresAt = latest
            }
        } else if method == "PSE" {
            let extra = transaction["extraParameters"]
            for name in ["RESPONSE_URL", "FINANCIAL_INSTITUTION_CODE", "USER_TYPE", "PSE_REFERENCE2", "PSE_REFERENCE3"] {
                guard let value = extra?[name]?.stringValue, !value.isEmpty else {
                    return Self.error("property: transaction.extraParameters.\(name), message: es requerido")
                }
            }
            bank = extra?["FINANCIAL_INSTITUTION_CODE"]?.stringValue
            guard Self.banks.contains(where: { $0.pseCode == bank && $0.pseCode != "0" }) else {
                return Self.error("property: transaction.extraParameters.FINANCIAL_INSTITUTION_CODE, message: banco inválido")
            }
            guard ["N", "J"].contains(extra?["USER_TYPE"]?.stringValue ?? "") else {
                return Self.error("property: transaction.extraParameters.USER_TYPE, message: debe ser N o J")
            }
            guard ["CC", "CE", "NIT", "TI", "PP", "IDC", "CEL", "RC", "DE"].contains(extra?["PSE_REFERENCE2"]?.stringValue ?? "") else {
                return Self.error("property: transaction.extraParameters.PSE_REFERENCE2, message: tipo de documento inválido")
            }
            guard let dniType = transaction["payer"]?["dniType"]?.stringValue, !dniType.isEmpty else {
                return Self.error("property: transaction.payer.dniType, message: es requerido para PSE")
            }
            responseURL = extra?["RESPONSE_URL"]?.stringValue
        } else {
            return Self.error("Medio de pago no soportado por el emulador: \(method.isEmpty ? "ninguno" : method)")
        }

        let transactionID = Self.newUUID()
        let trazability = String(Int.random(in: 1_000_000...9_999_999))
        let receiptToken = "\(transactionID.filter { $0 != "-" }.prefix(15))Y\(Self.newUUID().filter { $0 != "-" }.prefix(15))"
        let buyerEmail = orderField["buyer"]?["emailAddress"]?.stringValue ?? transaction["payer"]?["emailAddress"]?.stringValue
        let notifyURL = orderField["notifyUrl"]?.stringValue
        let created = store.withLock { state -> Order? in
            if state.orders.values.contains(where: { $0.referenceCode == reference && ($0.state == "PENDING" || $0.state == "APPROVED") }) {
                return nil
            }
            let id = state.nextOrderID
            state.nextOrderID += 1
            let order = Order(
                id: id, referenceCode: reference, amount: String(pesos), currency: currency, state: "PENDING", paymentMethod: method,
                description: description, buyerEmail: buyerEmail, confirmationURL: notifyURL, responseURL: responseURL, expiresAt: expiresAt, bank: bank,
                transactionIDs: [transactionID], createdAt: now, cents: pesos * 100, message: nil,
                receiptID: Self.isCash(method) ? "\(id)Y\(receiptToken)" : nil,
                trazabilityCode: trazability, updatedAt: now
            )
            state.orders[id] = order
            return order
        }
        guard let order = created else { return Self.error("Ya existe una orden con la referencia \(reference)") }

        let extra: [(String, JSONValue)]
        if method == "PSE" {
            extra = [("TRANSACTION_CYCLE", .string("1")), ("BANK_URL", .string("\(baseURL)/pse/\(order.id)"))]
        } else {
            let vid = order.receiptID ?? ""
            extra = [
                ("REFERENCE", .int(order.id)), ("EXPIRATION_DATE", .int(Self.milliseconds(order.expiresAt ?? now))),
                ("URL_PAYMENT_RECEIPT_HTML", .string("\(baseURL)/ppp-web-gateway-payu/app/v2?vid=\(vid)")),
                ("URL_PAYMENT_RECEIPT_PDF", .string("\(baseURL)/ppp-web-gateway-payu/receipt?vid=\(vid)")),
            ]
        }
        return Self.json(
            .object([
                ("code", .string("SUCCESS")), ("error", .null),
                ("transactionResponse", .object([
                    ("orderId", .int(order.id)), ("transactionId", .string(transactionID)), ("state", .string("PENDING")),
                    ("paymentNetworkResponseCode", .null), ("paymentNetworkResponseErrorMessage", .null),
                    ("trazabilityCode", .string(trazability)), ("authorizationCode", .null),
                    ("pendingReason", .string("AWAITING_NOTIFICATION")), ("responseCode", .string("PENDING_TRANSACTION_CONFIRMATION")),
                    ("errorCode", .null), ("responseMessage", .null), ("transactionDate", .null), ("transactionTime", .null),
                    ("operationDate", .int(Self.milliseconds(now))), ("referenceQuestionnaire", .null),
                    ("extraParameters", .object(extra)),
                    ("additionalInfo", .object([
                        ("paymentNetwork", .string(method)), ("rejectionType", .string("NONE")), ("responseNetworkMessage", .null),
                        ("travelAgencyAuthorizationCode", .null), ("cardType", .null), ("transactionType", .string("AUTHORIZATION_AND_CAPTURE")),
                    ])),
                ])),
            ])
        )
    }

    /// `SUBMIT_TRANSACTION` of type `REFUND`: `order.id`, `parentTransactionId` (the order's approved transaction),
    /// `reason`, and for a part, `additionalValues.TX_VALUE` (whole pesos). PayU answers `PENDING`: its review decides
    /// later (``settleRefund(transactionID:approved:)``), and the order's transactions show the refund.
    private func refund(_ transaction: JSONValue, order orderField: JSONValue) -> Response {
        guard let id = Self.text(orderField["id"]).flatMap({ Int64($0) }), let order = order(id: id) else {
            return Self.error("property: transaction.order.id, message: la orden no existe")
        }
        guard order.state == "APPROVED", let parent = transaction["parentTransactionId"]?.stringValue, order.transactionIDs.contains(parent) else {
            return Self.error("La transacción padre no existe o no está aprobada")
        }
        guard let reason = transaction["reason"]?.stringValue, !reason.isEmpty, reason.utf8.count <= 255 else {
            return Self.error("property: transaction.reason, message: no puede ser vacío")
        }
        var cents = order.cents
        if let value = transaction["additionalValues"]?["TX_VALUE"] {
            guard let pesos = value["value"]?.intValue, pesos > 0, value["currency"]?.stringValue == order.currency else {
                return Self.error("property: transaction.additionalValues.TX_VALUE, message: valor inválido")
            }
            cents = pesos * 100
        }
        let refundID = Self.newUUID()
        let accepted = store.withLock { state -> String? in
            guard var stored = state.orders[id] else { return "la orden no existe" }
            if stored.refunds.contains(where: { $0.state == "PENDING" }) { return "Ya existe una solicitud de reembolso en proceso para esta orden" }
            let refunded = stored.refunds.filter { $0.state != "DECLINED" }.reduce(Int64(0)) { $0 + $1.cents }
            guard cents <= stored.cents - refunded else { return "El valor a reembolsar supera el valor disponible de la orden" }
            stored.refunds.append(RefundTransaction(id: refundID, parentTransactionID: parent, cents: cents, state: "PENDING", reason: reason))
            stored.updatedAt = Date()
            state.orders[id] = stored
            return nil
        }
        if let refusal = accepted { return Self.error(refusal) }
        return Self.json(
            .object([
                ("code", .string("SUCCESS")), ("error", .null),
                ("transactionResponse", .object([
                    ("orderId", .int(id)), ("transactionId", .string(refundID)), ("state", .string("PENDING")),
                    ("pendingReason", .string("PENDING_REVIEW")), ("responseCode", .string("PENDING_REVIEW")),
                    ("responseMessage", .null), ("operationDate", .int(Self.milliseconds(Date()))),
                ])),
            ])
        )
    }

    /// PayU's review of a refund decides it (no confirmation is sent: Settle learns it from the queries API).
    public func settleRefund(transactionID: String, approved: Bool) {
        store.withLock { state in
            for (id, var order) in state.orders {
                guard let index = order.refunds.firstIndex(where: { $0.id == transactionID }) else { continue }
                order.refunds[index].state = approved ? "APPROVED" : "DECLINED"
                order.updatedAt = Date()
                state.orders[id] = order
            }
        }
    }

    /// The refunds of every order, in no order.
    public var refundTransactions: [RefundTransaction] { store.withLock { $0.orders.values.flatMap(\.refunds) } }

    /// The marker standing for an amount; ``queriesAnswer(_:amounts:)`` writes it as a two-decimal JSON number.
    private func amount(_ cents: Int64) -> JSONValue { .string("\(amountMarker):\(cents)") }

    /// An order as the queries API writes it.
    private func orderJSON(_ order: Order) -> JSONValue {
        let merchant: JSONValue = Int64(configuration.merchantID).map { JSONValue.int($0) } ?? .string(configuration.merchantID)
        let account: JSONValue = Int64(configuration.accountID).map { JSONValue.int($0) } ?? .string(configuration.accountID)
        let value = JSONValue.object([("TX_VALUE", .object([("value", amount(order.cents)), ("currency", .string(order.currency))]))])
        let transactionID = order.transactionIDs.last ?? ""
        let refunded = order.refunds.filter { $0.state == "APPROVED" }.reduce(Int64(0)) { $0 + $1.cents }
        return .object([
            ("id", .int(order.id)), ("accountId", account),
            ("status", .string(order.state == "APPROVED" && refunded >= order.cents ? "REFUNDED" : Self.orderStatus(order.state))),
            ("referenceCode", .string(order.referenceCode)), ("description", .string(order.description)), ("airlineCode", .null),
            ("language", .string("es")), ("notifyUrl", .string(order.confirmationURL)), ("shippingAddress", .null),
            ("buyer", .object([("merchantBuyerId", .null), ("fullName", .null), ("emailAddress", .string(order.buyerEmail)), ("contactPhone", .null)])),
            ("antifraudMerchantId", .null), ("isTest", .bool(true)),
            ("transactions", .array([
                .object([
                    ("id", .string(transactionID)), ("order", .null), ("creditCard", .null), ("bankAccount", .null),
                    ("type", .string("AUTHORIZATION_AND_CAPTURE")), ("parentTransactionId", .null),
                    ("paymentMethod", .string(order.paymentMethod)), ("source", .null), ("paymentCountry", .string("CO")),
                    ("transactionResponse", .object([
                        ("state", .string(order.state)), ("paymentNetworkResponseCode", .null), ("paymentNetworkResponseErrorMessage", .null),
                        ("trazabilityCode", .string(order.trazabilityCode)), ("authorizationCode", .null), ("pendingReason", .null),
                        ("responseCode", .string(Self.responseCode(order.state))), ("errorCode", .null), ("responseMessage", .null),
                        ("transactionDate", .null), ("transactionTime", .null), ("operationDate", .int(Self.milliseconds(order.updatedAt))),
                        ("extraParameters", .null),
                    ])),
                    ("expirationDate", .null), ("additionalValues", value),
                ])
            ] + order.refunds.map { refund in
                .object([
                    ("id", .string(refund.id)), ("type", .string("REFUND")), ("parentTransactionId", .string(refund.parentTransactionID)),
                    ("paymentMethod", .string(order.paymentMethod)), ("paymentCountry", .string("CO")),
                    ("transactionResponse", .object([
                        ("state", .string(refund.state)), ("responseCode", .string(refund.state == "PENDING" ? "PENDING_REVIEW" : refund.state)),
                        ("operationDate", .int(Self.milliseconds(order.updatedAt))),
                    ])),
                    ("additionalValues", .object([("TX_VALUE", .object([("value", amount(refund.cents)), ("currency", .string(order.currency))]))])),
                ])
            })),
            ("additionalValues", value), ("creationDate", .int(Self.milliseconds(order.createdAt))),
            ("isCreatedUsingStandardIntegrationParams", .null), ("merchantId", merchant),
            ("processedTransactionId", .string(transactionID)), ("orderSignature", .null),
        ])
    }

    /// A successful queries answer around `payload`, its amounts written as PayU does: JSON numbers with two decimals
    /// (`150000.00`), which ``JSONValue`` cannot hold, so they are put into the text.
    private func queriesAnswer(_ payload: JSONValue, amounts: Set<Int64>) -> Response {
        var text = JSONValue.object([("code", .string("SUCCESS")), ("error", .null), ("result", .object([("payload", payload)]))]).serialized()
        for cents in amounts {
            text = text.replacingOccurrences(of: "\"\(amountMarker):\(cents)\"", with: Self.twoDecimals(cents))
        }
        return Self.jsonText(text)
    }

    // MARK: - PSE bank

    private func bankPage(_ id: Int64?) -> Response {
        guard let id, let order = order(id: id), order.paymentMethod == "PSE" else { return Self.html("<h1 id=\"error\">No existe</h1>", status: 404) }
        let buttons =
            order.state != "PENDING"
            ? "<p>Estado: <span id=\"state\">\(Self.escape(order.state))</span></p>"
            : #"<button name="outcome" value="approve" id="approve">Aprobar</button><button name="outcome" value="decline" id="decline">Rechazar</button>"#
        return Self.html(
            """
            <h1>PSE · <span id="bank">\(Self.escape(Self.bankName(order.bank)))</span></h1>
            <p id="amount">\(Self.twoDecimals(order.cents)) \(Self.escape(order.currency))</p><p>Referencia \(Self.escape(order.referenceCode))</p>
            <form method="post" action="/pse/\(order.id)">\(buttons)</form>
            """
        )
    }

    /// At the bank: the buyer approves or declines; the confirmation goes first, then the buyer to `RESPONSE_URL`.
    private func bankChoice(_ request: Request, id: Int64?, context: BasicRequestContext) async throws -> Response {
        let form = FormURLEncoded.parse(Array(buffer: try await request.body.collect(upTo: 4096)))
        guard let id, let order = order(id: id), order.paymentMethod == "PSE" else { return Self.html("<h1 id=\"error\">No existe</h1>", status: 404) }
        if order.state == "PENDING" {
            do {
                switch form["outcome"] {
                case "approve": try await finish(orderID: id, state: "APPROVED", message: nil)
                case "decline": try await finish(orderID: id, state: "DECLINED", message: "Transacción rechazada por la entidad")
                default: return Self.html("<h1 id=\"error\">Opción inválida</h1>", status: 400)
                }
            } catch {
                context.logger.warning("PayU emulator: confirmation of order \(id) failed: \(error)")
            }
        }
        return back(orderID: id)
    }

    // MARK: - Cash receipt and counter

    private func cashOrder(receipt vid: String) -> Order? {
        guard !vid.isEmpty else { return nil }
        return store.withLock { $0.orders.values.first { $0.receiptID == vid } }
    }

    private func receiptPage(_ vid: String) -> Response {
        guard let order = cashOrder(receipt: vid) else { return Self.html("<h1 id=\"error\">Comprobante no encontrado</h1>", status: 404) }
        let expires = order.expiresAt.map { Self.colombiaText($0, format: "yyyy-MM-dd HH:mm:ss") } ?? ""
        return Self.html(
            """
            <h1 id="network">\(Self.escape(Self.networkName(order.paymentMethod)))</h1>
            <p>Referencia de pago: <strong id="reference">\(order.id)</strong></p>
            <p>Valor: <span id="amount">\(Self.twoDecimals(order.cents)) \(Self.escape(order.currency))</span></p>
            <p>Paga antes de: <span id="expires">\(Self.escape(expires))</span> (hora de Colombia)</p>
            <p>Estado: <span id="state">\(Self.escape(order.state))</span></p>
            <form method="post" action="/ppp-web-gateway-payu/app/v2/pay?vid=\(Self.escape(Self.percentEncode(vid)))">
            <button id="paid">Pagado en el punto</button></form>
            """
        )
    }

    private func payReceipt(_ vid: String) async throws -> Response {
        guard let order = cashOrder(receipt: vid) else { return Self.html("<h1 id=\"error\">Comprobante no encontrado</h1>", status: 404) }
        guard try await payAtCounter(orderID: order.id) else { return Self.html("<h1 id=\"error\">Voucher vencido o ya pagado</h1>", status: 409) }
        return Self.html("<h1 id=\"state\">APPROVED</h1><p>Pago registrado para la referencia \(order.id).</p>")
    }

    private func receiptPDF(_ vid: String) -> Response {
        guard let order = cashOrder(receipt: vid) else { return Self.html("<h1 id=\"error\">Comprobante no encontrado</h1>", status: 404) }
        let pdf = "%PDF-1.4\n% Comprobante \(order.id) \(Self.networkName(order.paymentMethod)) \(Self.twoDecimals(order.cents)) \(order.currency)\n%%EOF\n"
        return Response(status: .ok, headers: [.contentType: "application/pdf"], body: .init(byteBuffer: ByteBuffer(string: pdf)))
    }

    // MARK: - What the buyer, the bank and PayU do

    /// Moves an order to a final state (APPROVED=4, DECLINED=6, EXPIRED=5, ERROR=104) and sends its confirmation (plus
    /// `faults.extraConfirmations` copies with new transaction ids) to the order's confirmationURL.
    public func finish(orderID: Int64, state: String, message: String?) async throws {
        let changed = store.withLock { store -> Bool in
            guard store.orders[orderID] != nil else { return false }
            store.orders[orderID]!.state = state
            store.orders[orderID]!.message = message
            store.orders[orderID]!.updatedAt = Date()
            return true
        }
        if changed, state != "PENDING" { try await sendConfirmations(orderID: orderID) }
    }

    /// PayU's record of an order says another amount than the one Settle asked for (in hundredths of the currency).
    public func alter(orderID: Int64, cents: Int64) {
        store.withLock { state in
            guard var order = state.orders[orderID] else { return }
            order.cents = cents
            order.amount = Self.twoDecimals(cents)
            state.orders[orderID] = order
        }
    }

    /// The buyer pays a cash voucher at the counter: only a PENDING cash order before its expiresAt; returns false
    /// otherwise.
    @discardableResult
    public func payAtCounter(orderID: Int64) async throws -> Bool {
        let now = Date()
        let paid = store.withLock { store -> Bool in
            guard let order = store.orders[orderID], Self.isCash(order.paymentMethod), order.state == "PENDING", let expiresAt = order.expiresAt,
                now < expiresAt
            else { return false }
            store.orders[orderID]!.state = "APPROVED"
            store.orders[orderID]!.message = nil
            store.orders[orderID]!.updatedAt = now
            return true
        }
        if paid { try await sendConfirmations(orderID: orderID) }
        return paid
    }

    /// PayU's expiry of an unpaid cash voucher: EXPIRED (state_pol 5) + confirmation.
    public func expire(orderID: Int64) async throws {
        let expired = store.withLock { store -> Bool in
            guard store.orders[orderID]?.state == "PENDING" else { return false }
            store.orders[orderID]!.state = "EXPIRED"
            store.orders[orderID]!.message = "Transacción expirada"
            store.orders[orderID]!.updatedAt = Date()
            return true
        }
        if expired { try await sendConfirmations(orderID: orderID) }
    }

    // MARK: - Confirmations

    /// A confirmation for an order's current state as (headers, body) — for tests to tamper/replay. Overrides: value
    /// (e.g. "999.00" still correctly signed), statePol, signWith (another api key → wrong sign), omitSign.
    public func confirmation(
        orderID: Int64, value: String? = nil, statePol: String? = nil, signWithKey: String? = nil, omitSign: Bool = false, transactionID: String? = nil
    ) -> (headers: [(String, String)], body: [UInt8])? {
        guard let order = order(id: orderID) else { return nil }
        let asJSON = faults.confirmationsAsJSON
        let statePol = statePol ?? Self.statePol(order.state)
        let codes = Self.responseCodes(statePol: statePol)
        let valueText = value ?? Self.twoDecimals(order.cents)
        let newValue = Self.cents(valueText).map(Self.confirmationValue) ?? valueText
        let signature = sign([configuration.merchantID, order.referenceCode, newValue, order.currency, statePol], apiKey: signWithKey)
        var fields: [(String, String)] = [
            ("merchant_id", configuration.merchantID), ("state_pol", statePol), ("response_code_pol", codes.code),
            ("response_message_pol", codes.message), ("reference_sale", order.referenceCode), ("reference_pol", String(order.id)),
            ("transaction_id", transactionID ?? Self.newUUID()),
        ]
        if !omitSign { fields.append(("sign", signature)) }
        fields += [
            ("value", valueText), ("currency", order.currency), ("tax", "0.00"), ("additional_value", "0.00"),
            ("transaction_date", Self.colombiaText(order.updatedAt, format: "yyyy-MM-dd HH:mm:ss")),
            ("payment_method_type", Self.methodType(order.paymentMethod)), ("payment_method_name", order.paymentMethod), ("test", "1"),
            ("email_buyer", order.buyerEmail ?? ""), ("description", order.description), ("attempts", "1"),
        ]
        if order.paymentMethod == "PSE" { fields += [("pse_bank", Self.bankName(order.bank)), ("cus", order.trazabilityCode)] }
        if asJSON {
            return ([("content-type", "application/json")], JSONValue.object(fields.map { ($0.0, .string($0.1)) }).bytes())
        }
        return ([("content-type", "application/x-www-form-urlencoded")], Array(Self.encode(fields).utf8))
    }

    /// The fields of a prepared confirmation (form or JSON).
    static func fields(of confirmation: (headers: [(String, String)], body: [UInt8])) -> [String: String] {
        let isJSON = confirmation.headers.contains { $0.0.lowercased() == "content-type" && $0.1.lowercased().hasPrefix("application/json") }
        guard isJSON else { return FormURLEncoded.parse(confirmation.body) }
        guard case .object(let members)? = try? JSONValue.parse(confirmation.body) else { return [:] }
        var fields: [String: String] = [:]
        for (name, value) in members { if let text = Self.text(value) { fields[name] = text } }
        return fields
    }

    /// Sends the confirmation of an order's current state, and again `faults.extraConfirmations` times, each with a
    /// new `transaction_id` (kept in the order's `transactionIDs`).
    func sendConfirmations(orderID: Int64) async throws {
        let faults = self.faults
        guard !faults.dropConfirmations, let url = order(id: orderID)?.confirmationURL, !url.isEmpty else { return }
        for _ in 0...max(0, faults.extraConfirmations) {
            let transactionID = Self.newUUID()
            _ = store.withLock { $0.orders[orderID]?.transactionIDs.append(transactionID) }
            guard let confirmation = confirmation(orderID: orderID, transactionID: transactionID) else { return }
            try await deliver(confirmation, to: url)
        }
    }

    /// Posts a prepared confirmation to `url`; returns the HTTP status.
    @discardableResult
    public func deliver(_ confirmation: (headers: [(String, String)], body: [UInt8]), to url: String) async throws -> Int {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        for (name, value) in confirmation.headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(bytes: confirmation.body))
        let response = try await httpClient.execute(request, timeout: .seconds(15))
        _ = try await response.body.collect(upTo: 1 << 16)
        let fields = Self.fields(of: confirmation)
        let id = "\(fields["reference_pol"] ?? ""):\(fields["state_pol"] ?? ""):\(fields["transaction_id"] ?? "")"
        store.withLock { $0.sentConfirmations.append(id) }
        return Int(response.status.code)
    }
}
