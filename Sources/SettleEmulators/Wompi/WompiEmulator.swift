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

/// Plays the part of Wompi that Settle uses, over real HTTP: the merchant's acceptance tokens, transactions (create,
/// read, list by reference, void), the PSE bank list, Web Checkout (which refuses a wrong integrity signature, as
/// Wompi does), a bank page for PSE and Bancolombia, a Nequi approval page standing in for the app, and events posted
/// with Wompi's checksum and `X-Event-Checksum`. Sandbox outcomes: card `4242…` approves and `4111…` declines; Nequi
/// `3991111111` approves, `3992222222` declines, any other number errors; PSE bank `1` approves, `2` declines.
///
/// The checksum and the integrity signature are computed here from the emulator's own records, not with the
/// adapter's code, so a bug on one side cannot cancel one on the other. Faults: API failures and delays, duplicated,
/// dropped or hand-delivered (out-of-order) events, and events whose `signature.properties` come in another order.
public final class WompiEmulator: Sendable {
    public struct Configuration: Sendable {
        public var publicKey: String
        public var privateKey: String
        public var eventsSecret: String
        public var integritySecret: String
        /// Where events go (Settle's `/v1/webhooks/wompi`); `nil` drops them.
        public var eventsURL: String?
        public var host = "127.0.0.1"
        public var port: Int

        public init(publicKey: String, privateKey: String, eventsSecret: String, integritySecret: String, eventsURL: String?, port: Int = 12112) {
            self.publicKey = publicKey
            self.privateKey = privateKey
            self.eventsSecret = eventsSecret
            self.integritySecret = integritySecret
            self.eventsURL = eventsURL
            self.port = port
        }
    }

    /// A transaction as the emulator keeps it.
    public struct Transaction: Sendable, Hashable {
        public var id: String
        public var reference: String
        public var amountInCents: Int64
        public var currency: String
        public var status: String
        public var statusMessage: String?
        /// `CARD`, `PSE`, `NEQUI`, `BANCOLOMBIA_TRANSFER`.
        public var methodType: String
        public var redirectURL: String?
        public var customerEmail: String?
        public var phone: String?
        public var bank: String?
        /// Wompi shows the bank's URL a moment after creation: from the first read on.
        public var bankURLShown = false
        public var createdAt: Date

        func json(baseURL: String) -> JSONValue {
            var extra: [(String, JSONValue)] = []
            if bankURLShown, methodType == "PSE" || methodType == "BANCOLOMBIA_TRANSFER" {
                extra.append(("async_payment_url", .string("\(baseURL)/bank/\(id)")))
            }
            return .object([
                ("id", .string(id)), ("created_at", .string(ISO8601DateFormatter().string(from: createdAt))),
                ("amount_in_cents", .int(amountInCents)), ("reference", .string(reference)), ("customer_email", .string(customerEmail)),
                ("currency", .string(currency)), ("payment_method_type", .string(methodType)),
                ("payment_method", .object([("type", .string(methodType)), ("extra", .object(extra))])),
                ("status", .string(status)), ("status_message", .string(statusMessage)), ("redirect_url", .string(redirectURL)),
            ])
        }

        /// The text of one checksum property, from this record (not from any JSON).
        func checksumValue(_ property: String) -> String {
            switch property {
            case "transaction.id": id
            case "transaction.status": status
            case "transaction.amount_in_cents": String(amountInCents)
            case "transaction.reference": reference
            case "transaction.currency": currency
            default: ""
            }
        }
    }

    public struct Faults: Sendable {
        /// The next N API calls answer 500.
        public var failNextAPICalls = 0
        /// Every API call waits this long first.
        public var apiDelay: Duration = .zero
        /// Every event is sent twice.
        public var duplicateEvents = false
        /// Events list `signature.properties` in another order (the checksum follows that order).
        public var reorderProperties = false
        public init() {}
    }

    private struct State {
        var transactions: [String: Transaction] = [:]
        var checkouts: [String: [String: String]] = [:]
        var faults = Faults()
        var port: Int?
        var eventsURL: String?
        var createBodies: [String] = []
        var apiCalls: [String] = []
        var sentEvents: [String] = []
        var acceptanceToken = "eyJhbGciOiJIUzI1NiJ9.acceptance-\(Identifier.randomToken(length: 12))"
        var personalDataToken = "eyJhbGciOiJIUzI1NiJ9.personal-\(Identifier.randomToken(length: 12))"
    }

