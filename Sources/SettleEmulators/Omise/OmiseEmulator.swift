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

/// Plays the part of Omise (Opn Payments) that Settle uses, over real HTTP, so that the official SDKs run against it
/// unchanged: the vault's card tokens, PromptPay sources, charges (create with Omise's `Idempotency-Key`, read, list),
/// refunds, Omise's error objects and HTTP Basic auth, a 3-D Secure page, a PromptPay page with its QR image, and
/// `charge.complete` events posted with `Omise-Signature` and `Omise-Signature-Timestamp`.
///
/// Test cards: a number ending in `0002` is declined (`insufficient_fund`), one ending in `3063` asks for 3-D Secure,
/// any other valid number is paid at once. Only a card's last digits and the outcome its number selects are kept.
///
/// The signature is computed here with the emulator's own reading of the secret (base64-decoded), not with the
/// adapter's code, so a bug on one side cannot cancel one on the other. Faults: API failures and delays, events whose
/// data lies about the charge, and events signed with another key.
public final class OmiseEmulator: Sendable {
    public struct Configuration: Sendable {
        /// The `skey_…` key Settle must present for charges and refunds.
        public var secretKey: String
        /// The `pkey_…` key for the vault's tokens (and sources).
        public var publicKey: String
        /// The webhook secret as the dashboard shows it (base64 text).
        public var webhookSecret: String
        /// Where events go (Settle's `/v1/webhooks/omise`); `nil` drops them.
        public var webhookURL: String?
        public var host = "127.0.0.1"
        public var port = 12113

        public init(secretKey: String, publicKey: String, webhookSecret: String, webhookURL: String?, port: Int = 12113) {
            self.secretKey = secretKey
            self.publicKey = publicKey
            self.webhookSecret = webhookSecret
            self.webhookURL = webhookURL
            self.port = port
        }
    }

    /// A tokenized card as the emulator keeps it: never the number, only its last digits.
    public struct Card: Sendable, Hashable {
        public var id: String
        public var brand: String
        public var lastDigits: String
        public var name: String
        public var expirationMonth: Int64
        public var expirationYear: Int64
        public var city: String?
        public var postalCode: String?
        public var securityCodeCheck: Bool
        public var createdAt: Date

        func json() -> JSONValue {
            let members: [(String, JSONValue)] = [
                ("object", .string("card")), ("id", .string(id)), ("livemode", .bool(false)), ("country", .string("th")),
                ("city", .string(city)), ("postal_code", .string(postalCode)), ("brand", .string(brand)),
                ("last_digits", .string(lastDigits)), ("name", .string(name)), ("expiration_month", .int(expirationMonth)),
                ("expiration_year", .int(expirationYear)), ("security_code_check", .bool(securityCodeCheck)),
                ("created_at", .string(OmiseEmulator.iso(createdAt))),
            ]
            return .object(members)
        }
    }

    /// What a card number makes a charge do.
    enum CardOutcome: Sendable, Hashable {
        case successful, insufficientFund, threeDSecure

        init(number: String) {
            self = number.hasSuffix("0002") ? .insufficientFund : number.hasSuffix("3063") ? .threeDSecure : .successful
        }
    }

    /// A one-use card token.
    struct Token: Sendable {
        var id: String
        var card: Card
        var outcome: CardOutcome
        var used = false
        var createdAt: Date

        func json() -> JSONValue {
            .object([
                ("object", .string("token")), ("id", .string(id)), ("livemode", .bool(false)), ("location", .string("/tokens/\(id)")),
                ("used", .bool(used)), ("card", card.json()), ("created_at", .string(OmiseEmulator.iso(createdAt))),
            ])
        }
    }

    /// A payment source (PromptPay only), charged at most once.
    public struct Source: Sendable, Hashable {
        public var id: String
        public var type: String
        public var amount: Int64
        public var currency: String
        public var createdAt: Date

        func json(scannableCode: JSONValue) -> JSONValue {
            .object([
                ("object", .string("source")), ("id", .string(id)), ("livemode", .bool(false)), ("location", .string("/sources/\(id)")),
                ("type", .string(type)), ("flow", .string("offline")), ("amount", .int(amount)), ("currency", .string(currency)),
                ("scannable_code", scannableCode), ("created_at", .string(OmiseEmulator.iso(createdAt))),
            ])
        }
    }

    /// A refund as the emulator keeps it (on its charge).
    public struct Refund: Sendable, Hashable {
        public var id: String
        public var chargeID: String
        public var amount: Int64
        public var currency: String
        public var metadata: [String: String]
        public var transaction: String
        public var createdAt: Date

        func json() -> JSONValue {
            let members: [(String, JSONValue)] = [
                ("object", .string("refund")), ("id", .string(id)), ("location", .string("/charges/\(chargeID)/refunds/\(id)")),
                ("livemode", .bool(false)), ("amount", .int(amount)), ("currency", .string(currency)), ("charge", .string(chargeID)),
                ("status", .string("closed")), ("voided", .bool(false)), ("transaction", .string(transaction)),
                ("metadata", .stringMap(metadata)), ("created_at", .string(OmiseEmulator.iso(createdAt))),
            ]
            return .object(members)
        }
    }

