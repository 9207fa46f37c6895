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

/// Plays the part of Paystack that Settle uses, over real HTTP: transactions initialized with `Authorization: Bearer
/// <secret key>` and verified by reference, the buyer's checkout page (pay, fail or abandon), refunds that are queued
/// and processed a moment later, Paystack's `{"status","message","data"}` envelope on every answer, and
/// `charge.success` / `refund.*` events posted with `x-paystack-signature`.
///
/// A transaction starts `abandoned` (as Paystack shows one the buyer never completed); the checkout page moves it to
/// `success` (then `charge.success` is sent, awaited) or `failed` (no event: Paystack sends none for failures) and
/// sends the buyer to `callback_url?trxref=<ref>&reference=<ref>`. A transaction refunded in full shows `reversed`
/// once its refunds are processed.
///
/// The signature is computed here with the emulator's own code (``signature(secretKey:body:)``), not with the
/// adapter's, so a bug on one side cannot cancel one on the other. Faults: API failures and delays, events whose data
/// lies about the transaction, events signed with another key, and refunds that stay pending until a test settles them.
public final class PaystackEmulator: Sendable {
    public struct Configuration: Sendable {
        /// The `sk_test_…` / `sk_live_…` key Settle must present; it also signs the events (Paystack has no separate
        /// webhook secret). Its prefix gives the transactions' `domain`.
        public var secretKey: String
        /// Where events go (Settle's `/v1/webhooks/paystack`); `nil` drops them.
        public var webhookURL: String?
        public var host = "127.0.0.1"
        /// 0 lets the kernel pick a free port (learned once running).
        public var port = 12116

        public init(secretKey: String, webhookURL: String?, host: String = "127.0.0.1", port: Int = 12116) {
            self.secretKey = secretKey
            self.webhookURL = webhookURL
            self.host = host
            self.port = port
        }
    }

    /// A transaction as the emulator keeps it.
    public struct Transaction: Sendable, Hashable {
        /// Paystack's numeric id (increasing, from 4 000 000 000).
        public var id: Int64
        public var reference: String
        /// The code in `authorization_url` (`/checkout/<access code>`).
        public var accessCode: String
        /// In the currency's subunit (kobo, pesewas, cents).
        public var amount: Int64
        /// Upper-case, as Paystack shows it.
        public var currency: String
        /// `abandoned` (never completed), `success`, `failed`, `ongoing`/`pending`/`processing`/`queued`, `reversed`.
        public var status: String
        public var email: String
        public var callbackURL: String?
        /// The metadata as compact JSON text, `nil` when none was sent.
        public var metadata: String?
        public var channels: [String]
        /// What refunds took and did not give back (pending, processing and processed ones; failed ones give it back).
        public var refunded: Int64
        public var paidAt: Date?
        public var createdAt: Date

        /// What is still refundable.
        public var remaining: Int64 { amount - refunded }

        /// Paystack's `gateway_response` for the status.
        public var gatewayResponse: String {
            switch status {
            case "success", "reversed": "Successful"
            case "failed": "Declined"
            case "abandoned": "The transaction was not completed"
            default: "Transaction in progress"
            }
        }

        /// The metadata as JSON, `null` when none.
        var metadataJSON: JSONValue {
            guard let metadata, let parsed = try? JSONValue.parse(Array(metadata.utf8)) else { return .null }
            return parsed
        }

        /// The card that paid (a fixed test card), `{}` while unpaid.
        var authorizationJSON: JSONValue {
            guard paidAt != nil else { return .object([]) }
            let members: [(String, JSONValue)] = [
                ("authorization_code", .string("AUTH_\(id)")), ("bin", .string("408408")), ("last4", .string("4081")),
                ("exp_month", .string("12")), ("exp_year", .string("2030")), ("channel", .string("card")),
                ("card_type", .string("visa")), ("bank", .string("TEST BANK")), ("country_code", .string("NG")),
                ("brand", .string("visa")), ("reusable", .bool(true)), ("signature", .string("SIG_\(id)")),
            ]
            return .object(members)
        }

        /// The `data` of `GET /transaction/verify/:reference` (and of `charge.success`).
        func json(domain: String) -> JSONValue {
            let paid = JSONValue.string(paidAt.map { PaystackEmulator.iso($0) })
            let created = JSONValue.string(PaystackEmulator.iso(createdAt))
            let members: [(String, JSONValue)] = [
                ("id", .int(id)), ("domain", .string(domain)), ("status", .string(status)), ("reference", .string(reference)),
                ("receipt_number", .null), ("amount", .int(amount)), ("message", .null),
                ("gateway_response", .string(gatewayResponse)), ("paid_at", paid), ("created_at", created),
                ("channel", .string("card")), ("currency", .string(currency)), ("ip_address", .null),
                ("metadata", metadataJSON), ("log", .null), ("fees", .null),
                ("customer", .object([("email", .string(email))])), ("authorization", authorizationJSON), ("plan", .null),
                ("requested_amount", .int(amount)), ("paidAt", paid), ("createdAt", created),
            ]
            return .object(members)
        }
    }