    public static let banks = [("1", "Banco que aprueba"), ("2", "Banco que declina")]

    let configuration: Configuration
    let httpClient: HTTPClient
    private let state = Mutex(State())

    public init(configuration: Configuration, httpClient: HTTPClient = .shared) {
        self.configuration = configuration
        self.httpClient = httpClient
        state.withLock { $0.eventsURL = configuration.eventsURL }
    }

    public var eventsURL: String? {
        get { state.withLock { $0.eventsURL } }
        set { state.withLock { $0.eventsURL = newValue } }
    }

    public var faults: Faults {
        get { state.withLock { $0.faults } }
        set { state.withLock { $0.faults = newValue } }
    }

    public var baseURL: String { "http://\(configuration.host):\(state.withLock { $0.port } ?? configuration.port)" }
    public var isRunning: Bool { state.withLock { $0.port } != nil }
    public func transaction(_ id: String) -> Transaction? { state.withLock { $0.transactions[id] } }
    public func transactions(reference: String) -> [Transaction] {
        state.withLock { $0.transactions.values.filter { $0.reference == reference }.sorted { $0.createdAt < $1.createdAt } }
    }
    /// The raw bodies of every `POST /transactions`, in order (tests pin them to hand-written JSON).
    public var receivedCreateBodies: [String] { state.withLock { $0.createBodies } }
    /// `METHOD path` of every API call, in order.
    public var apiCalls: [String] { state.withLock { $0.apiCalls } }
    public var acceptanceToken: String { state.withLock { $0.acceptanceToken } }
    /// The ids of the events sent (`<transaction>:<status>`), in order.
    public var sentEvents: [String] { state.withLock { $0.sentEvents } }

    /// SHA-256 as lowercase hex, written here rather than borrowed from the adapter.
    static func sha256(_ text: String) -> String {
        SHA256.hash(data: Data(text.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    /// Wompi's integrity signature, from the emulator's own reading of the fields.
    func integrity(reference: String, amount: String, currency: String, expiration: String?) -> String {
        Self.sha256(reference + amount + currency + (expiration ?? "") + configuration.integritySecret)
    }

    public func application(logger: Logger) -> some ApplicationProtocol {
        Application(
            router: buildRouter(),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "wompi-emulator"),
            onServerRunning: { channel in self.state.withLock { $0.port = channel.localAddress?.port } },
            logger: logger
        )
    }

    func buildRouter() -> Router<BasicRequestContext> {
        let router = Router()
        router.get("v1/merchants/:key") { request, context in
            try await self.api(request, key: .publicKey) { try self.merchant(try context.parameters.require("key")) }
        }
        router.post("v1/transactions") { request, context in
            try await self.api(request, key: .privateKey) { try await self.create(request) }
        }
        router.get("v1/transactions") { request, _ in
            try await self.api(request, key: .privateKey) { self.list(reference: request.uri.queryParameters.get("reference") ?? "") }
        }
        router.get("v1/transactions/:id") { request, context in
            try await self.api(request, key: .either) { self.read(try context.parameters.require("id")) }
        }
        router.post("v1/transactions/:id/void") { request, context in
            try await self.api(request, key: .privateKey) { try await self.voidTransaction(try context.parameters.require("id")) }
        }
        router.get("v1/pse/financial_institutions") { request, _ in
            try await self.api(request, key: .publicKey) {
                Self.json(.object([("data", .array(Self.banks.map { .object([("financial_institution_code", .string($0.0)), ("financial_institution_name", .string($0.1))]) }))]))
            }
        }
        router.get("p") { request, _ in self.checkoutPage(request) }
        router.post("p/pay") { request, _ in try await self.payByCard(request) }
        router.get("bank/:id") { _, context in self.bankPage(try context.parameters.require("id")) }
        router.post("bank/:id") { request, context in try await self.bankChoice(request, id: try context.parameters.require("id")) }
        router.get("nequi/:id") { _, context in self.nequiPage(try context.parameters.require("id")) }
        router.post("nequi/:id") { _, context in
            try await self.respondInNequi(transactionID: try context.parameters.require("id"))
            return Self.html("<p>Respuesta enviada desde la app.</p>")
        }
        return router
    }

    // MARK: - API

    enum Key { case publicKey, privateKey, either }

    private func api(_ request: Request, key: Key, _ body: () async throws -> Response) async throws -> Response {
        let (fail, delay) = state.withLock { state -> (Bool, Duration) in
            state.apiCalls.append("\(request.method) \(request.uri.path)")
            let fail = state.faults.failNextAPICalls > 0
            if fail { state.faults.failNextAPICalls -= 1 }
            return (fail, state.faults.apiDelay)
        }
        if delay > .zero { try await Task.sleep(for: delay) }
        if fail { return Self.error(500, type: "INTERNAL_SERVER_ERROR", reason: "Error interno (emulado).") }
        let presented = request.headers[.authorization]
        let allowed: [String] =
            switch key {
            case .publicKey: [configuration.publicKey]
            case .privateKey: [configuration.privateKey]
            case .either: [configuration.publicKey, configuration.privateKey]
            }
        guard allowed.contains(where: { presented == "Bearer \($0)" }) else {
            return Self.error(401, type: "INVALID_ACCESS_TOKEN", reason: "Se esperaba una llave válida.")
        }
        return try await body()
    }

    static func error(_ status: Int, type: String, reason: String? = nil, messages: [String: [String]] = [:]) -> Response {
        var error: [(String, JSONValue)] = [("type", .string(type))]
        if let reason { error.append(("reason", .string(reason))) }
        if !messages.isEmpty {
            error.append(("messages", .object(messages.keys.sorted().map { ($0, .array(messages[$0]!.map(JSONValue.string))) })))
        }
        return json(.object([("error", .object(error))]), status: status)
    }

    static func json(_ value: JSONValue, status: Int = 200) -> Response {
        Response(status: .init(code: status), headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: value.bytes())))
    }