    /// A charge as the emulator keeps it.
    public struct Charge: Sendable, Hashable {
        public var id: String
        public var amount: Int64
        /// Lowercase, as Omise shows it.
        public var currency: String
        public var description: String?
        public var metadata: [String: String]
        /// `pending`, `successful`, `failed`, `expired`.
        public var status = "pending"
        public var authorized = false
        public var paid = false
        /// The 3-D Secure page, for cards that ask for it.
        public var authorizeURI: String?
        public var returnURI: String?
        public var failureCode: String?
        public var failureMessage: String?
        public var card: Card?
        public var source: Source?
        public var refunds: [Refund] = []
        public var createdAt: Date

        public var refundedAmount: Int64 { refunds.reduce(0) { $0 + $1.amount } }
        public var expiresAt: Date { createdAt.addingTimeInterval(86_400) }

        /// Moves to a status: paid and authorized only when `successful`; a failure gets a code if it has none.
        mutating func settle(_ status: String) {
            self.status = status
            paid = status == "successful"
            authorized = paid
            failureCode = status == "failed" ? failureCode ?? "failed_processing" : nil
            failureMessage = status == "failed" ? failureMessage ?? "the payment could not be processed" : nil
        }

        func json(baseURL: String) -> JSONValue {
            let members: [(String, JSONValue)] = [
                ("object", .string("charge")), ("id", .string(id)), ("livemode", .bool(false)), ("location", .string("/charges/\(id)")),
                ("amount", .int(amount)), ("currency", .string(currency)), ("description", .string(description)),
                ("metadata", .stringMap(metadata)), ("status", .string(status)), ("authorized", .bool(authorized)),
                ("paid", .bool(paid)), ("capture", .bool(true)), ("authorize_uri", .string(authorizeURI)),
                ("return_uri", .string(returnURI)), ("failure_code", .string(failureCode)), ("failure_message", .string(failureMessage)),
                ("card", card?.json() ?? .null), ("source", source?.json(scannableCode: qrCode(baseURL: baseURL)) ?? .null),
                ("refunded_amount", .int(refundedAmount)),
                ("refunds", OmiseEmulator.list(refunds.map { $0.json() }, location: "/charges/\(id)/refunds", offset: 0, limit: max(20, refunds.count))),
                ("created_at", .string(OmiseEmulator.iso(createdAt))), ("expires_at", .string(OmiseEmulator.iso(expiresAt))),
            ]
            return .object(members)
        }

        /// The PromptPay QR image, as Omise shows it on the charge's source.
        func qrCode(baseURL: String) -> JSONValue {
            .object([
                ("object", .string("barcode")), ("type", .string("qr")),
                ("image", .object([
                    ("object", .string("document")), ("filename", .string("qrcode.svg")), ("download_uri", .string("\(baseURL)/qr/\(id).svg")),
                ])),
            ])
        }
    }

    /// Faults to inject, changed at any time by tests.
    public struct Faults: Sendable {
        /// The next N API calls answer 500 with an Omise error object.
        public var failNextAPICalls = 0
        /// Every API call waits this long first.
        public var apiDelay: Duration = .zero
        /// Events claim the charge is `successful` and paid, whatever it is.
        public var lieInEvents = false
        /// Events are signed with another key.
        public var badSignature = false
        public init() {}
    }

    /// An Omise error: `{"object":"error","location":…,"code":…,"message":…}` with its HTTP status.
    struct APIError: Error {
        var status: Int
        var code: String
        var message: String

        init(_ status: Int, _ code: String, _ message: String) {
            self.status = status
            self.code = code
            self.message = message
        }

        static func notFound(_ message: String) -> APIError { APIError(404, "not_found", message) }
        static let authentication = APIError(401, "authentication_failure", "authentication failed")

        var response: Response { OmiseEmulator.error(status, code: code, message: message) }
    }

    /// A call made with an `Idempotency-Key`: its body, and the answer to replay.
    private struct Stored: Sendable {
        var request: [UInt8]
        var answer: JSONValue
    }

    private struct State {
        var charges: [String: Charge] = [:]
        var tokens: [String: Token] = [:]
        var sources: [String: Source] = [:]
        var usedSources: Set<String> = []
        /// Events as built, with the true data (what `GET /events/{id}` answers).
        var events: [String: JSONValue] = [:]
        var idempotency: [String: Stored] = [:]
        var faults = Faults()
        var port: Int?
        var webhookURL: String?
        var apiCalls: [String] = []
        var sentEvents: [String] = []
    }

    /// The currencies charges accept (lowercase).
    public static let currencies: Set<String> = ["thb", "jpy", "sgd", "myr", "usd"]
    /// The smallest THB charge: 20.00 THB in satang.
    public static let minimumTHB: Int64 = 2000
    /// A valid base64 secret that is not the configured one (the `badSignature` fault).
    static let otherSecret = Data("not-the-omise-webhook-secret-32b".utf8).base64EncodedString()
    static let idempotencyKey = HTTPField.Name("Idempotency-Key")

    let configuration: Configuration
    let httpClient: HTTPClient
    private let state = Mutex(State())

    public init(configuration: Configuration, httpClient: HTTPClient = .shared) {
        self.configuration = configuration
        self.httpClient = httpClient
        state.withLock { $0.webhookURL = configuration.webhookURL }
    }

    /// Where events go; `nil` drops them (a lost webhook).
    public var webhookURL: String? {
        get { state.withLock { $0.webhookURL } }
        set { state.withLock { $0.webhookURL = newValue } }
    }

    public var faults: Faults {
        get { state.withLock { $0.faults } }
        set { state.withLock { $0.faults = newValue } }
    }