    /// A refund as the emulator keeps it.
    public struct Refund: Sendable, Hashable {
        /// Paystack's numeric refund id.
        public var id: Int64
        public var transactionID: Int64
        public var transactionReference: String
        public var transactionAmount: Int64
        public var customerEmail: String
        public var amount: Int64
        public var currency: String
        /// `pending`, `processing`, `processed` (money returned) or `failed`.
        public var status: String
        public var customerNote: String?
        public var merchantNote: String?
        /// The processor's reference, once processed.
        public var refundReference: String?
        public var createdAt: Date
        public var refundedAt: Date?

        /// The `data` of `POST /refund` and `GET /refund/:id`.
        func json(domain: String) -> JSONValue {
            let transaction: [(String, JSONValue)] = [
                ("id", .int(transactionID)), ("domain", .string(domain)), ("reference", .string(transactionReference)),
                ("amount", .int(transactionAmount)), ("channel", .string("card")), ("currency", .string(currency)),
            ]
            let members: [(String, JSONValue)] = [
                ("transaction", .object(transaction)), ("integration", .int(Int64(100_000))), ("deducted_amount", .int(amount)),
                ("channel", .null), ("merchant_note", .string(merchantNote)), ("customer_note", .string(customerNote)),
                ("status", .string(status)), ("refunded_by", .string(customerEmail)),
                ("expected_at", .string(PaystackEmulator.iso(createdAt.addingTimeInterval(5 * 86_400)))),
                ("currency", .string(currency)), ("domain", .string(domain)), ("amount", .int(amount)),
                ("fully_deducted", .bool(true)), ("id", .int(id)), ("transaction_reference", .string(transactionReference)),
                ("refund_reference", .string(refundReference)), ("refunded_at", .string(refundedAt.map { PaystackEmulator.iso($0) })),
                ("created_at", .string(PaystackEmulator.iso(createdAt))),
            ]
            return .object(members)
        }

        /// The `data` of a `refund.*` event.
        func eventJSON(domain: String) -> JSONValue {
            let members: [(String, JSONValue)] = [
                ("status", .string(status)), ("transaction_reference", .string(transactionReference)),
                ("refund_reference", .string(refundReference)), ("amount", .int(amount)), ("currency", .string(currency)),
                ("processor", .string("emulator")), ("customer", .object([("email", .string(customerEmail))])),
                ("integration", .int(Int64(100_000))), ("domain", .string(domain)), ("id", .int(id)),
                ("customer_note", .string(customerNote)), ("merchant_note", .string(merchantNote)),
                ("refunded_at", .string(refundedAt.map { PaystackEmulator.iso($0) })),
                ("created_at", .string(PaystackEmulator.iso(createdAt))),
            ]
            return .object(members)
        }
    }

    /// A signed event ready to post.
    public struct Delivery: Sendable {
        /// `charge.success`, `refund.processed`, …
        public var event: String
        public var headers: [(String, String)]
        public var body: [UInt8]

        public func header(_ name: String) -> String? {
            headers.first { $0.0.lowercased() == name.lowercased() }?.1
        }
    }

    /// Faults to inject, changed at any time by tests.
    public struct Faults: Sendable {
        /// The next N API calls answer 500 `{"status":false,"message":"An error occurred"}`.
        public var failNextAPICalls = 0
        /// Every API call waits this long first.
        public var apiDelay: Duration = .zero
        /// Events claim what went well, whatever happened: `charge.success` data says `success` (and paid), refund
        /// events say `refund.processed`.
        public var lieInEvents = false
        /// Events are signed with another key.
        public var badSignature = false
        /// Refunds stay `pending` (no event) until ``PaystackEmulator/settleRefund(_:processed:)``.
        public var pendingRefunds = false
        public init() {}
    }

    /// A Paystack error: `{"status":false,"message":…}` with its HTTP status.
    struct APIError: Error {
        var status: Int
        var message: String

        init(_ status: Int, _ message: String) {
            self.status = status
            self.message = message
        }

        var response: Response { PaystackEmulator.failure(status, message) }
    }

    private struct State {
        /// By reference.
        var transactions: [String: Transaction] = [:]
        /// Access code → reference.
        var accessCodes: [String: String] = [:]
        /// Transaction id → reference.
        var references: [Int64: String] = [:]
        var refunds: [Int64: Refund] = [:]
        var nextTransactionID: Int64 = 4_000_000_000
        var nextRefundID: Int64 = 10_000_000
        var faults = Faults()
        var port: Int?
        var webhookURL: String?
        var apiCalls: [String] = []
        var sentEvents: [String] = []
        var pendingTasks: [Task<Void, Never>] = []
    }