    static func html(_ body: String, status: Int = 200) -> Response {
        let page = """
            <!doctype html><html><head><meta charset="utf-8"><title>Wompi emulator</title>
            <style>body{font-family:system-ui;max-width:440px;margin:3rem auto}button,input{display:block;width:100%;margin:.5rem 0;padding:.6rem}</style>
            </head><body><p>Wompi emulator · sandbox</p>\(body)</body></html>
            """
        return Response(status: .init(code: status), headers: [.contentType: "text/html; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: page)))
    }

    private func merchant(_ key: String) throws -> Response {
        guard key == configuration.publicKey else { return Self.error(404, type: "NOT_FOUND_ERROR", reason: "La entidad solicitada no existe") }
        let (acceptance, personal) = state.withLock { ($0.acceptanceToken, $0.personalDataToken) }
        return Self.json(
            .object([
                ("data", .object([
                    ("id", .int(1)), ("name", .string("Comercio emulado")), ("public_key", .string(key)),
                    ("presigned_acceptance", .object([
                        ("acceptance_token", .string(acceptance)), ("permalink", .string("\(baseURL)/terms.pdf")), ("type", .string("END_USER_POLICY")),
                    ])),
                    ("presigned_personal_data_auth", .object([
                        ("acceptance_token", .string(personal)), ("permalink", .string("\(baseURL)/privacy.pdf")), ("type", .string("PERSONAL_DATA_AUTH")),
                    ])),
                ]))
            ])
        )
    }

    /// `POST /v1/transactions`: checks what Wompi checks (fields, the integrity signature, the acceptance token, a
    /// unique reference), then creates it `PENDING`.
    private func create(_ request: Request) async throws -> Response {
        let bytes = Array(buffer: try await request.body.collect(upTo: 1 << 20))
        state.withLock { $0.createBodies.append(String(decoding: bytes, as: UTF8.self)) }
        guard let body = try? JSONValue.parse(bytes), body.isObject else {
            return Self.error(400, type: "BAD_REQUEST", reason: "El cuerpo no es JSON")
        }
        var messages: [String: [String]] = [:]
        let amount = body["amount_in_cents"]?.intValue
        if amount == nil || amount! <= 0 { messages["amount_in_cents"] = ["Debe ser un entero mayor que 0"] }
        if body["currency"]?.stringValue != "COP" { messages["currency"] = ["Debe ser COP"] }
        let reference = body["reference"]?.stringValue ?? ""
        if reference.isEmpty { messages["reference"] = ["Es requerido"] }
        if body["customer_email"]?.stringValue?.contains("@") != true { messages["customer_email"] = ["Debe ser un email válido"] }
        if body["acceptance_token"]?.stringValue != acceptanceToken { messages["acceptance_token"] = ["El token de aceptación no es válido"] }
        let expiration = body["expiration_time"]?.stringValue
        if let amount, body["signature"]?.stringValue != integrity(reference: reference, amount: String(amount), currency: "COP", expiration: expiration) {
            messages["signature"] = ["La firma es inválida"]
        }
        let method = body["payment_method"]
        let type = method?["type"]?.stringValue ?? ""
        var phone: String?
        var bank: String?
        switch type {
        case "PSE":
            if ![0, 1].contains(method?["user_type"]?.intValue) { messages["payment_method.user_type"] = ["Debe ser 0 o 1"] }
            if method?["user_legal_id_type"]?.stringValue == nil { messages["payment_method.user_legal_id_type"] = ["Es requerido"] }
            if method?["user_legal_id"]?.stringValue == nil { messages["payment_method.user_legal_id"] = ["Es requerido"] }
            bank = method?["financial_institution_code"]?.stringValue
            if bank == nil { messages["payment_method.financial_institution_code"] = ["Es requerido"] }
            if (method?["payment_description"]?.stringValue ?? "").count > 30 || method?["payment_description"]?.stringValue == nil {
                messages["payment_method.payment_description"] = ["Debe tener entre 1 y 30 caracteres"]
            }
        case "NEQUI":
            phone = method?["phone_number"]?.stringValue
            if phone?.count != 10 { messages["payment_method.phone_number"] = ["Debe tener 10 dígitos"] }
        case "BANCOLOMBIA_TRANSFER":
            if method?["user_type"]?.stringValue != "PERSON" { messages["payment_method.user_type"] = ["Debe ser PERSON"] }
            if (method?["payment_description"]?.stringValue ?? "").count > 64 { messages["payment_method.payment_description"] = ["Máximo 64 caracteres"] }
        default:
            messages["payment_method.type"] = ["Tipo de método de pago no soportado"]
        }
        if !transactions(reference: reference).isEmpty { messages["reference"] = ["La referencia ya ha sido usada"] }
        guard messages.isEmpty, let amount else { return Self.error(422, type: "INPUT_VALIDATION_ERROR", messages: messages) }
        let transaction = Transaction(
            id: "\(Int.random(in: 10_000...99_999))-\(Int(Date().timeIntervalSince1970))-\(Int.random(in: 10_000...99_999))",
            reference: reference, amountInCents: amount, currency: "COP", status: "PENDING", statusMessage: nil, methodType: type,
            redirectURL: body["redirect_url"]?.stringValue, customerEmail: body["customer_email"]?.stringValue, phone: phone, bank: bank,
            createdAt: Date()
        )
        state.withLock { $0.transactions[transaction.id] = transaction }
        try await sendEvent(transactionID: transaction.id)
        return Self.json(.object([("data", transaction.json(baseURL: baseURL))]), status: 201)
    }

    private func read(_ id: String) -> Response {
        let found = state.withLock { state -> Transaction? in
            state.transactions[id]?.bankURLShown = true
            return state.transactions[id]
        }
        guard let found else { return Self.error(404, type: "NOT_FOUND_ERROR", reason: "La entidad solicitada no existe") }
        return Self.json(.object([("data", found.json(baseURL: baseURL))]))
    }

    private func list(reference: String) -> Response {
        Self.json(.object([("data", .array(transactions(reference: reference).map { $0.json(baseURL: baseURL) }))]))
    }

    private func voidTransaction(_ id: String) async throws -> Response {
        guard let found = transaction(id) else { return Self.error(404, type: "NOT_FOUND_ERROR", reason: "La entidad solicitada no existe") }
        guard found.status == "APPROVED", found.methodType == "CARD" else {
            return Self.error(422, type: "INPUT_VALIDATION_ERROR", messages: ["transaction": ["Solo se anulan transacciones aprobadas con tarjeta"]])
        }
        try await finish(transactionID: id, status: "VOIDED", message: "Anulada")
        return Self.json(.object([("data", .object([("transaction", transaction(id)!.json(baseURL: baseURL))]))]))
    }

    // MARK: - What the buyer, the bank and Wompi do

    /// Moves a transaction to a final status and sends its event.
    public func finish(transactionID: String, status: String, message: String?) async throws {
        let changed = state.withLock { state -> Bool in
            guard var transaction = state.transactions[transactionID] else { return false }
            transaction.status = status
            transaction.statusMessage = message
            state.transactions[transactionID] = transaction
            return true
        }
        if changed { try await sendEvent(transactionID: transactionID) }
    }

    /// The buyer answers the Nequi app's notification: the sandbox number decides.
    public func respondInNequi(transactionID: String) async throws {
        guard let transaction = transaction(transactionID), transaction.status == "PENDING" else { return }
        switch transaction.phone {
        case "3991111111": try await finish(transactionID: transactionID, status: "APPROVED", message: nil)
        case "3992222222": try await finish(transactionID: transactionID, status: "DECLINED", message: "Transacción rechazada por el usuario")
        default: try await finish(transactionID: transactionID, status: "ERROR", message: "Número de Nequi no válido en sandbox")
        }
    }

    /// `redirect_url` with Wompi's `id` appended.
    static func back(_ redirect: String?, id: String) -> String {
        guard let redirect else { return "/" }
        return redirect + (redirect.contains("?") ? "&" : "?") + "id=\(id)"
    }

    /// Web Checkout: the link's fields are checked, its integrity signature first; a wrong one is refused.
    private func checkoutPage(_ request: Request) -> Response {
        let fields = FormURLEncoded.parse(Array((request.uri.query ?? "").utf8))
        guard fields["public-key"] == configuration.publicKey else {
            return Self.html("<h1>Llave pública inválida</h1>", status: 401)
        }
        guard let reference = fields["reference"], let amount = fields["amount-in-cents"], Int64(amount).map({ $0 > 0 }) == true,
            fields["currency"] == "COP"
        else { return Self.html("<h1>Faltan datos del pago</h1>", status: 400) }
        let expected = integrity(reference: reference, amount: amount, currency: "COP", expiration: fields["expiration-time"])
        guard fields["signature:integrity"] == expected else {
            return Self.html("<h1 id=\"error\">La firma de integridad es inválida</h1>", status: 403)
        }
        let session = Identifier.randomToken(length: 16)
        state.withLock { $0.checkouts[session] = fields }
        return Self.html(
            """
            <h1 id="amount">\(amount) centavos COP</h1><p>Referencia <code>\(reference)</code></p>
            <form method="post" action="/p/pay"><input type="hidden" name="session" value="\(session)">
            <input name="card_number" placeholder="Número de tarjeta" value="4242424242424242"><button id="pay">Pagar</button></form>
            """
        )
    }

    /// The buyer pays by card: `4242…` approves, `4111…` declines. Sends the event, then the buyer back.
    private func payByCard(_ request: Request) async throws -> Response {
        let form = FormURLEncoded.parse(Array(buffer: try await request.body.collect(upTo: 4096)))
        guard let session = form["session"], let fields = state.withLock({ $0.checkouts.removeValue(forKey: session) }),
            let amount = Int64(fields["amount-in-cents"] ?? "")
        else { return Self.html("<h1>Sesión inválida</h1>", status: 400) }
        let card = (form["card_number"] ?? "").filter(\.isNumber)
        let (status, message): (String, String?) =
            card == "4242424242424242" ? ("APPROVED", nil) : ("DECLINED", card == "4111111111111111" ? "Fondos insuficientes" : "Tarjeta inválida")
        let transaction = Transaction(
            id: "\(Int.random(in: 10_000...99_999))-\(Int(Date().timeIntervalSince1970))-\(Int.random(in: 10_000...99_999))",
            reference: fields["reference"]!, amountInCents: amount, currency: "COP", status: status, statusMessage: message, methodType: "CARD",
            redirectURL: fields["redirect-url"], customerEmail: fields["customer-data:email"], createdAt: Date()
        )
        state.withLock { $0.transactions[transaction.id] = transaction }
        try await sendEvent(transactionID: transaction.id)
        return Response(status: .found, headers: [.location: Self.back(transaction.redirectURL, id: transaction.id)])
    }

    private func bankPage(_ id: String) -> Response {
        guard let transaction = transaction(id) else { return Self.html("<h1>No existe</h1>", status: 404) }
        let name = transaction.methodType == "PSE" ? "PSE · \(Self.banks.first { $0.0 == transaction.bank }?.1 ?? "Banco \(transaction.bank ?? "")")" : "Bancolombia"
        let buttons =
            transaction.status != "PENDING" ? "<p>Estado: \(transaction.status)</p>"
            : transaction.methodType == "PSE" ? #"<button name="action" value="pay" id="pay">Pagar</button>"#
            : #"<button name="action" value="approve" id="approve">Aprobar</button><button name="action" value="decline" id="decline">Rechazar</button>"#
        return Self.html("<h1>\(name)</h1><p id=\"amount\">\(transaction.amountInCents) centavos COP</p><form method=\"post\">\(buttons)</form>")
    }

    /// At the bank: PSE's sandbox bank decides the outcome (`1` approves, `2` declines, others error); Bancolombia's
    /// page asks.
    private func bankChoice(_ request: Request, id: String) async throws -> Response {
        let form = FormURLEncoded.parse(Array(buffer: try await request.body.collect(upTo: 4096)))
        guard let transaction = transaction(id) else { return Self.html("<h1>No existe</h1>", status: 404) }
        if transaction.status == "PENDING" {
            switch (transaction.methodType, transaction.bank, form["action"]) {
            case ("PSE", "1", _), ("BANCOLOMBIA_TRANSFER", _, "approve"):
                try await finish(transactionID: id, status: "APPROVED", message: nil)
            case ("PSE", "2", _), ("BANCOLOMBIA_TRANSFER", _, "decline"):
                try await finish(transactionID: id, status: "DECLINED", message: "Transacción rechazada por el banco")
            default:
                try await finish(transactionID: id, status: "ERROR", message: "Error del banco (emulado)")
            }
        }
        return Response(status: .found, headers: [.location: Self.back(transaction.redirectURL, id: id)])
    }

    private func nequiPage(_ id: String) -> Response {
        guard let transaction = transaction(id) else { return Self.html("<h1>No existe</h1>", status: 404) }
        return Self.html(
            """
            <h1>Nequi · \(transaction.phone ?? "")</h1><p>\(transaction.amountInCents) centavos COP — \(transaction.status)</p>
            <form method="post"><button id="respond">Responder en la app</button></form>
            """
        )
    }

    // MARK: - Events

    /// A signed `transaction.updated` event for a transaction. `amountInCents` tampers (still correctly signed),
    /// `secret` signs with another secret, `timestamp` signs at another time, `properties` picks the signed fields.
    public func event(
        transactionID: String, amountInCents: Int64? = nil, secret: String? = nil, timestamp: Int64? = nil, properties: [String]? = nil
    ) -> (id: String, headers: [(String, String)], body: [UInt8])? {
        guard var transaction = transaction(transactionID) else { return nil }
        if let amountInCents { transaction.amountInCents = amountInCents }
        var signed = properties ?? ["transaction.id", "transaction.status", "transaction.amount_in_cents"]
        if properties == nil, faults.reorderProperties { signed = [signed[2], signed[0], signed[1]] }
        let at = timestamp ?? Int64(Date().timeIntervalSince1970)
        let checksum = Self.sha256(signed.map(transaction.checksumValue).joined() + String(at) + (secret ?? configuration.eventsSecret))
        let body = JSONValue.object([
            ("event", .string("transaction.updated")),
            ("data", .object([("transaction", transaction.json(baseURL: baseURL))])),
            ("environment", .string(configuration.publicKey.hasPrefix("pub_prod_") ? "prod" : "test")),
            ("signature", .object([("properties", .array(signed.map(JSONValue.string))), ("checksum", .string(checksum))])),
            ("timestamp", .int(at)),
            ("sent_at", .string(ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: TimeInterval(at))))),
        ]).bytes()
        return ("\(transaction.id):\(transaction.status)", [("content-type", "application/json"), ("x-event-checksum", checksum)], body)
    }

    /// Sends the event of a transaction's current state (twice with duplicates on); returns the last status, 0
    /// when events are dropped.
    @discardableResult
    public func sendEvent(transactionID: String) async throws -> Int {
        guard let event = event(transactionID: transactionID) else { return 404 }
        return try await deliver(event)
    }

    /// Posts a prepared event (tests use it to send events late, out of order or altered).
    @discardableResult
    public func deliver(_ event: (id: String, headers: [(String, String)], body: [UInt8])) async throws -> Int {
        guard let url = eventsURL else { return 0 }
        var status = 0
        for _ in 0..<(faults.duplicateEvents ? 2 : 1) {
            var request = HTTPClientRequest(url: url)
            request.method = .POST
            for (name, value) in event.headers { request.headers.add(name: name, value: value) }
            request.body = .bytes(ByteBuffer(bytes: event.body))
            let response = try await httpClient.execute(request, timeout: .seconds(15))
            _ = try await response.body.collect(upTo: 1 << 16)
            status = Int(response.status.code)
            state.withLock { $0.sentEvents.append(event.id) }
        }
        return status
    }
}