    /// `http://host:port` once running (the API and the vault both live there).
    public var baseURL: String { "http://\(configuration.host):\(state.withLock { $0.port } ?? configuration.port)" }
    public var isRunning: Bool { state.withLock { $0.port } != nil }
    public func charge(_ id: String) -> Charge? { state.withLock { $0.charges[id] } }
    /// Every charge, oldest first.
    public var charges: [Charge] { state.withLock { Array($0.charges.values) }.sorted { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) } }
    /// `METHOD path` of every API call, in order.
    public var apiCalls: [String] { state.withLock { $0.apiCalls } }
    /// Ids of the events delivered, in order.
    public var sentEvents: [String] { state.withLock { $0.sentEvents } }

    /// Lowercase hex HMAC-SHA256 of `"<timestamp>." + body`, keyed with the base64-decoded secret, as Omise signs;
    /// computed here on its own (not with the adapter's verifier). `nil` when the secret is not base64.
    public static func signature(secretBase64: String, timestamp: Int64, body: [UInt8]) -> String? {
        guard let key = Data(base64Encoded: secretBase64) else { return nil }
        let mac = HMAC<SHA256>.authenticationCode(for: Array("\(timestamp).".utf8) + body, using: SymmetricKey(data: key))
        return mac.map { String(format: "%02x", $0) }.joined()
    }

    /// The emulator as a Hummingbird application (port 0 picks a free port).
    public func application(logger: Logger) -> some ApplicationProtocol {
        Application(
            router: buildRouter(),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "omise-emulator"),
            onServerRunning: { channel in self.state.withLock { $0.port = channel.localAddress?.port } },
            logger: logger
        )
    }

    func buildRouter() -> Router<BasicRequestContext> {
        let router = Router()
        router.post("tokens") { request, _ in
            try await self.api(request, key: .publicKey) { try self.createToken(try await Self.parameters(of: request)) }
        }
        router.get("tokens/:id") { request, context in
            try await self.api(request, key: .publicKey) { try self.readToken(try context.parameters.require("id")) }
        }
        router.post("sources") { request, _ in
            try await self.api(request, key: .either) { try await self.idempotent(request) { try self.createSource($0) } }
        }
        router.get("sources/:id") { request, context in
            try await self.api(request, key: .either) { try self.readSource(try context.parameters.require("id")) }
        }
        router.post("charges") { request, _ in
            try await self.api(request, key: .secretKey) { try await self.idempotent(request) { try self.createCharge($0) } }
        }
        router.get("charges") { request, _ in
            try await self.api(request, key: .secretKey) { self.listCharges(try await Self.window(of: request)) }
        }
        router.get("charges/:id") { request, context in
            try await self.api(request, key: .secretKey) { try self.readCharge(try context.parameters.require("id")) }
        }
        router.post("charges/:id/refunds") { request, context in
            try await self.api(request, key: .secretKey) {
                try await self.idempotent(request) { try self.createRefund(chargeID: try context.parameters.require("id"), $0) }
            }
        }
        router.get("charges/:id/refunds") { request, context in
            try await self.api(request, key: .secretKey) {
                try self.listRefunds(chargeID: try context.parameters.require("id"), try await Self.window(of: request))
            }
        }
        router.get("charges/:id/refunds/:refund") { request, context in
            try await self.api(request, key: .secretKey) {
                try self.readRefund(chargeID: try context.parameters.require("id"), refundID: try context.parameters.require("refund"))
            }
        }
        router.get("events/:id") { request, context in
            try await self.api(request, key: .secretKey) { try self.readEvent(try context.parameters.require("id")) }
        }
        router.get("payments/:id/authorize") { _, context in self.authorizePage(try context.parameters.require("id")) }
        router.post("payments/:id/authorize") { request, context in try await self.authorize(request, id: try context.parameters.require("id")) }
        router.get("promptpay/:id") { _, context in self.promptPayPage(try context.parameters.require("id")) }
        router.post("promptpay/:id") { request, context in try await self.promptPay(request, id: try context.parameters.require("id")) }
        router.get("qr/:file") { _, context in self.qrImage(try context.parameters.require("file")) }
        return router
    }

    // MARK: - API plumbing

    /// Which key an endpoint takes (HTTP Basic, the key as the username).
    enum Key {
        case publicKey, secretKey, either

        func admits(_ user: String, _ configuration: Configuration) -> Bool {
            switch self {
            case .publicKey: user == configuration.publicKey
            case .secretKey: user == configuration.secretKey
            case .either: user == configuration.publicKey || user == configuration.secretKey
            }
        }
    }

    /// Records the call, applies the faults and the key check, and turns the answer (or an ``APIError``) into JSON.
    private func api(_ request: Request, key: Key, _ body: () async throws -> JSONValue) async throws -> Response {
        let (fail, delay) = state.withLock { state -> (Bool, Duration) in
            state.apiCalls.append("\(request.method) \(request.uri.path)")
            let fail = state.faults.failNextAPICalls > 0
            if fail { state.faults.failNextAPICalls -= 1 }
            return (fail, state.faults.apiDelay)
        }
        if delay > .zero { try await Task.sleep(for: delay) }
        if fail { return Self.error(500, code: "internal_error", message: "an internal error occurred (emulated)") }
        guard let user = Self.basicUser(request.headers[.authorization]), key.admits(user, configuration) else {
            return APIError.authentication.response
        }
        do {
            return Self.json(try await body())
        } catch let error as APIError {
            return error.response
        }
    }

    /// The username of an HTTP Basic `Authorization` header (the password, empty for Omise, is not checked).
    static func basicUser(_ header: String?) -> String? {
        guard let header, header.lowercased().hasPrefix("basic "),
            let decoded = Data(base64Encoded: header.dropFirst("basic ".count).trimmingCharacters(in: .whitespaces))
        else { return nil }
        let credentials = String(decoding: decoded, as: UTF8.self)
        return credentials.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init)
    }

    static func error(_ status: Int, code: String, message: String) -> Response {
        let location = "https://www.omise.co/api-errors#" + code.replacingOccurrences(of: "_", with: "-")
        let body = JSONValue.object([
            ("object", .string("error")), ("location", .string(location)), ("code", .string(code)), ("message", .string(message)),
        ])
        return json(body, status: status)
    }

    static func json(_ value: JSONValue, status: Int = 200) -> Response {
        Response(status: .init(code: status), headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: value.bytes())))
    }

    static func iso(_ date: Date) -> String { ISO8601DateFormatter().string(from: date) }

    /// `<prefix>_test_` and 19 lowercase base-36-looking characters, like Omise's ids.
    static func id(_ prefix: String) -> String { "\(prefix)_test_" + Identifier.randomToken(length: 19).lowercased() }

    /// Omise's idempotency: the same key and body replay the stored answer; another body with that key is refused.
    /// Keys are per path; only answers that succeeded are stored.
    private func idempotent(_ request: Request, _ make: (JSONValue) async throws -> JSONValue) async throws -> JSONValue {
        let bytes = Array(buffer: try await request.body.collect(upTo: 1 << 20))
        let key = Self.idempotencyKey.flatMap { request.headers[$0] }.map { "\(request.uri.path) \($0)" }
        if let key, let stored = state.withLock({ $0.idempotency[key] }) {
            guard stored.request == bytes else {
                throw APIError(400, "bad_request", "the idempotency key was already used with other parameters")
            }
            return stored.answer
        }
        let answer = try await make(try Self.parameters(bytes, contentType: request.headers[.contentType]))
        if let key { state.withLock { $0.idempotency[key] = Stored(request: bytes, answer: answer) } }
        return answer
    }

    // MARK: - Reading bodies (the emulator's own decoder, not the adapter's encoder run backwards)

    static func parameters(of request: Request) async throws -> JSONValue {
        try parameters(Array(buffer: try await request.body.collect(upTo: 1 << 20)), contentType: request.headers[.contentType])
    }

    /// The body as one object: JSON as sent, or a form whose `a[b]` names become nested objects. Empty is `{}`.
    static func parameters(_ bytes: [UInt8], contentType: String?) throws -> JSONValue {
        if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D }) { return .object([]) }
        if contentType?.lowercased().hasPrefix("application/x-www-form-urlencoded") == true { return form(bytes) }
        guard let value = try? JSONValue.parse(bytes), value.isObject else {
            throw APIError(400, "bad_request", "request body is not a valid JSON object")
        }
        return value
    }

    /// A form body as nested objects: `card[number]=4242…` becomes `{"card":{"number":"4242…"}}`.
    static func form(_ bytes: [UInt8]) -> JSONValue {
        var members: [(String, JSONValue)] = []
        for (name, value) in FormURLEncoded.pairs(bytes) {
            members = inserting(.string(value), at: path(name)[...], into: members)
        }
        return .object(members)
    }

    /// `card[number]` → `["card", "number"]`; a plain name is itself.
    static func path(_ name: String) -> [String] {
        guard let open = name.firstIndex(of: "["), name.hasSuffix("]") else { return [name] }
        let inner = name[name.index(after: open)..<name.index(before: name.endIndex)]
        return [String(name[..<open])] + inner.components(separatedBy: "][")
    }

    /// The members with `value` set at `path`, creating objects on the way; a name already set keeps its first value.
    static func inserting(_ value: JSONValue, at path: ArraySlice<String>, into members: [(String, JSONValue)]) -> [(String, JSONValue)] {
        guard let head = path.first else { return members }
        var members = members
        let index = members.firstIndex { $0.0 == head }
        if path.count == 1 {
            if index == nil { members.append((head, value)) }
            return members
        }
        var child: [(String, JSONValue)] = []
        if let index, case .object(let existing) = members[index].1 { child = existing }
        let updated = JSONValue.object(inserting(value, at: path.dropFirst(), into: child))
        if let index { members[index].1 = updated } else { members.append((head, updated)) }
        return members
    }

    /// A string, or a number or boolean as text (forms send everything as text, JSON clients sometimes numbers).
    static func text(_ value: JSONValue?) -> String? {
        switch value {
        case .string(let text): text
        case .int(let number): String(number)
        case .bool(let flag): flag ? "true" : "false"
        default: nil
        }
    }

    /// An integer, or the text of one.
    static func integer(_ value: JSONValue?) -> Int64? {
        switch value {
        case .int(let number): number
        case .string(let text): Int64(text)
        default: nil
        }
    }

    /// A boolean, or `"true"`/`"false"`.
    static func flag(_ value: JSONValue?) -> Bool? {
        switch value {
        case .bool(let flag): flag
        case .string("true"): true
        case .string("false"): false
        default: nil
        }
    }

    /// `metadata` as string pairs (numbers and booleans as text); absent or `null` is empty.
    static func metadata(_ value: JSONValue?) throws -> [String: String] {
        switch value {
        case nil, .null: return [:]
        case .object(let members):
            var metadata: [String: String] = [:]
            for (name, member) in members where member != .null {
                guard let string = text(member) else { throw APIError(400, "bad_request", "metadata values must be strings") }
                metadata[name] = string
            }
            return metadata
        default: throw APIError(400, "bad_request", "metadata must be an object")
        }
    }

    /// `offset` and `limit` (1–100, default 20) from the query or the body (the SDK sends them in a GET's JSON body).
    static func window(of request: Request) async throws -> (offset: Int, limit: Int) {
        let bytes = Array(buffer: try await request.body.collect(upTo: 1 << 16))
        let body = (try? parameters(bytes, contentType: request.headers[.contentType])) ?? .object([])
        func read(_ name: String) -> Int64? { request.uri.queryParameters.get(name).flatMap { Int64($0) } ?? integer(body[name]) }
        return (Int(clamping: max(0, read("offset") ?? 0)), Int(clamping: min(100, max(1, read("limit") ?? 20))))
    }

    /// An Omise list object of one page of `items`.
    static func list(_ items: [JSONValue], location: String, offset: Int, limit: Int) -> JSONValue {
        let page = Array(items.dropFirst(offset).prefix(limit))
        let members: [(String, JSONValue)] = [
            ("object", .string("list")), ("data", .array(page)),
            ("limit", .int(Int64(limit))), ("offset", .int(Int64(offset))), ("total", .int(Int64(items.count))),
            ("location", .string(location)), ("order", .string("chronological")),
            ("from", .string(iso(Date(timeIntervalSince1970: 0)))), ("to", .string(iso(Date()))),
        ]
        return .object(members)
    }

    // MARK: - Tokens (the vault)

    /// `POST /tokens`: a card checked as Omise checks it (12–19 digits passing Luhn, a name, a month, an expiry not in
    /// the past). Only the last digits and the outcome the number selects are kept, never the number.
    private func createToken(_ parameters: JSONValue) throws -> JSONValue {
        guard let fields = parameters["card"], fields.isObject else { throw APIError(400, "bad_request", "card is required") }
        let number = (Self.text(fields["number"]) ?? "").filter { $0 != " " }
        guard Self.isCardNumber(number) else { throw APIError(400, "invalid_card", "number is invalid") }
        guard let name = Self.text(fields["name"]), !name.isEmpty else { throw APIError(400, "invalid_card", "name can't be blank") }
        let (month, year) = try Self.expiration(month: fields["expiration_month"], year: fields["expiration_year"])
        let securityCode = Self.text(fields["security_code"]) ?? ""
        let now = Date()
        let card = Card(
            id: Self.id("card"), brand: Self.brand(number), lastDigits: String(number.suffix(4)), name: name,
            expirationMonth: month, expirationYear: year, city: Self.text(fields["city"]), postalCode: Self.text(fields["postal_code"]),
            securityCodeCheck: (3...4).contains(securityCode.count) && securityCode.allSatisfy { $0.isASCII && $0.isNumber },
            createdAt: now
        )
        let token = Token(id: Self.id("tokn"), card: card, outcome: CardOutcome(number: number), createdAt: now)
        state.withLock { $0.tokens[token.id] = token }
        return token.json()
    }

    private func readToken(_ id: String) throws -> JSONValue {
        guard let token = state.withLock({ $0.tokens[id] }) else { throw APIError.notFound("token \(id) was not found") }
        return token.json()
    }

    /// 12–19 ASCII digits passing the Luhn check.
    static func isCardNumber(_ number: String) -> Bool {
        let bytes = Array(number.utf8)
        guard (12...19).contains(bytes.count), bytes.allSatisfy({ (0x30...0x39).contains($0) }) else { return false }
        var sum = 0
        for (offset, byte) in bytes.reversed().enumerated() {
            let digit = Int(byte - 0x30)
            let value = offset % 2 == 1 ? digit * 2 : digit
            sum += value > 9 ? value - 9 : value
        }
        return sum % 10 == 0
    }

    static func brand(_ number: String) -> String {
        if number.hasPrefix("5") { return "Mastercard" }
        if number.hasPrefix("34") || number.hasPrefix("37") { return "American Express" }
        if number.hasPrefix("35") { return "JCB" }
        return "Visa"
    }

    /// A month 1–12 and a four-digit year, not before the current month (UTC).
    static func expiration(month monthValue: JSONValue?, year yearValue: JSONValue?, now: Date = Date()) throws -> (month: Int64, year: Int64) {
        guard let month = integer(monthValue), (1...12).contains(month) else {
            throw APIError(400, "invalid_card", "expiration month is not between 1 and 12")
        }
        guard let year = integer(yearValue), (1000...9999).contains(year) else { throw APIError(400, "invalid_card", "expiration year is invalid") }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC") ?? calendar.timeZone
        let today = calendar.dateComponents([.year, .month], from: now)
        guard year * 12 + month >= Int64(today.year ?? 0) * 12 + Int64(today.month ?? 0) else {
            throw APIError(400, "invalid_card", "expiration date cannot be in the past")
        }
        return (month, year)
    }

    // MARK: - Sources

    /// `POST /sources`: PromptPay only, in THB, for at least 20.00 THB.
    private func createSource(_ parameters: JSONValue) throws -> JSONValue {
        let source = try Self.makeSource(type: Self.text(parameters["type"]), amount: parameters["amount"], currency: parameters["currency"])
        state.withLock { $0.sources[source.id] = source }
        return source.json(scannableCode: .null)
    }

    private func readSource(_ id: String) throws -> JSONValue {
        guard let source = state.withLock({ $0.sources[id] }) else { throw APIError.notFound("source \(id) was not found") }
        return source.json(scannableCode: .null)
    }

    static func makeSource(type: String?, amount amountValue: JSONValue?, currency: JSONValue?) throws -> Source {
        guard type == "promptpay" else { throw APIError(400, "invalid_payment_method", "payment method type is not supported") }
        guard text(currency)?.lowercased() == "thb" else { throw APIError(400, "invalid_payment_method", "promptpay supports only thb") }
        guard let amount = integer(amountValue), amount >= minimumTHB else {
            throw APIError(400, "invalid_amount", "amount must be at least \(minimumTHB)")
        }
        return Source(id: id("src"), type: "promptpay", amount: amount, currency: "thb", createdAt: Date())
    }

    // MARK: - Charges

    /// `POST /charges`: amount and currency checked, then paid by a card token (its number decides the outcome) or a
    /// PromptPay source (pending until the buyer pays). Tokens and sources are used at most once.
    private func createCharge(_ parameters: JSONValue) throws -> JSONValue {
        let currency = try Self.currency(parameters["currency"])
        let amount = try Self.amount(parameters["amount"], currency: currency)
        guard Self.flag(parameters["capture"]) ?? true else {
            throw APIError(400, "bad_request", "the emulator only makes captured charges (capture=true)")
        }
        let draft = Charge(
            id: Self.id("chrg"), amount: amount, currency: currency, description: Self.text(parameters["description"]),
            metadata: try Self.metadata(parameters["metadata"]), returnURI: Self.text(parameters["return_uri"]), createdAt: Date()
        )
        let baseURL = self.baseURL
        let created = try state.withLock { state -> Charge in
            var charge = draft
            try Self.fund(&charge, with: parameters, state: &state, baseURL: baseURL)
            state.charges[charge.id] = charge
            return charge
        }
        return created.json(baseURL: baseURL)
    }

    static func currency(_ value: JSONValue?) throws -> String {
        guard let code = text(value)?.lowercased(), currencies.contains(code) else {
            throw APIError(400, "invalid_charge", "currency is currently not supported")
        }
        return code
    }

    /// An integer amount in the smallest unit: at least 2000 for THB, at least 1 otherwise.
    static func amount(_ value: JSONValue?, currency: String) throws -> Int64 {
        let minimum: Int64 = currency == "thb" ? minimumTHB : 1
        guard let amount = integer(value) else { throw APIError(400, "invalid_amount", "amount must be an integer") }
        guard amount >= minimum else { throw APIError(400, "invalid_amount", "amount must be at least \(minimum)") }
        return amount
    }

    /// Pays the charge with the `card` token or the `source` it names (an id, or an object to create one from).
    private static func fund(_ charge: inout Charge, with parameters: JSONValue, state: inout State, baseURL: String) throws {
        if let card = parameters["card"], card != .null {
            try fundByCard(&charge, tokenID: text(card) ?? "", state: &state, baseURL: baseURL)
        } else if let source = parameters["source"], source != .null {
            try fundBySource(&charge, source: source, state: &state)
        } else {
            throw APIError(400, "invalid_charge", "card or source is required")
        }
    }

    /// Uses the token; its number gives the outcome: paid, declined for funds, or pending behind 3-D Secure.
    private static func fundByCard(_ charge: inout Charge, tokenID: String, state: inout State, baseURL: String) throws {
        guard var token = state.tokens[tokenID] else { throw APIError.notFound("token \(tokenID) was not found") }
        guard !token.used else { throw APIError(400, "used_token", "token was already used") }
        if token.outcome == .threeDSecure, charge.returnURI == nil {
            throw APIError(400, "invalid_charge", "return_uri is required for 3-D Secure")
        }
        token.used = true
        state.tokens[tokenID] = token
        charge.card = token.card
        switch token.outcome {
        case .successful:
            charge.status = "successful"
            charge.authorized = true
            charge.paid = true
        case .insufficientFund:
            charge.status = "failed"
            charge.failureCode = "insufficient_fund"
            charge.failureMessage = "insufficient funds in the account or the card has reached the credit limit"
        case .threeDSecure:
            charge.authorizeURI = "\(baseURL)/payments/\(charge.id)/authorize"
        }
    }

    /// Uses the source, which must match the charge's amount and currency; the charge waits for the buyer's scan.
    private static func fundBySource(_ charge: inout Charge, source value: JSONValue, state: inout State) throws {
        let source: Source
        if value.isObject {
            source = try makeSource(type: text(value["type"]), amount: .int(charge.amount), currency: .string(charge.currency))
            state.sources[source.id] = source
        } else {
            let id = text(value) ?? ""
            guard let found = state.sources[id] else { throw APIError.notFound("source \(id) was not found") }
            source = found
        }
        guard !state.usedSources.contains(source.id) else { throw APIError(400, "invalid_charge", "source \(source.id) was already used") }
        guard source.amount == charge.amount, source.currency == charge.currency else {
            throw APIError(400, "invalid_charge", "amount and currency must match the source's")
        }
        state.usedSources.insert(source.id)
        charge.source = source
    }

    private func readCharge(_ id: String) throws -> JSONValue {
        guard let charge = charge(id) else { throw APIError.notFound("charge \(id) was not found") }
        return charge.json(baseURL: baseURL)
    }

    private func listCharges(_ window: (offset: Int, limit: Int)) -> JSONValue {
        let baseURL = self.baseURL
        return Self.list(charges.map { $0.json(baseURL: baseURL) }, location: "/charges", offset: window.offset, limit: window.limit)
    }

    // MARK: - Refunds

    /// `POST /charges/{id}/refunds`: only a `successful` charge, for more than 0 and no more than what is left.
    private func createRefund(chargeID: String, _ parameters: JSONValue) throws -> JSONValue {
        let metadata = try Self.metadata(parameters["metadata"])
        let amount = Self.integer(parameters["amount"])
        let created = try state.withLock { state -> Refund in
            guard var charge = state.charges[chargeID] else { throw APIError.notFound("charge \(chargeID) was not found") }
            guard charge.status == "successful" else { throw APIError(400, "invalid_charge", "charge can't be refunded") }
            let remaining = charge.amount - charge.refundedAmount
            guard remaining > 0 else { throw APIError(400, "invalid_charge", "charge has already been fully refunded") }
            guard let amount, amount > 0, amount <= remaining else {
                throw APIError(400, "invalid_amount", "amount must be between 1 and \(remaining)")
            }
            let refund = Refund(
                id: Self.id("rfnd"), chargeID: chargeID, amount: amount, currency: charge.currency, metadata: metadata,
                transaction: Self.id("trxn"), createdAt: Date()
            )
            charge.refunds.append(refund)
            state.charges[chargeID] = charge
            return refund
        }
        return created.json()
    }

    private func listRefunds(chargeID: String, _ window: (offset: Int, limit: Int)) throws -> JSONValue {
        guard let charge = charge(chargeID) else { throw APIError.notFound("charge \(chargeID) was not found") }
        return Self.list(charge.refunds.map { $0.json() }, location: "/charges/\(chargeID)/refunds", offset: window.offset, limit: window.limit)
    }

    private func readRefund(chargeID: String, refundID: String) throws -> JSONValue {
        guard let refund = charge(chargeID)?.refunds.first(where: { $0.id == refundID }) else {
            throw APIError.notFound("refund \(refundID) was not found")
        }
        return refund.json()
    }

    // MARK: - What the buyer and Omise do

    /// Moves a charge to `status` (paid when `successful`) and sends its `charge.complete` event. An unknown charge is
    /// ignored.
    public func complete(chargeID: String, status: String) async throws {
        if settle(chargeID: chargeID, status: status, onlyPending: false) { try await sendEvent(chargeID: chargeID) }
    }

    /// Sets the status in one step; with `onlyPending`, only a pending charge changes (two clicks make one event).
    private func settle(chargeID: String, status: String, onlyPending: Bool) -> Bool {
        state.withLock { state -> Bool in
            guard var charge = state.charges[chargeID], !onlyPending || charge.status == "pending" else { return false }
            charge.settle(status)
            state.charges[chargeID] = charge
            return true
        }
    }

    // MARK: - Events

    /// A signed event about a charge, built and not sent (its true form is kept for `GET /events/{id}`). The
    /// `lieInEvents` fault makes the data claim a paid charge; `badSignature` signs with another key.
    public func event(chargeID: String, key: String = "charge.complete") -> (id: String, headers: [(String, String)], body: [UInt8])? {
        guard let charge = charge(chargeID) else { return nil }
        let (baseURL, faults) = (self.baseURL, self.faults)
        let id = Self.id("evnt")
        let now = Date()
        let truth = Self.eventJSON(id: id, key: key, at: now, data: charge.json(baseURL: baseURL))
        state.withLock { $0.events[id] = truth }
        var claimed = charge
        if faults.lieInEvents { claimed.settle("successful") }
        let body = (faults.lieInEvents ? Self.eventJSON(id: id, key: key, at: now, data: claimed.json(baseURL: baseURL)) : truth).bytes()
        let timestamp = UnixTime.seconds(now)
        var headers: [(String, String)] = [("content-type", "application/json")]
        let secret = faults.badSignature ? Self.otherSecret : configuration.webhookSecret
        if let signature = Self.signature(secretBase64: secret, timestamp: timestamp, body: body) {
            headers += [("Omise-Signature", signature), ("Omise-Signature-Timestamp", String(timestamp))]
        }
        return (id, headers, body)
    }

    static func eventJSON(id: String, key: String, at date: Date, data: JSONValue) -> JSONValue {
        .object([
            ("object", .string("event")), ("id", .string(id)), ("livemode", .bool(false)), ("location", .string("/events/\(id)")),
            ("key", .string(key)), ("created_at", .string(iso(date))), ("data", data),
        ])
    }

    private func readEvent(_ id: String) throws -> JSONValue {
        guard let event = state.withLock({ $0.events[id] }) else { throw APIError.notFound("event \(id) was not found") }
        return event
    }

    /// Builds and posts an event about a charge; returns the HTTP status (0 when events are dropped, 404 for no charge).
    @discardableResult
    public func sendEvent(chargeID: String, key: String = "charge.complete") async throws -> Int {
        guard let event = event(chargeID: chargeID, key: key) else { return 404 }
        return try await deliver(event)
    }

    /// Posts a prepared event (tests use it to send events late or out of order); returns the HTTP status, 0 when
    /// there is no webhook URL.
    @discardableResult
    public func deliver(_ event: (id: String, headers: [(String, String)], body: [UInt8])) async throws -> Int {
        guard let url = webhookURL else { return 0 }
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        for (name, value) in event.headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(bytes: event.body))
        let response = try await httpClient.execute(request, timeout: .seconds(15))
        _ = try await response.body.collect(upTo: 1 << 16)
        state.withLock { $0.sentEvents.append(event.id) }
        return Int(response.status.code)
    }

    // MARK: - Hosted pages

    static func html(_ body: String, status: Int = 200) -> Response {
        let page = """
            <!doctype html><html><head><meta charset="utf-8"><title>Omise emulator</title>
            <style>body{font-family:system-ui;max-width:440px;margin:3rem auto}button{display:block;width:100%;margin:.5rem 0;padding:.6rem}</style>
            </head><body><p>Omise emulator · test mode</p>\(body)</body></html>
            """
        return Response(status: .init(code: status), headers: [.contentType: "text/html; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: page)))
    }

    static func display(_ charge: Charge) -> String {
        Currency.lookup(charge.currency).map { Money(minorUnits: charge.amount, currency: $0).formatted() } ?? "\(charge.amount) \(charge.currency)"
    }

    static func statusPage(_ charge: Charge) -> Response {
        html("<h1 id=\"status\">Charge <code>\(Text.htmlEscaped(charge.id))</code> is \(Text.htmlEscaped(charge.status))</h1>")
    }

    static var notFoundPage: Response { html("<h1>No such payment</h1>", status: 404) }

    /// The 3-D Secure page of a pending card charge: approve or decline.
    private func authorizePage(_ id: String) -> Response {
        guard let charge = charge(id), charge.authorizeURI != nil else { return Self.notFoundPage }
        guard charge.status == "pending" else { return Self.statusPage(charge) }
        return Self.html(
            """
            <h1>3-D Secure</h1><p id="amount">\(Self.display(charge))</p>
            <p>Card ending in \(Text.htmlEscaped(charge.card?.lastDigits ?? "")) · charge <code>\(Text.htmlEscaped(charge.id))</code></p>
            <form method="post"><button name="action" value="approve" id="approve">Approve</button>
            <button name="action" value="decline" id="decline">Decline</button></form>
            """
        )
    }

    /// The cardholder's answer: `successful` or `failed` (`failed_processing`), the event, then back to `return_uri`.
    private func authorize(_ request: Request, id: String) async throws -> Response {
        let form = FormURLEncoded.parse(Array(buffer: try await request.body.collect(upTo: 4096)))
        guard let charge = charge(id), charge.authorizeURI != nil else { return Self.notFoundPage }
        let status: String
        switch form["action"] {
        case "approve": status = "successful"
        case "decline": status = "failed"
        default: return Self.html("<h1>Choose approve or decline</h1>", status: 400)
        }
        if settle(chargeID: id, status: status, onlyPending: true) { try await sendEvent(chargeID: id) }
        guard let back = charge.returnURI else { return Self.statusPage(self.charge(id) ?? charge) }
        return Response(status: .found, headers: [.location: back])
    }

    /// The PromptPay page of a pending source charge: the QR code, and the buyer's banking app paying or letting it expire.
    private func promptPayPage(_ id: String) -> Response {
        guard let charge = charge(id), charge.source?.type == "promptpay" else { return Self.notFoundPage }
        guard charge.status == "pending" else { return Self.statusPage(charge) }
        let escaped = Text.htmlEscaped(charge.id)
        return Self.html(
            """
            <h1>PromptPay</h1><p id="amount">\(Self.display(charge))</p><p>Scan with your banking app.</p>
            <img src="/qr/\(escaped).svg" alt="PromptPay QR code" width="240" height="260">
            <form method="post"><button name="action" value="pay" id="pay">Pay in the banking app</button>
            <button name="action" value="expire" id="expire">Let it expire</button></form>
            """
        )
    }

    /// The banking app's outcome: `successful` or `expired`, the event, then a small "done" page.
    private func promptPay(_ request: Request, id: String) async throws -> Response {
        let form = FormURLEncoded.parse(Array(buffer: try await request.body.collect(upTo: 4096)))
        guard charge(id)?.source?.type == "promptpay" else { return Self.notFoundPage }
        let status: String
        switch form["action"] {
        case "pay": status = "successful"
        case "expire": status = "expired"
        default: return Self.html("<h1>Choose pay or expire</h1>", status: 400)
        }
        if settle(chargeID: id, status: status, onlyPending: true) { try await sendEvent(chargeID: id) }
        let now = charge(id)?.status ?? status
        return Self.html("<h1 id=\"done\">Done</h1><p>Charge <code>\(Text.htmlEscaped(id))</code> is \(Text.htmlEscaped(now)).</p>")
    }

    /// `GET /qr/<charge id>.svg`: a stand-in QR drawing with the charge id written under it.
    private func qrImage(_ file: String) -> Response {
        guard file.hasSuffix(".svg"), let charge = charge(String(file.dropLast(".svg".count))), charge.source != nil else {
            return Response(status: .notFound)
        }
        let corners = [(20, 20), (160, 20), (20, 160)].map { corner -> String in
            let (x, y) = corner
            let outer = "<rect x=\"\(x)\" y=\"\(y)\" width=\"60\" height=\"60\" fill=\"none\" stroke=\"#000\" stroke-width=\"10\"/>"
            return outer + "<rect x=\"\(x + 20)\" y=\"\(y + 20)\" width=\"20\" height=\"20\"/>"
        }.joined()
        let svg = """
            <svg xmlns="http://www.w3.org/2000/svg" width="240" height="260" viewBox="0 0 240 260">\
            <rect width="240" height="260" fill="#fff"/>\(corners)<rect x="110" y="110" width="30" height="30"/>\
            <text x="120" y="250" font-family="monospace" font-size="10" text-anchor="middle">\(Text.htmlEscaped(charge.id))</text></svg>
            """
        return Response(status: .ok, headers: [.contentType: "image/svg+xml"], body: .init(byteBuffer: ByteBuffer(string: svg)))
    }
}