    /// The currencies transactions accept.
    public static let currencies: Set<String> = ["NGN", "GHS", "ZAR", "KES", "USD", "XOF", "EGP", "RWF"]
    /// The `channels` a transaction may name.
    public static let channels: Set<String> = ["card", "bank", "ussd", "qr", "mobile_money", "bank_transfer", "eft", "apple_pay"]
    /// Statuses the buyer can still pay or fail from.
    static let openStatuses: Set<String> = ["abandoned", "ongoing", "pending", "processing", "queued"]
    /// Statuses ``complete(reference:status:)`` sets.
    static let settableStatuses: Set<String> = ["success", "failed", "abandoned", "ongoing", "pending", "processing", "queued"]
    /// A key that is not the configured one (the `badSignature` fault).
    static let otherSecretKey = "sk_test_not_the_paystack_secret_key_00000000000"
    /// How long a queued refund takes to be processed (without the `pendingRefunds` fault).
    static let refundProcessingDelay: Duration = .milliseconds(100)

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

    /// `http://host:port` once running (the API and the checkout page both live there).
    public var baseURL: String { "http://\(configuration.host):\(state.withLock { $0.port } ?? configuration.port)" }
    public var isRunning: Bool { state.withLock { $0.port } != nil }
    /// `test` or `live`, from the secret key's prefix.
    public var domain: String { configuration.secretKey.hasPrefix("sk_live_") ? "live" : "test" }
    public func transaction(reference: String) -> Transaction? { state.withLock { $0.transactions[reference] } }
    public func transaction(id: Int64) -> Transaction? {
        state.withLock { state -> Transaction? in
            guard let reference = state.references[id] else { return nil }
            return state.transactions[reference]
        }
    }
    public func refund(id: Int64) -> Refund? { state.withLock { $0.refunds[id] } }
    /// Every transaction, oldest first.
    public var transactions: [Transaction] { state.withLock { Array($0.transactions.values) }.sorted { $0.id < $1.id } }
    /// Every refund, oldest first.
    public var refunds: [Refund] { state.withLock { Array($0.refunds.values) }.sorted { $0.id < $1.id } }
    /// `METHOD /path` of every API call (without the query), in order.
    public var apiCalls: [String] { state.withLock { $0.apiCalls } }
    /// Names of the events delivered, in order.
    public var sentEvents: [String] { state.withLock { $0.sentEvents } }

    /// Lowercase hex HMAC-SHA512 of the raw body, keyed with the secret key's UTF-8 bytes, as Paystack signs
    /// (`x-paystack-signature`); computed here on its own (not with the adapter's verifier).
    ///
    /// The protocol sheet's vector: key `sk_test_0123456789abcdef0123456789abcdef01234567`, body
    /// `{"event":"charge.success","data":{"id":302961,"domain":"test","status":"success","reference":"qTPrJoy9Bx","amount":10000,"currency":"NGN"}}`
    /// → `7713733d6df31b9888209d87642bb6ec497b5f8af9048c82f3a874771dc0c70b127139d91c9ff8c916d5c00365434fc9f7088971eb7aacbc0082603512a58cf4`.
    public static func signature(secretKey: String, body: [UInt8]) -> String {
        let mac = HMAC<SHA512>.authenticationCode(for: body, using: SymmetricKey(data: Data(secretKey.utf8)))
        return mac.map { String(format: "%02x", $0) }.joined()
    }

