import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import SettleCore
import SettleProviders
import Crypto
import Synchronization

/// Plays the part of Stripe that Settle uses, over real HTTP, so the whole flow runs offline: Checkout Sessions
/// (create from form-encoded bodies, retrieve, expire), a hosted page to pay, Stripe's error shape and status codes,
/// its `Idempotency-Key` behaviour, and events posted to a configured URL signed exactly as Stripe signs them.
/// Faults on request: API failures, slow answers, duplicate events, tampered or mis-signed events.
public final class StripeEmulator: Sendable {
    public struct Configuration: Sendable {
        /// The secret key Settle must present.
        public var apiKey: String
        /// Where events go (Settle's `/v1/webhooks/stripe`).
        public var webhookURL: String?
        public var webhookSecret: String
        public var host = "127.0.0.1"
        public var port = 12111

        public init(apiKey: String, webhookURL: String?, webhookSecret: String, port: Int = 12111) {
            self.apiKey = apiKey
            self.webhookURL = webhookURL
            self.webhookSecret = webhookSecret
            self.port = port
        }
    }

    /// A Checkout Session as the emulator keeps it.
    public struct Session: Sendable {
        public var id: String
        public var status: String  // open | complete | expired
        public var paymentStatus: String  // unpaid | paid
        public var amountTotal: Int64
        public var currency: String
        public var clientReferenceID: String?
        public var metadata: [String: String]
        public var successURL: String?
        public var cancelURL: String?
        public var expiresAt: Int64
        public var created: Int64
        /// Set once the buyer pays: what refunds name.
        public var paymentIntent: String?

        func json(baseURL: String) -> JSONValue {
            .object([
                ("id", .string(id)), ("object", .string("checkout.session")), ("status", .string(status)),
                ("payment_status", .string(paymentStatus)), ("amount_total", .int(amountTotal)), ("currency", .string(currency)),
                ("client_reference_id", .string(clientReferenceID)), ("metadata", .stringMap(metadata)),
                ("success_url", .string(successURL)), ("cancel_url", .string(cancelURL)), ("expires_at", .int(expiresAt)),
                ("created", .int(created)), ("mode", .string("payment")), ("livemode", .bool(false)),
                ("url", status == "open" ? .string("\(baseURL)/pay/\(id)") : .null), ("payment_intent", .string(paymentIntent)),
            ])
        }
    }

    /// A refund as the emulator keeps it.
    public struct Refund: Sendable {
        public var id: String
        public var paymentIntent: String
        public var amount: Int64
        public var currency: String
        /// `succeeded`, `pending`, `failed`.
        public var status: String
        public var reason: String?
        public var metadata: [String: String]
        public var created: Int64 = UnixTime.seconds(Date())

        func json() -> JSONValue {
            .object([
                ("id", .string(id)), ("object", .string("refund")), ("amount", .int(amount)), ("currency", .string(currency)),
                ("payment_intent", .string(paymentIntent)), ("status", .string(status)), ("reason", .string(reason)),
                ("metadata", .stringMap(metadata)), ("created", .int(created)),
            ])
        }
    }

    /// Faults to inject, changed at any time by tests (or `POST /_emulator/faults`).
    public struct Faults: Sendable {
        /// The next N API calls answer 500 with Stripe's api_error.
        public var failNextAPICalls = 0
        /// Every API call waits this long first.
        public var apiDelay: Duration = .zero
        /// Every event is sent twice.
        public var duplicateEvents = false
        /// Refunds stay `pending` until ``settleRefund(_:succeeded:)``.
        public var pendingRefunds = false
        public init() {}
    }

    private struct State {
        var sessions: [String: Session] = [:]
        var refunds: [String: Refund] = [:]
        var idempotency: [String: (request: String, status: Int, body: [UInt8])] = [:]
        var faults = Faults()
        var port: Int?
        var sentEvents: [String] = []
        var createBodies: [String] = []
        var webhookURL: String?
    }

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

    public func session(_ id: String) -> Session? { state.withLock { $0.sessions[id] } }
    public func refund(_ id: String) -> Refund? { state.withLock { $0.refunds[id] } }
    public var refunds: [Refund] { state.withLock { Array($0.refunds.values) } }