    /// The emulator as a Hummingbird application (port 0 picks a free port).
    public func application(logger: Logger) -> some ApplicationProtocol {
        Application(
            router: buildRouter(),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "paystack-emulator"),
            onServerRunning: { channel in self.state.withLock { $0.port = channel.localAddress?.port } },
            logger: logger
        )
    }

    func buildRouter() -> Router<BasicRequestContext> {
        let router = Router()
        router.post("transaction/initialize") { request, _ in
            try await self.api(request, message: "Authorization URL created") { try self.initialize(try await Self.parameters(of: request)) }
        }
        router.get("transaction/verify/:reference") { request, context in
            try await self.api(request, message: "Verification successful") { try self.verify(try context.parameters.require("reference")) }
        }
        router.get("transaction/:id") { request, context in
            try await self.api(request, message: "Transaction retrieved") { try self.fetchTransaction(try context.parameters.require("id")) }
        }
        router.post("refund") { request, _ in
            try await self.api(request, message: "Refund has been queued for processing") {
                try self.createRefund(try await Self.parameters(of: request))
            }
        }
        router.get("refund") { request, _ in
            try await self.api(request, message: "Refunds retrieved") {
                self.listRefunds(transaction: request.uri.queryParameters.get("transaction").map { String($0) })
            }
        }
        router.get("refund/:id") { request, context in
            try await self.api(request, message: "Refund retrieved") { try self.readRefund(try context.parameters.require("id")) }
        }
        router.get("checkout/:code") { _, context in self.checkoutPage(try context.parameters.require("code")) }
        router.post("checkout/:code") { request, context in try await self.checkout(request, code: try context.parameters.require("code")) }
        return router
    }

    // MARK: - API plumbing

    /// Records the call, applies the faults and the key check, and wraps the answer (or an ``APIError``) in Paystack's
    /// envelope.
    private func api(_ request: Request, message: String, _ body: () async throws -> JSONValue) async throws -> Response {
        let (fail, delay) = state.withLock { state -> (Bool, Duration) in
            state.apiCalls.append("\(request.method) \(request.uri.path)")
            let fail = state.faults.failNextAPICalls > 0
            if fail { state.faults.failNextAPICalls -= 1 }
            return (fail, state.faults.apiDelay)
        }
        if delay > .zero { try await Task.sleep(for: delay) }
        if fail { return Self.failure(500, "An error occurred") }
        guard let key = Self.bearer(request.headers[.authorization]), key == configuration.secretKey else {
            return Self.failure(401, "Invalid key")
        }
        do {
            let data = try await body()
            return Self.json(.object([("status", .bool(true)), ("message", .string(message)), ("data", data)]))
        } catch let error as APIError {
            return error.response
        }
    }

    /// The token of a `Bearer` `Authorization` header.
    static func bearer(_ header: String?) -> String? {
        guard let header, header.lowercased().hasPrefix("bearer ") else { return nil }
        return header.dropFirst("bearer ".count).trimmingCharacters(in: .whitespaces)
    }

    static func failure(_ status: Int, _ message: String) -> Response {
        json(.object([("status", .bool(false)), ("message", .string(message))]), status: status)
    }

    static func json(_ value: JSONValue, status: Int = 200) -> Response {
        Response(status: .init(code: status), headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: value.bytes())))
    }

    /// ISO 8601 with milliseconds, as Paystack writes dates (`2024-05-01T10:00:00.000Z`).
    static func iso(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: date)
    }

    // MARK: - Reading bodies (the emulator's own decoder, not the adapter's encoder run backwards)

    static func parameters(of request: Request) async throws -> JSONValue {
        try parameters(Array(buffer: try await request.body.collect(upTo: 1 << 20)), contentType: request.headers[.contentType])
    }

    /// The body as one object: JSON as sent, or a flat form (every value text). Empty is `{}`.
    static func parameters(_ bytes: [UInt8], contentType: String?) throws -> JSONValue {
        if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D }) { return .object([]) }
        if contentType?.lowercased().hasPrefix("application/x-www-form-urlencoded") == true {
            var members: [(String, JSONValue)] = []
            for (name, value) in FormURLEncoded.pairs(bytes) where !members.contains(where: { $0.0 == name }) {
                members.append((name, .string(value)))
            }
            return .object(members)
        }
        guard let value = try? JSONValue.parse(bytes), value.isObject else { throw APIError(400, "Invalid JSON body") }
        return value
    }

    /// A string, or an integer as text.
    static func text(_ value: JSONValue?) -> String? {
        switch value {
        case .string(let text): text
        case .int(let number): String(number)
        default: nil
        }
    }

    /// A positive integer amount in subunits: a JSON integer, or a string of ASCII digits only (no sign, no fraction;
    /// a JSON number with a fraction parses as text and is refused here).
    static func amount(_ value: JSONValue?) -> Int64? {
        switch value {
        case .int(let number):
            return number > 0 ? number : nil
        case .string(let text):
            guard !text.isEmpty, text.utf8.allSatisfy({ (0x30...0x39).contains($0) }), let number = Int64(text), number > 0 else { return nil }
            return number
        default:
            return nil
        }
    }

    /// Only `-`, `.`, `=` and ASCII alphanumerics.
    static func isReference(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.allSatisfy { isReferenceByte($0) }
    }

    static func isReferenceByte(_ byte: UInt8) -> Bool {
        switch byte {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A, 0x2D, 0x2E, 0x3D: true
        default: false
        }
    }

    /// One `@` between non-empty parts, no spaces.
    static func isEmail(_ text: String) -> Bool {
        let parts = text.split(separator: "@", omittingEmptySubsequences: false)
        return parts.count == 2 && !parts[0].isEmpty && !parts[1].isEmpty && !text.contains(where: { $0.isWhitespace })
    }

    /// An absolute `http`/`https` URL.
    static func isCallbackURL(_ text: String) -> Bool {
        guard let components = URLComponents(string: text), let scheme = components.scheme?.lowercased(),
            scheme == "http" || scheme == "https", let host = components.host, !host.isEmpty
        else { return false }
        return true
    }

    /// `metadata` as compact JSON text: an object, or a string holding one; absent, `null` or `""` is none.
    static func metadata(_ value: JSONValue?) throws -> String? {
        switch value {
        case nil, .null:
            return nil
        case .object(let members):
            return JSONValue.object(members).serialized()
        case .string(let text):
            if text.isEmpty { return nil }
            guard let parsed = try? JSONValue.parse(Array(text.utf8)), parsed.isObject else {
                throw APIError(400, "Invalid metadata: send an object or a JSON string of one")
            }
            return parsed.serialized()
        default:
            throw APIError(400, "Invalid metadata: send an object or a JSON string of one")
        }
    }

    /// `channels`: absent or `null` is all; otherwise an array of known channel names.
    static func channelList(_ value: JSONValue?) throws -> [String] {
        guard let value, value != .null else { return [] }
        guard let items = value.arrayValue else { throw APIError(400, "Invalid channels: send an array") }
        var names: [String] = []
        for item in items {
            guard let name = item.stringValue, channels.contains(name) else { throw APIError(400, "Invalid channels: unknown channel") }
            names.append(name)
        }
        return names
    }

    // MARK: - Transactions

    /// `POST /transaction/initialize`: `email` and `amount` required, `currency` (default NGN), `reference` (unique;
    /// generated when absent), `callback_url`, `metadata`, `channels`. The transaction starts `abandoned`.
    private func initialize(_ parameters: JSONValue) throws -> JSONValue {
        guard let email = Self.text(parameters["email"])?.trimmingCharacters(in: .whitespaces), !email.isEmpty else {
            throw APIError(400, "Email is required")
        }
        guard Self.isEmail(email) else { throw APIError(400, "Invalid Email Address Passed") }
        guard let amountValue = parameters["amount"], amountValue != .null else { throw APIError(400, "Amount is required") }
        guard let amount = Self.amount(amountValue) else { throw APIError(400, "Invalid Amount Sent") }
        var currency = "NGN"
        if let value = parameters["currency"], value != .null {
            guard let code = Self.text(value)?.uppercased(), Self.currencies.contains(code) else {
                throw APIError(400, "Currency not supported by merchant")
            }
            currency = code
        }
        var requested: String?
        if let value = parameters["reference"], value != .null {
            guard let reference = Self.text(value) else { throw APIError(400, "Invalid reference: send a string") }
            if !reference.isEmpty {
                guard Self.isReference(reference) else {
                    throw APIError(400, "Invalid reference: only -, ., = and alphanumeric characters allowed")
                }
                requested = reference
            }
        }
        var callbackURL: String?
        if let value = parameters["callback_url"], value != .null {
            guard let url = Self.text(value), Self.isCallbackURL(url) else { throw APIError(400, "Invalid callback_url") }
            callbackURL = url
        }
        let metadata = try Self.metadata(parameters["metadata"])
        let channels = try Self.channelList(parameters["channels"])
        let accessCode = Identifier.randomToken(length: 15).lowercased()
        let baseURL = self.baseURL
        let created = try state.withLock { state -> Transaction in
            var reference = requested ?? Identifier.randomToken(length: 16)
            while requested == nil, state.transactions[reference] != nil { reference = Identifier.randomToken(length: 16) }
            guard state.transactions[reference] == nil else { throw APIError(400, "Duplicate Transaction Reference") }
            guard state.accessCodes[accessCode] == nil else { throw APIError(500, "An error occurred") }
            let transaction = Transaction(
                id: state.nextTransactionID, reference: reference, accessCode: accessCode, amount: amount, currency: currency,
                status: "abandoned", email: email, callbackURL: callbackURL, metadata: metadata, channels: channels,
                refunded: 0, paidAt: nil, createdAt: Date()
            )
            state.nextTransactionID += 1
            state.transactions[reference] = transaction
            state.accessCodes[accessCode] = reference
            state.references[transaction.id] = reference
            return transaction
        }
        return .object([
            ("authorization_url", .string("\(baseURL)/checkout/\(created.accessCode)")), ("access_code", .string(created.accessCode)),
            ("reference", .string(created.reference)),
        ])
    }

    /// `GET /transaction/verify/:reference`.
    private func verify(_ raw: String) throws -> JSONValue {
        let reference = raw.removingPercentEncoding ?? raw
        guard let transaction = transaction(reference: reference) else { throw APIError(400, "Transaction reference not found") }
        return transaction.json(domain: domain)
    }

    /// `GET /transaction/:id`.
    private func fetchTransaction(_ raw: String) throws -> JSONValue {
        guard let id = Int64(raw), let transaction = transaction(id: id) else { throw APIError(404, "Transaction not found") }
        return transaction.json(domain: domain)
    }

    private func transaction(accessCode: String) -> Transaction? {
        state.withLock { state -> Transaction? in
            guard let reference = state.accessCodes[accessCode] else { return nil }
            return state.transactions[reference]
        }
    }

    // MARK: - Refunds

    /// `POST /refund`: `transaction` (id, as a number or text, or reference), `amount` (default: all that is left),
    /// `currency`, `customer_note`, `merchant_note`. Only a `success` transaction, for no more than is left. The refund
    /// starts `pending` and is processed a moment later (its `refund.processed` sent in the background), unless the
    /// `pendingRefunds` fault keeps it pending.
    private func createRefund(_ parameters: JSONValue) throws -> JSONValue {
        guard let target = parameters["transaction"], target != .null else { throw APIError(400, "Transaction is required") }
        guard let key = Self.text(target), !key.isEmpty else { throw APIError(400, "Invalid transaction: send its id or reference") }
        var requested: Int64?
        if let value = parameters["amount"], value != .null {
            guard let amount = Self.amount(value) else { throw APIError(400, "Invalid amount") }
            requested = amount
        }
        let currency = Self.text(parameters["currency"])?.uppercased()
        let customerNote = Self.text(parameters["customer_note"])
        let merchantNote = Self.text(parameters["merchant_note"])
        let (refund, queued) = try state.withLock { state -> (Refund, Bool) in
            guard let reference = Self.reference(of: key, in: state), var transaction = state.transactions[reference] else {
                throw APIError(404, "Transaction not found")
            }
            guard transaction.status != "reversed" else { throw APIError(400, "Transaction has been fully reversed") }
            guard transaction.status == "success" else { throw APIError(400, "Transaction has not been completed and cannot be refunded") }
            if let currency, !currency.isEmpty, currency != transaction.currency {
                throw APIError(400, "Invalid currency: the transaction is in \(transaction.currency)")
            }
            let remaining = transaction.remaining
            guard remaining > 0 else { throw APIError(400, "Transaction has been fully reversed") }
            let amount = requested ?? remaining
            guard amount <= transaction.amount else { throw APIError(400, "Refund amount cannot be greater than transaction amount") }
            guard amount <= remaining else {
                throw APIError(400, "Refund amount cannot be greater than the amount left to refund (\(remaining))")
            }
            let created = Refund(
                id: state.nextRefundID, transactionID: transaction.id, transactionReference: transaction.reference,
                transactionAmount: transaction.amount, customerEmail: transaction.email, amount: amount, currency: transaction.currency,
                status: "pending", customerNote: customerNote, merchantNote: merchantNote, refundReference: nil, createdAt: Date(),
                refundedAt: nil
            )
            state.nextRefundID += 1
            state.refunds[created.id] = created
            transaction.refunded += amount
            state.transactions[reference] = transaction
            return (created, !state.faults.pendingRefunds)
        }
        if queued { processInBackground(refundID: refund.id) }
        return refund.json(domain: domain)
    }

    /// The reference of the transaction `key` names: an id (digits) first, else a reference.
    private static func reference(of key: String, in state: State) -> String? {
        if let id = Int64(key), let reference = state.references[id] { return reference }
        return state.transactions[key] != nil ? key : nil
    }

    /// `GET /refund/:id`.
    private func readRefund(_ raw: String) throws -> JSONValue {
        guard let id = Int64(raw), let refund = refund(id: id) else { throw APIError(404, "Refund not found") }
        return refund.json(domain: domain)
    }

    /// `GET /refund?transaction=<id or reference>`: the refunds, oldest first.
    private func listRefunds(transaction key: String?) -> JSONValue {
        let domain = self.domain
        let chosen = refunds.filter { refund in
            guard let key else { return true }
            return String(refund.transactionID) == key || refund.transactionReference == key
        }
        return .array(chosen.map { $0.json(domain: domain) })
    }

    /// Processes a queued refund after ``refundProcessingDelay`` and sends its `refund.processed`; ``flushEvents()``
    /// waits for it.
    private func processInBackground(refundID: Int64) {
        let task = Task {
            try? await Task.sleep(for: PaystackEmulator.refundProcessingDelay)
            await self.settleRefund(refundID, processed: true)
        }
        state.withLock { $0.pendingTasks.append(task) }
    }

    /// Moves a `pending` (or `processing`) refund to `processed` or `failed` and sends `refund.processed` /
    /// `refund.failed` (awaited; a failed delivery is ignored). A failed refund gives its amount back to the
    /// transaction; a transaction whose processed refunds reach its amount becomes `reversed`. A refund already final
    /// (or unknown) is left alone, with no event.
    public func settleRefund(_ id: Int64, processed: Bool) async {
        guard finishRefund(id, processed: processed), let delivery = refundEvent(id: id) else { return }
        _ = try? await deliver(delivery)
    }

    private func finishRefund(_ id: Int64, processed: Bool) -> Bool {
        state.withLock { state -> Bool in
            guard var refund = state.refunds[id], refund.status == "pending" || refund.status == "processing" else { return false }
            refund.status = processed ? "processed" : "failed"
            if processed {
                refund.refundedAt = Date()
                refund.refundReference = Identifier.randomToken(length: 12).uppercased()
            }
            state.refunds[id] = refund
            guard var transaction = state.transactions[refund.transactionReference] else { return true }
            if processed {
                let done = state.refunds.values
                    .filter { $0.transactionID == refund.transactionID && $0.status == "processed" }
                    .reduce(Int64(0)) { $0 + $1.amount }
                if done >= transaction.amount, transaction.status == "success" { transaction.status = "reversed" }
            } else {
                transaction.refunded -= refund.amount
            }
            state.transactions[refund.transactionReference] = transaction
            return true
        }
    }

    // MARK: - What the buyer and Paystack do

    /// Moves a transaction to `status` (`success`, `failed`, `abandoned`, `ongoing`, `pending`, `processing`,
    /// `queued`; paid now when `success`) whatever it was, and for `success` sends `charge.success` (awaited) — for
    /// payments the buyer finishes elsewhere (a bank transfer). An unknown reference is ignored; another status throws.
    public func complete(reference: String, status: String) async throws {
        guard Self.settableStatuses.contains(status) else { throw APIError(400, "The emulator cannot set status \(status)") }
        if settle(reference: reference, status: status, onlyOpen: false), status == "success" {
            try await sendEvent(reference: reference)
        }
    }

    /// Sets the status in one step; with `onlyOpen`, only a transaction not yet final changes (two clicks make one
    /// event).
    private func settle(reference: String, status: String, onlyOpen: Bool) -> Bool {
        state.withLock { state -> Bool in
            guard var transaction = state.transactions[reference], !onlyOpen || Self.openStatuses.contains(transaction.status) else {
                return false
            }
            transaction.status = status
            transaction.paidAt = status == "success" ? Date() : nil
            state.transactions[reference] = transaction
            return true
        }
    }

    // MARK: - Events

    /// A signed `charge.success` about the transaction as it is now, built and not sent. The `lieInEvents` fault makes
    /// the data claim `success` (and paid) whatever the transaction's status; `badSignature` signs with another key.
    public func event(reference: String) -> Delivery? {
        guard var transaction = transaction(reference: reference) else { return nil }
        if faults.lieInEvents {
            transaction.status = "success"
            transaction.paidAt = transaction.paidAt ?? Date()
        }
        return delivery(event: "charge.success", data: transaction.json(domain: domain))
    }

    /// A signed `refund.<status>` about the refund as it is now (`refund.pending`, `refund.processing`,
    /// `refund.processed`, `refund.failed`), built and not sent. With `lieInEvents` it claims `refund.processed`.
    public func refundEvent(id: Int64) -> Delivery? {
        guard var refund = refund(id: id) else { return nil }
        if faults.lieInEvents, refund.status != "processed" {
            refund.status = "processed"
            refund.refundedAt = refund.refundedAt ?? Date()
            refund.refundReference = refund.refundReference ?? Identifier.randomToken(length: 12).uppercased()
        }
        return delivery(event: "refund.\(refund.status)", data: refund.eventJSON(domain: domain))
    }

    /// `{"event":…,"data":…}` signed with ``signature(secretKey:body:)`` (another key under `badSignature`).
    func delivery(event: String, data: JSONValue) -> Delivery {
        let body = JSONValue.object([("event", .string(event)), ("data", data)]).bytes()
        let key = faults.badSignature ? Self.otherSecretKey : configuration.secretKey
        let headers: [(String, String)] = [
            ("content-type", "application/json"), ("user-agent", "Paystack-Emulator"),
            ("x-paystack-signature", Self.signature(secretKey: key, body: body)),
        ]
        return Delivery(event: event, headers: headers, body: body)
    }

    /// Builds and posts `charge.success` about a transaction; returns the HTTP status (0 when events are dropped,
    /// 404 for no transaction).
    @discardableResult
    public func sendEvent(reference: String) async throws -> Int {
        guard let delivery = event(reference: reference) else { return 404 }
        return try await deliver(delivery)
    }

    /// Posts a prepared event (tests use it to send events late, twice or out of order); returns the HTTP status, 0
    /// when there is no webhook URL.
    @discardableResult
    public func deliver(_ delivery: Delivery) async throws -> Int {
        guard let url = webhookURL else { return 0 }
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        for (name, value) in delivery.headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(bytes: delivery.body))
        let response = try await httpClient.execute(request, timeout: .seconds(15))
        _ = try await response.body.collect(upTo: 1 << 16)
        state.withLock { $0.sentEvents.append(delivery.event) }
        return Int(response.status.code)
    }

    /// Waits until every refund processed in the background so far is processed and its event delivered (or failed).
    public func flushEvents() async {
        while true {
            let tasks = state.withLock { state -> [Task<Void, Never>] in
                defer { state.pendingTasks = [] }
                return state.pendingTasks
            }
            if tasks.isEmpty { return }
            for task in tasks { await task.value }
        }
    }

    // MARK: - The buyer's checkout page

    static func html(_ body: String, status: Int = 200) -> Response {
        let page = """
            <!doctype html><html><head><meta charset="utf-8"><title>Paystack emulator</title>
            <style>body{font-family:system-ui;max-width:440px;margin:3rem auto}button{display:block;width:100%;margin:.5rem 0;padding:.6rem}</style>
            </head><body><p>Paystack emulator · test mode</p>\(body)</body></html>
            """
        return Response(status: .init(code: status), headers: [.contentType: "text/html; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: page)))
    }

    static func display(_ transaction: Transaction) -> String {
        Currency.lookup(transaction.currency).map { Money(minorUnits: transaction.amount, currency: $0).formatted() }
            ?? "\(transaction.amount) \(transaction.currency)"
    }

    /// The outcome page when there is no `callback_url` (or the transaction is final): "Paid" for `success`.
    static func statusPage(_ transaction: Transaction) -> Response {
        let title = transaction.status == "success" ? "Paid" : "Payment \(transaction.status)"
        return html(
            "<h1 id=\"status\">\(Text.htmlEscaped(title))</h1>"
                + "<p>Transaction <code>\(Text.htmlEscaped(transaction.reference))</code> is \(Text.htmlEscaped(transaction.status)).</p>"
        )
    }

    static var notFoundPage: Response { html("<h1>No such transaction</h1>", status: 404) }

    /// `callback_url` with `trxref` and `reference` added to its query (`=` in a reference written `%3D`).
    static func callback(_ url: String, reference: String) -> String {
        let base = url.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? url
        let value = reference.replacingOccurrences(of: "=", with: "%3D")
        return base + (base.contains("?") ? "&" : "?") + "trxref=\(value)&reference=\(value)"
    }

    /// `GET /checkout/:code`: the amount and the buyer's three choices, or the outcome once final.
    private func checkoutPage(_ code: String) -> Response {
        guard let transaction = transaction(accessCode: code) else { return Self.notFoundPage }
        guard Self.openStatuses.contains(transaction.status) else { return Self.statusPage(transaction) }
        return Self.html(
            """
            <h1>Pay</h1><p id="amount">\(Text.htmlEscaped(Self.display(transaction)))</p>
            <p id="email">\(Text.htmlEscaped(transaction.email))</p>
            <p>Reference <code id="reference">\(Text.htmlEscaped(transaction.reference))</code></p>
            <form method="post" action="/checkout/\(Text.htmlEscaped(code))">
            <button name="action" value="pay" id="pay">Pay</button>
            <button name="action" value="fail" id="fail">Decline</button>
            <button name="action" value="abandon" id="abandon">Cancel</button></form>
            """
        )
    }

    /// The buyer's choice: `pay` → `success` and `charge.success` (awaited; a failed delivery does not stop the
    /// buyer), `fail` → `failed` (no event), `abandon` → unchanged; then back to `callback_url`, or a status page.
    /// A transaction already final does not change.
    private func checkout(_ request: Request, code: String) async throws -> Response {
        let form = FormURLEncoded.parse(Array(buffer: try await request.body.collect(upTo: 1 << 16)))
        guard let transaction = transaction(accessCode: code) else { return Self.notFoundPage }
        switch form["action"] {
        case "pay":
            if settle(reference: transaction.reference, status: "success", onlyOpen: true) {
                _ = try? await sendEvent(reference: transaction.reference)
            }
        case "fail":
            _ = settle(reference: transaction.reference, status: "failed", onlyOpen: true)
        case "abandon":
            break
        default:
            return Self.html("<h1>Choose pay, fail or abandon</h1>", status: 400)
        }
        let now = self.transaction(reference: transaction.reference) ?? transaction
        guard let back = now.callbackURL else { return Self.statusPage(now) }
        return Response(status: .seeOther, headers: [.location: Self.callback(back, reference: now.reference)])
    }
}