    /// `http://host:port` once running.
    public var baseURL: String { "http://\(configuration.host):\(state.withLock { $0.port } ?? configuration.port)" }
    public var isRunning: Bool { state.withLock { $0.port } != nil }
    /// The raw form bodies of every session-create call, in order (tests pin them to hand-written bytes).
    public var receivedCreateBodies: [String] { state.withLock { $0.createBodies } }

    /// `t=<timestamp>,v1=<hex HMAC-SHA256 of "<timestamp>.<body>" keyed with the secret's text>`, as Stripe signs, computed
    /// here on its own (not with the adapter's verifier), so a bug on one side cannot cancel one on the other.
    public static func signatureHeader(secret: String, timestamp: Int64, body: [UInt8]) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Array("\(timestamp).".utf8) + body, using: SymmetricKey(data: Array(secret.utf8)))
        return "t=\(timestamp),v1=" + mac.map { String(format: "%02x", $0) }.joined()
    }

    /// Ids of the events sent, in order.
    public var sentEvents: [String] { state.withLock { $0.sentEvents } }

    /// The emulator as a Hummingbird application (port 0 picks a free port).
    public func application(logger: Logger) -> some ApplicationProtocol {
        Application(
            router: buildRouter(),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "stripe-emulator"),
            onServerRunning: { channel in self.state.withLock { $0.port = channel.localAddress?.port } },
            logger: logger
        )
    }

    func buildRouter() -> Router<BasicRequestContext> {
        let router = Router()
        router.post("v1/checkout/sessions") { request, context in try await self.api(request) { try await self.createSession(request, context: context) } }
        router.get("v1/checkout/sessions/:id") { request, context in
            try await self.api(request) { try self.retrieve(try context.parameters.require("id")) }
        }
        router.post("v1/checkout/sessions/:id/expire") { request, context in
            try await self.api(request) { try await self.expireSession(try context.parameters.require("id")) }
        }
        router.post("v1/refunds") { request, _ in try await self.api(request) { try await self.createRefund(request) } }
        router.get("v1/checkout/sessions") { request, _ in try await self.api(request) { self.listSessions(request) } }
        router.get("v1/refunds") { request, _ in try await self.api(request) { self.listRefunds(request) } }
        router.get("pay/:id") { _, context in try self.page(try context.parameters.require("id")) }
        router.post("pay/:id") { request, context in try await self.choose(request, id: try context.parameters.require("id")) }
        return router
    }

    // MARK: - API

    private func api(_ request: Request, _ body: () async throws -> Response) async throws -> Response {
        let (fail, delay) = state.withLock { state -> (Bool, Duration) in
            let fail = state.faults.failNextAPICalls > 0
            if fail { state.faults.failNextAPICalls -= 1 }
            return (fail, state.faults.apiDelay)
        }
        if delay > .zero { try await Task.sleep(for: delay) }
        if fail { return Self.error(500, type: "api_error", code: nil, message: "An unexpected error occurred (emulated).") }
        guard request.headers[.authorization] == "Bearer \(configuration.apiKey)" else {
            return Self.error(401, type: "invalid_request_error", code: nil, message: "Invalid API Key provided.")
        }
        return try await body()
    }

    static func error(_ status: Int, type: String, code: String?, message: String, param: String? = nil) -> Response {
        let body = JSONValue.object([
            ("error", .object([("type", .string(type)), ("code", .string(code)), ("message", .string(message)), ("param", .string(param))]))
        ])
        return json(body, status: status)
    }

    static func json(_ value: JSONValue, status: Int = 200) -> Response {
        Response(status: .init(code: status), headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: value.bytes())))
    }

    /// Stripe's idempotency: the same key and parameters replay the first answer; other parameters are refused.
    private func replay(key: String?, text: String) -> Response? {
        guard let key, let stored = state.withLock({ $0.idempotency[key] }) else { return nil }
        guard stored.request == text else {
            return Self.error(400, type: "idempotency_error", code: "idempotency_key_in_use",
                message: "Keys for idempotent requests can only be used with the same parameters they were first used with.")
        }
        var response = Response(status: .init(code: stored.status), headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: stored.body)))
        response.headers[HTTPField.Name("Idempotent-Replayed")!] = "true"
        return response
    }

    private func createSession(_ request: Request, context: BasicRequestContext) async throws -> Response {
        let text = String(buffer: try await request.body.collect(upTo: 1 << 20))
        let key = request.headers[HTTPField.Name("Idempotency-Key")!]
        if let replayed = replay(key: key, text: text) { return replayed }
        state.withLock { $0.createBodies.append(text) }
        // The emulator reads forms with its own decoder, not the adapter's encoder run backwards.
        let form = Dictionary(FormURLEncoded.pairs(Array(text.utf8)), uniquingKeysWith: { first, _ in first })
        func required(_ name: String) -> String? { form[name].flatMap { $0.isEmpty ? nil : $0 } }
        for name in ["mode", "line_items[0][price_data][currency]", "line_items[0][price_data][unit_amount]", "success_url"]
        where required(name) == nil {
            return Self.error(400, type: "invalid_request_error", code: "parameter_missing", message: "Missing required param: \(name).", param: name)
        }
        guard let amount = Int64(form["line_items[0][price_data][unit_amount]"]!), amount > 0 else {
            return Self.error(400, type: "invalid_request_error", code: "parameter_invalid_integer",
                message: "Invalid integer: \(form["line_items[0][price_data][unit_amount]"]!)", param: "line_items[0][price_data][unit_amount]")
        }
        let quantity = Int64(form["line_items[0][quantity]"] ?? "1") ?? 1
        var metadata: [String: String] = [:]
        for (name, value) in form where name.hasPrefix("metadata[") && name.hasSuffix("]") {
            metadata[String(name.dropFirst("metadata[".count).dropLast())] = value
        }
        let now = UnixTime.seconds(Date())
        let session = Session(
            id: "cs_test_" + Identifier.randomToken(length: 24), status: "open", paymentStatus: "unpaid",
            amountTotal: amount * quantity, currency: form["line_items[0][price_data][currency]"]!, clientReferenceID: form["client_reference_id"],
            metadata: metadata, successURL: form["success_url"], cancelURL: form["cancel_url"],
            expiresAt: Int64(form["expires_at"] ?? "") ?? now + 86_400, created: now
        )
        let body = session.json(baseURL: baseURL).bytes()
        state.withLock { state in
            state.sessions[session.id] = session
            if let key { state.idempotency[key] = (text, 200, body) }
        }
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    /// `POST /v1/refunds` (`payment_intent`, optional `amount`, `reason`, `metadata[…]`), with Stripe's idempotency:
    /// never more than what was paid and not yet refunded; `succeeded` at once (or `pending`, by fault), with its
    /// `refund.created` and, once final, `refund.updated` event.
    private func createRefund(_ request: Request) async throws -> Response {
        let text = String(buffer: try await request.body.collect(upTo: 1 << 20))
        let key = request.headers[HTTPField.Name("Idempotency-Key")!]
        if let replayed = replay(key: key.map { "refund:" + $0 }, text: text) { return replayed }
        let form = Dictionary(FormURLEncoded.pairs(Array(text.utf8)), uniquingKeysWith: { first, _ in first })
        guard let intent = form["payment_intent"], let session = state.withLock({ $0.sessions.values.first { $0.paymentIntent == intent } }) else {
            return Self.error(400, type: "invalid_request_error", code: "resource_missing", message: "No such payment_intent: '\(form["payment_intent"] ?? "")'", param: "payment_intent")
        }
        let refunded = state.withLock { $0.refunds.values.filter { $0.paymentIntent == intent && $0.status != "failed" }.reduce(Int64(0)) { $0 + $1.amount } }
        let remaining = session.amountTotal - refunded
        let amount = form["amount"].flatMap { Int64($0) } ?? remaining
        guard amount > 0, amount <= remaining else {
            return Self.error(400, type: "invalid_request_error", code: "amount_too_large",
                message: "Refund amount (\(amount)) is greater than unrefunded amount on charge (\(remaining))", param: "amount")
        }
        if let reason = form["reason"], !["duplicate", "fraudulent", "requested_by_customer"].contains(reason) {
            return Self.error(400, type: "invalid_request_error", code: "parameter_invalid", message: "Invalid reason: \(reason)", param: "reason")
        }
        var metadata: [String: String] = [:]
        for (name, value) in form where name.hasPrefix("metadata[") && name.hasSuffix("]") {
            metadata[String(name.dropFirst("metadata[".count).dropLast())] = value
        }
        let refund = Refund(
            id: "re_" + Identifier.randomToken(length: 24), paymentIntent: intent, amount: amount, currency: session.currency,
            status: faults.pendingRefunds ? "pending" : "succeeded", reason: form["reason"], metadata: metadata
        )
        let body = refund.json().bytes()
        state.withLock { state in
            state.refunds[refund.id] = refund
            if let key { state.idempotency["refund:" + key] = (text, 200, body) }
        }
        try await sendRefundEvent(type: "refund.created", refundID: refund.id)
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    /// A pending refund's outcome: `refund.updated` (succeeded) or `refund.failed`.
    public func settleRefund(_ id: String, succeeded: Bool) async throws {
        state.withLock { $0.refunds[id]?.status = succeeded ? "succeeded" : "failed" }
        try await sendRefundEvent(type: succeeded ? "refund.updated" : "refund.failed", refundID: id)
    }

    /// A signed event about a refund (its object in `data.object`), sent.
    public func sendRefundEvent(type: String, refundID: String) async throws {
        guard let event = refundEvent(type: type, refundID: refundID) else { return }
        _ = try await deliver(event)
    }

    /// A signed event about a refund, built and not sent.
    public func refundEvent(type: String, refundID: String) -> (id: String, headers: [(String, String)], body: [UInt8])? {
        guard let refund = refund(refundID) else { return nil }
        let id = "evt_" + Identifier.randomToken(length: 24)
        let body = JSONValue.object([
            ("id", .string(id)), ("object", .string("event")), ("api_version", .string("2024-06-20")),
            ("created", .int(UnixTime.seconds(Date()))), ("livemode", .bool(false)), ("type", .string(type)),
            ("data", .object([("object", refund.json())])),
        ]).bytes()
        let signature = Self.signatureHeader(secret: configuration.webhookSecret, timestamp: UnixTime.seconds(Date()), body: body)
        return (id, [("content-type", "application/json; charset=utf-8"), ("stripe-signature", signature)], body)
    }

    // MARK: - Lists

    /// Stripe's list parameters, read with the emulator's own decoder: `created[gte|gt|lt|lte]`, `limit` (1–100, default
    /// 10), `starting_after`, `expand[]`.
    struct ListQuery {
        var bounds: [String: Int64] = [:]
        var limit = 10
        var startingAfter: String?
        var expand: [String] = []
        var paymentIntent: String?
        var invalid: String?

        init(_ request: Request) {
            for (name, value) in FormURLEncoded.pairs(Array((request.uri.query ?? "").utf8)) {
                switch name {
                case "created[gte]", "created[gt]", "created[lt]", "created[lte]":
                    guard let time = Int64(value) else { invalid = name; continue }
                    bounds[String(name.dropFirst("created[".count).dropLast())] = time
                case "limit":
                    guard let n = Int(value), (1...100).contains(n) else { invalid = name; continue }
                    limit = n
                case "starting_after": startingAfter = value
                case "expand[]": expand.append(value)
                case "payment_intent": paymentIntent = value
                default: break
                }
            }
        }

        func admits(_ created: Int64) -> Bool {
            (bounds["gte"].map { created >= $0 } ?? true) && (bounds["gt"].map { created > $0 } ?? true)
                && (bounds["lt"].map { created < $0 } ?? true) && (bounds["lte"].map { created <= $0 } ?? true)
        }

        /// Newest first; the page after `starting_after` (`nil`: Stripe does not know that object).
        func page<T>(_ items: [T], id: (T) -> String, created: (T) -> Int64) -> (items: [T], hasMore: Bool)? {
            var sorted = items.filter { admits(created($0)) }.sorted { (created($0), id($0)) > (created($1), id($1)) }
            if let startingAfter {
                guard let index = sorted.firstIndex(where: { id($0) == startingAfter }) else { return nil }
                sorted = Array(sorted[(index + 1)...])
            }
            return (Array(sorted.prefix(limit)), sorted.count > limit)
        }

        var missingCursor: Response {
            StripeEmulator.error(
                400, type: "invalid_request_error", code: "resource_missing", message: "No such object: '\(startingAfter ?? "")'",
                param: "starting_after"
            )
        }
    }

    static func list(_ data: [JSONValue], url: String, hasMore: Bool) -> Response {
        json(.object([("object", .string("list")), ("url", .string(url)), ("has_more", .bool(hasMore)), ("data", .array(data))]))
    }

    /// The fee the emulator's balance transactions charge: 2.9 % (rounded half up) plus 30 minor units.
    public static func fee(amount: Int64) -> Int64 { (amount * 29 + 500) / 1000 + 30 }

    private func listSessions(_ request: Request) -> Response {
        let query = ListQuery(request)
        if let invalid = query.invalid {
            return Self.error(400, type: "invalid_request_error", code: "parameter_invalid", message: "Invalid \(invalid).", param: invalid)
        }
        let sessions = state.withLock { Array($0.sessions.values) }.filter { query.paymentIntent == nil || $0.paymentIntent == query.paymentIntent }
        guard let (page, hasMore) = query.page(sessions, id: \.id, created: \.created) else { return query.missingCursor }
        let expandIntent = query.expand.contains { $0.hasPrefix("data.payment_intent") }
        let expandBalance = query.expand.contains("data.payment_intent.latest_charge.balance_transaction")
        let data = page.map { session -> JSONValue in
            var object = session.json(baseURL: baseURL)
            if expandIntent, let intent = session.paymentIntent, case .object(var pairs) = object {
                let balance: JSONValue =
                    session.paymentStatus == "paid"
                    ? .object([
                        ("id", .string("txn_" + intent.dropFirst(3))), ("object", .string("balance_transaction")),
                        ("amount", .int(session.amountTotal)), ("currency", .string(session.currency)),
                        ("fee", .int(Self.fee(amount: session.amountTotal))),
                        ("net", .int(session.amountTotal - Self.fee(amount: session.amountTotal))),
                    ]) : .null
                let charge: JSONValue = .object([
                    ("id", .string("ch_" + intent.dropFirst(3))), ("object", .string("charge")),
                    ("balance_transaction", expandBalance ? balance : .string("txn_" + intent.dropFirst(3))),
                ])
                let expanded: JSONValue = .object([
                    ("id", .string(intent)), ("object", .string("payment_intent")), ("amount", .int(session.amountTotal)),
                    ("currency", .string(session.currency)), ("status", .string(session.paymentStatus == "paid" ? "succeeded" : "processing")),
                    ("latest_charge", charge),
                ])
                pairs = pairs.map { $0.0 == "payment_intent" ? ($0.0, expanded) : $0 }
                object = .object(pairs)
            }
            return object
        }
        return Self.list(data, url: "/v1/checkout/sessions", hasMore: hasMore)
    }

    private func listRefunds(_ request: Request) -> Response {
        let query = ListQuery(request)
        if let invalid = query.invalid {
            return Self.error(400, type: "invalid_request_error", code: "parameter_invalid", message: "Invalid \(invalid).", param: invalid)
        }
        guard let (page, hasMore) = query.page(refunds, id: \.id, created: \.created) else { return query.missingCursor }
        return Self.list(page.map { $0.json() }, url: "/v1/refunds", hasMore: hasMore)
    }

    // MARK: - What changes at Stripe without Settle being told (reconciliation's divergences)

    /// Changes a session as Stripe holds it, sending no event (a lost notification, a dashboard action).
    public func alter(sessionID: String, _ change: @Sendable (inout Session) -> Void) {
        state.withLock { state in
            guard var session = state.sessions[sessionID] else { return }
            change(&session)
            if session.status == "complete", session.paymentIntent == nil { session.paymentIntent = "pi_" + Identifier.randomToken(length: 24) }
            state.sessions[sessionID] = session
        }
    }

    /// A refund made in Stripe's dashboard: no metadata; its `refund.created` event is sent when `notify`. Returns its id.
    @discardableResult
    public func dashboardRefund(sessionID: String, amount: Int64? = nil, notify: Bool) async throws -> String? {
        let id = dashboardRefund(sessionID: sessionID, amount: amount)
        if notify, let id { try await sendRefundEvent(type: "refund.created", refundID: id) }
        return id
    }

    /// A refund made in Stripe's dashboard: no metadata, and no event sent. Returns its id.
    @discardableResult
    public func dashboardRefund(sessionID: String, amount: Int64? = nil) -> String? {
        state.withLock { state -> String? in
            guard let session = state.sessions[sessionID], let intent = session.paymentIntent else { return nil }
            let refund = Refund(
                id: "re_" + Identifier.randomToken(length: 24), paymentIntent: intent, amount: amount ?? session.amountTotal,
                currency: session.currency, status: "succeeded", reason: nil, metadata: [:]
            )
            state.refunds[refund.id] = refund
            return refund.id
        }
    }

    /// A paid session created by something other than Settle on the same account. Returns its id.
    @discardableResult
    public func foreignSession(amount: Int64, currency: String) -> String {
        let now = UnixTime.seconds(Date())
        let session = Session(
            id: "cs_test_" + Identifier.randomToken(length: 24), status: "complete", paymentStatus: "paid", amountTotal: amount,
            currency: currency, clientReferenceID: nil, metadata: [:], successURL: nil, cancelURL: nil, expiresAt: now + 3600, created: now,
            paymentIntent: "pi_" + Identifier.randomToken(length: 24)
        )
        state.withLock { $0.sessions[session.id] = session }
        return session.id
    }

    private func retrieve(_ id: String) throws -> Response {
        guard let session = session(id) else {
            return Self.error(404, type: "invalid_request_error", code: "resource_missing", message: "No such checkout.session: '\(id)'", param: "session")
        }
        return Self.json(session.json(baseURL: baseURL))
    }

    private func expireSession(_ id: String) async throws -> Response {
        guard session(id)?.status == "open" else {
            return Self.error(400, type: "invalid_request_error", code: "checkout_session_not_open", message: "Only open sessions can be expired.")
        }
        try await expire(sessionID: id)
        return try retrieve(id)
    }

    // MARK: - What the buyer and Stripe do

    /// The buyer pays. `async: true` is a delayed method (bank debit, voucher): completed but unpaid.
    public func pay(sessionID: String, async delayed: Bool = false) async throws {
        let updated = state.withLock { state -> Session? in
            guard var session = state.sessions[sessionID], session.status == "open" else { return nil }
            session.status = "complete"
            session.paymentStatus = delayed ? "unpaid" : "paid"
            session.paymentIntent = "pi_" + Identifier.randomToken(length: 24)
            state.sessions[sessionID] = session
            return session
        }
        guard updated != nil else { return }
        try await sendEvent(type: "checkout.session.completed", sessionID: sessionID)
    }

    /// The delayed payment's outcome arrives.
    public func settleDelayedPayment(sessionID: String, succeeded: Bool) async throws {
        state.withLock { state in
            if succeeded { state.sessions[sessionID]?.paymentStatus = "paid" }
        }
        try await sendEvent(type: succeeded ? "checkout.session.async_payment_succeeded" : "checkout.session.async_payment_failed", sessionID: sessionID)
    }

    public func expire(sessionID: String) async throws {
        state.withLock { $0.sessions[sessionID]?.status = "expired" }
        try await sendEvent(type: "checkout.session.expired", sessionID: sessionID)
    }

    /// Builds a signed event about a session. `amountTotal` tampers with the amount (still correctly signed);
    /// `secret` signs with another secret; `timestamp` signs at another time.
    public func event(type: String, sessionID: String, amountTotal: Int64? = nil, secret: String? = nil, timestamp: Int64? = nil)
        -> (id: String, headers: [(String, String)], body: [UInt8])?
    {
        guard var session = session(sessionID) else { return nil }
        if let amountTotal { session.amountTotal = amountTotal }
        let id = "evt_" + Identifier.randomToken(length: 24)
        let body = JSONValue.object([
            ("id", .string(id)), ("object", .string("event")), ("api_version", .string("2024-06-20")),
            ("created", .int(UnixTime.seconds(Date()))), ("livemode", .bool(false)), ("type", .string(type)),
            ("data", .object([("object", session.json(baseURL: baseURL))])),
        ]).bytes()
        let signature = Self.signatureHeader(
            secret: secret ?? configuration.webhookSecret, timestamp: timestamp ?? UnixTime.seconds(Date()), body: body
        )
        return (id, [("content-type", "application/json; charset=utf-8"), ("stripe-signature", signature)], body)
    }

    /// Posts an event to the webhook URL (twice when duplicates are on); returns the last HTTP status.
    @discardableResult
    public func sendEvent(type: String, sessionID: String, amountTotal: Int64? = nil, secret: String? = nil, timestamp: Int64? = nil)
        async throws -> Int
    {
        guard let event = event(type: type, sessionID: sessionID, amountTotal: amountTotal, secret: secret, timestamp: timestamp) else {
            return 404
        }
        return try await deliver(event)
    }

    /// Posts a prepared event (tests use it to send events out of order).
    @discardableResult
    public func deliver(_ event: (id: String, headers: [(String, String)], body: [UInt8])) async throws -> Int {
        guard let url = webhookURL else { return 0 }
        let copies = faults.duplicateEvents ? 2 : 1
        var status = 0
        for _ in 0..<copies {
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

    // MARK: - Hosted page

    private func page(_ id: String) throws -> Response {
        guard let session = session(id) else { return Response(status: .notFound) }
        let amount = Currency.lookup(session.currency).map { currency in
            Money(minorUnits: StripeCurrency.minorUnits(stripeAmount: session.amountTotal, currency: currency) ?? 0, currency: currency).formatted()
        } ?? "\(session.amountTotal) \(session.currency)"
        let buttons = session.status == "open"
            ? """
              <button name="action" value="pay">Pay with card</button>
              <button name="action" value="pay_async">Pay by bank debit (settles later)</button>
              <button name="action" value="cancel">Cancel and go back</button>
              """
            : session.paymentStatus == "unpaid" && session.status == "complete"
                ? """
                  <button name="action" value="async_succeed">Bank debit succeeds</button>
                  <button name="action" value="async_fail">Bank debit fails</button>
                  """
                : "<p>This session is \(session.status).</p>"
        let html = """
            <!doctype html><html><head><meta charset="utf-8"><title>Stripe emulator checkout</title>
            <style>body{font-family:system-ui;max-width:420px;margin:3rem auto}button{display:block;width:100%;margin:.5rem 0;padding:.7rem}</style>
            </head><body><p>Stripe emulator · test mode</p><h1 id="amount">\(amount)</h1>
            <p>Session <code>\(session.id)</code> — \(session.status), \(session.paymentStatus)</p>
            <form method="post">\(buttons)</form></body></html>
            """
        return Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: html)))
    }

    private func choose(_ request: Request, id: String) async throws -> Response {
        let form = FormURLEncoded.parse(Array(buffer: try await request.body.collect(upTo: 4096)))
        guard let session = session(id) else { return Response(status: .notFound) }
        switch form["action"] {
        case "pay": try await pay(sessionID: id)
        case "pay_async": try await pay(sessionID: id, async: true)
        case "async_succeed": try await settleDelayedPayment(sessionID: id, succeeded: true)
        case "async_fail": try await settleDelayedPayment(sessionID: id, succeeded: false)
        case "cancel": return Response(status: .seeOther, headers: [.location: session.cancelURL ?? session.successURL ?? "/"])
        default: return Response(status: .badRequest)
        }
        return Response(status: .seeOther, headers: [.location: (session.successURL ?? "/").replacingOccurrences(of: "{CHECKOUT_SESSION_ID}", with: id)])
    }
}
