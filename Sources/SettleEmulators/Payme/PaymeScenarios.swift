import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import SettleCore

/// An order the merchant has ready to be paid through Payme.
public struct PaymeOrder: Sendable {
    /// The value Payme sends as `account.<field>` (for Settle, the payment id).
    public var account: String
    /// In tiyin.
    public var amount: Int64

    public init(account: String, amount: Int64) {
        self.account = account
        self.amount = amount
    }
}

/// How one scenario went.
public struct PaymeScenarioResult: Sendable {
    public var name: String
    public var passed: Bool
    /// The method and params of the step that failed (or of the last step).
    public var sent: String
    /// The reply body to that step.
    public var got: String
    /// What was expected and not found, when it failed.
    public var failure: String?

    public init(name: String, passed: Bool, sent: String, got: String, failure: String?) {
        self.name = name
        self.passed = passed
        self.sent = sent
        self.got = got
        self.failure = failure
    }
}

/// The suite Payme's sandbox runs against a merchant's Merchant API before it issues production keys: wrong
/// credentials, protocol errors, wrong amounts and accounts, create/perform/cancel with their repeats (which must
/// answer identically), the 12-hour timeout, and statements. Scenarios run in order and later ones build on the
/// transactions earlier ones created; each is reported on its own and a failure never stops the run.
public struct PaymeScenarios: Sendable {
    public var client: PaymeMerchantClient
    public var accountField: String
    /// Makes a fresh order in the merchant's system, ready to be paid.
    public var newOrder: @Sendable () async throws -> PaymeOrder

    public init(client: PaymeMerchantClient, accountField: String = "order_id", newOrder: @escaping @Sendable () async throws -> PaymeOrder) {
        self.client = client
        self.accountField = accountField
        self.newOrder = newOrder
    }

    public func run() async -> [PaymeScenarioResult] {
        let run = ScenarioRun(client: client, accountField: accountField, newOrder: newOrder)
        let scenarios: [(String, (ScenarioRun) -> () async throws -> Void)] = [
            ("wrong credentials", ScenarioRun.wrongCredentials),
            ("protocol errors", ScenarioRun.protocolErrors),
            ("wrong amount", ScenarioRun.wrongAmount),
            ("unknown account", ScenarioRun.unknownAccount),
            ("check perform", ScenarioRun.checkPerform),
            ("create transaction", ScenarioRun.createTransaction),
            ("repeated create", ScenarioRun.repeatedCreate),
            ("busy order", ScenarioRun.busyOrder),
            ("check transaction (created)", ScenarioRun.checkCreated),
            ("perform transaction", ScenarioRun.performTransaction),
            ("repeated perform", ScenarioRun.repeatedPerform),
            ("cancel after perform", ScenarioRun.cancelAfterPerform),
            ("repeated cancel", ScenarioRun.repeatedCancel),
            ("check transaction (refunded)", ScenarioRun.checkRefunded),
            ("perform after cancel", ScenarioRun.performAfterCancel),
            ("cancel before perform", ScenarioRun.cancelBeforePerform),
            ("unknown transaction", ScenarioRun.unknownTransaction),
            ("statement", ScenarioRun.statement),
            ("12-hour timeout", ScenarioRun.timeout),
        ]
        var results: [PaymeScenarioResult] = []
        for (name, scenario) in scenarios {
            run.sent = ""
            run.got = ""
            var failure: String?
            do {
                try await scenario(run)()
            } catch let error as ScenarioFailure {
                failure = error.description
            } catch {
                failure = "expected an answer, the call failed: \(error)"
            }
            results.append(PaymeScenarioResult(name: name, passed: failure == nil, sent: run.sent, got: run.got, failure: failure))
        }
        return results
    }

    /// `PASS  name` or `FAIL  name — expected …; sent …; got …` per scenario, then `N of M scenarios passed`.
    public static func report(_ results: [PaymeScenarioResult]) -> String {
        var lines = results.map { result in
            result.passed
                ? "PASS  \(result.name)"
                : "FAIL  \(result.name) — \(result.failure ?? "failed"); sent \(result.sent); got \(result.got)"
        }
        lines.append("\(results.filter(\.passed).count) of \(results.count) scenarios passed")
        return lines.joined(separator: "\n")
    }
}

/// Makes fresh UZS orders in a running Settle for the scenarios: `POST /v1/payments` with `provider: "payme"` and a
/// test-mode API key; the order's account value is the payment id.
public struct SettleOrderSource: Sendable {
    /// Settle's base URL, e.g. `http://127.0.0.1:8080`.
    public var settleURL: String
    public var apiKey: String
    /// In tiyin.
    public var amount: Int64
    public var httpClient: HTTPClient

    public init(settleURL: String, apiKey: String, amount: Int64 = 500_000, httpClient: HTTPClient = .shared) {
        self.settleURL = settleURL.hasSuffix("/") ? String(settleURL.dropLast()) : settleURL
        self.apiKey = apiKey
        self.amount = amount
        self.httpClient = httpClient
    }

    /// - Throws: ``PaymeEmulatorError/orderNotCreated(status:body:)`` unless Settle answers 201 with an `id`.
    public func newOrder() async throws -> PaymeOrder {
        var request = HTTPClientRequest(url: settleURL + "/v1/payments")
        request.method = .POST
        request.headers.add(name: "authorization", value: "Bearer \(apiKey)")
        request.headers.add(name: "content-type", value: "application/json")
        let body = JSONValue.object([
            ("amount", .int(amount)), ("currency", .string("UZS")), ("provider", .string("payme")),
            ("reference", .string("payme-scenario-" + Identifier.randomToken(length: 12))),
        ])
        request.body = .bytes(ByteBuffer(bytes: body.bytes()))
        let response = try await httpClient.execute(request, timeout: .seconds(15))
        let bytes = Array(buffer: try await response.body.collect(upTo: 1 << 20))
        guard response.status.code == 201, let id = (try? JSONValue.parse(bytes))?["id"]?.stringValue else {
            throw PaymeEmulatorError.orderNotCreated(status: Int(response.status.code), body: String(decoding: bytes, as: UTF8.self))
        }
        return PaymeOrder(account: id, amount: amount)
    }
}

/// A scenario's unmet expectation.
struct ScenarioFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// One run of the suite: the last step sent and received, and what earlier scenarios established for later ones.
final class ScenarioRun {
    static let twelveHours: Int64 = 43_200_000

    let client: PaymeMerchantClient
    let accountField: String
    let newOrder: @Sendable () async throws -> PaymeOrder
    /// Unix milliseconds when the run started.
    let start = UnixTime.milliseconds(Date())
    var sent = ""
    var got = ""

    /// Order A and its transaction T1, created, performed and refunded across scenarios.
    var orderA: PaymeOrder?
    let t1 = PaymeObjectID.make()
    var t1CreateParams: JSONValue?
    var t1CreateTime: JSONValue?
    var t1Transaction: JSONValue?
    var t1PerformTime: JSONValue?
    var t1CancelTime: JSONValue?
    /// Transaction T3, cancelled before perform.
    let t3 = PaymeObjectID.make()

    init(client: PaymeMerchantClient, accountField: String, newOrder: @escaping @Sendable () async throws -> PaymeOrder) {
        self.client = client
        self.accountField = accountField
        self.newOrder = newOrder
    }

    // MARK: - Scenarios

    func wrongCredentials() async throws {
        let params = checkParams(PaymeOrder(account: "auth-check", amount: 500_000))
        try expectError(try await call("CheckPerformTransaction", params, authorization: .wrongKey), -32504)
        try expectError(try await call("CheckPerformTransaction", params, authorization: .none), -32504)
    }

    func protocolErrors() async throws {
        try expectError(try await raw(.GET, ""), -32300)
        try expectError(try await raw(.POST, "{not json"), -32700)
        try expectError(try await call("NoSuchMethod", .object([])), -32601)
        try expectError(try await call("CheckPerformTransaction", .object([("account", account("protocol-check"))])), -32600)
    }

    func wrongAmount() async throws {
        let order = try await order()
        try expectError(try await call("CheckPerformTransaction", checkParams(order, amount: order.amount + 100)), -31001)
        let create = createParams(PaymeObjectID.make(), time: now(), order, amount: order.amount + 100)
        try expectError(try await call("CreateTransaction", create), -31001)
    }

    func unknownAccount() async throws {
        let order = PaymeOrder(account: "no-such-order-" + Identifier.randomToken(length: 12), amount: 500_000)
        try expectError(try await call("CheckPerformTransaction", checkParams(order)), -31099 ... -31050, data: accountField)
    }

    func checkPerform() async throws {
        let order = try await order()
        orderA = order
        let reply = try await call("CheckPerformTransaction", checkParams(order))
        try expectResult(reply)
        try expect(reply.resultBool("allow") == true, "expected allow true, got \(Self.show(reply.resultValue("allow")))")
    }

    func createTransaction() async throws {
        guard let order = orderA else { throw Self.needs("check perform") }
        let params = createParams(t1, time: now(), order)
        t1CreateParams = params
        let reply = try await call("CreateTransaction", params)
        try expectResult(reply)
        try expect(reply, "state", 1)
        let transaction = try nonEmptyString(reply, "transaction")
        let createTime = try integer(reply, "create_time")
        try expect(
            (1_000_000_000_000..<10_000_000_000_000).contains(createTime),
            "expected create_time in Unix milliseconds (13 digits), got \(createTime)"
        )
        t1Transaction = .string(transaction)
        t1CreateTime = .int(createTime)
    }

    func repeatedCreate() async throws {
        guard let params = t1CreateParams else { throw Self.needs("create transaction") }
        let reply = try await call("CreateTransaction", params)
        try expectResult(reply)
        try expectSame(reply, "create_time", t1CreateTime, as: "create transaction")
        try expectSame(reply, "transaction", t1Transaction, as: "create transaction")
        try expect(reply, "state", 1)
    }

    func busyOrder() async throws {
        guard let order = orderA else { throw Self.needs("check perform") }
        let reply = try await call("CreateTransaction", createParams(PaymeObjectID.make(), time: now(), order))
        try expectError(reply, -31099 ... -31050, data: accountField)
    }

    func checkCreated() async throws {
        let reply = try await call("CheckTransaction", idParams(t1))
        try expectResult(reply)
        try expect(reply, "state", 1)
        try expect(reply, "perform_time", 0)
        try expect(reply, "cancel_time", 0)
        try expectNull(reply, "reason")
        try expectSame(reply, "create_time", t1CreateTime, as: "create transaction")
        try expectSame(reply, "transaction", t1Transaction, as: "create transaction")
    }

    func performTransaction() async throws {
        let reply = try await call("PerformTransaction", idParams(t1))
        try expectResult(reply)
        try expect(reply, "state", 2)
        let performTime = try integer(reply, "perform_time")
        try expect(performTime > 0, "expected perform_time > 0, got \(performTime)")
        try expectSame(reply, "transaction", t1Transaction, as: "create transaction")
        t1PerformTime = .int(performTime)
    }

    func repeatedPerform() async throws {
        let reply = try await call("PerformTransaction", idParams(t1))
        try expectResult(reply)
        try expect(reply, "state", 2)
        try expectSame(reply, "perform_time", t1PerformTime, as: "perform transaction")
        try expectSame(reply, "transaction", t1Transaction, as: "create transaction")
    }

    func cancelAfterPerform() async throws {
        let reply = try await call("CancelTransaction", idParams(t1, reason: 5))
        try expectResult(reply)
        try expect(reply, "state", -2)
        let cancelTime = try integer(reply, "cancel_time")
        try expect(cancelTime > 0, "expected cancel_time > 0, got \(cancelTime)")
        try expectSame(reply, "transaction", t1Transaction, as: "create transaction")
        t1CancelTime = .int(cancelTime)
    }

    func repeatedCancel() async throws {
        let reply = try await call("CancelTransaction", idParams(t1, reason: 5))
        try expectResult(reply)
        try expect(reply, "state", -2)
        try expectSame(reply, "cancel_time", t1CancelTime, as: "cancel after perform")
        try expectSame(reply, "transaction", t1Transaction, as: "create transaction")
    }

    func checkRefunded() async throws {
        let reply = try await call("CheckTransaction", idParams(t1))
        try expectResult(reply)
        try expect(reply, "state", -2)
        try expect(reply, "reason", 5)
        try expectSame(reply, "create_time", t1CreateTime, as: "create transaction")
        try expectSame(reply, "perform_time", t1PerformTime, as: "perform transaction")
        try expectSame(reply, "cancel_time", t1CancelTime, as: "cancel after perform")
        try expectSame(reply, "transaction", t1Transaction, as: "create transaction")
    }

    func performAfterCancel() async throws {
        try expectError(try await call("PerformTransaction", idParams(t1)), -31008)
    }

    func cancelBeforePerform() async throws {
        let order = try await order()
        let create = try await call("CreateTransaction", createParams(t3, time: now(), order))
        try expectResult(create)
        try expect(create, "state", 1)
        let transaction = JSONValue.string(try nonEmptyString(create, "transaction"))
        let cancel = try await call("CancelTransaction", idParams(t3, reason: 3))
        try expectResult(cancel)
        try expect(cancel, "state", -1)
        let cancelTime = try integer(cancel, "cancel_time")
        try expect(cancelTime > 0, "expected cancel_time > 0, got \(cancelTime)")
        let again = try await call("CancelTransaction", idParams(t3, reason: 3))
        try expectResult(again)
        try expect(again, "state", -1)
        try expectSame(again, "cancel_time", .int(cancelTime), as: "the first CancelTransaction")
        try expectSame(again, "transaction", transaction, as: "CreateTransaction")
        let check = try await call("CheckTransaction", idParams(t3))
        try expectResult(check)
        try expect(check, "state", -1)
        try expect(check, "reason", 3)
        try expect(check, "perform_time", 0)
        try expectSame(check, "cancel_time", .int(cancelTime), as: "CancelTransaction")
        try expectError(try await call("PerformTransaction", idParams(t3)), -31008)
    }

    func unknownTransaction() async throws {
        let unknown = PaymeObjectID.make()
        try expectError(try await call("PerformTransaction", idParams(unknown)), -31003)
        try expectError(try await call("CheckTransaction", idParams(unknown)), -31003)
        try expectError(try await call("CancelTransaction", idParams(unknown, reason: 1)), -31003)
    }

    func statement() async throws {
        let reply = try await call("GetStatement", .object([("from", .int(start - 1000)), ("to", .int(now() + 1000))]))
        try expectResult(reply)
        let transactions = try array(reply, "transactions")
        let fields = ["id", "time", "amount", "account", "create_time", "perform_time", "cancel_time", "transaction", "state", "reason"]
        for (id, state, scenario) in [(t1, Int64(-2), "create transaction"), (t3, Int64(-1), "cancel before perform")] {
            guard let entry = transactions.first(where: { $0["id"]?.stringValue == id }) else {
                throw ScenarioFailure("expected \(id) (from \"\(scenario)\") in the statement")
            }
            for field in fields where entry[field] == nil {
                throw ScenarioFailure("expected \(field) in the statement entry for \(id)")
            }
            try expect(entry["state"] == JSONValue.int(state), "expected state \(state) for \(id), got \(Self.show(entry["state"]))")
            if id == t1, let params = t1CreateParams {
                for field in ["time", "amount"] {
                    try expect(
                        entry[field] == params[field],
                        "expected \(field) \(Self.show(params[field])) for \(id) as sent, got \(Self.show(entry[field]))"
                    )
                }
            }
        }
        let before = try await call("GetStatement", .object([("from", .int(start - 2 * 3_600_000)), ("to", .int(start - 3_600_000))]))
        try expectResult(before)
        let old = try array(before, "transactions").compactMap { $0["id"]?.stringValue }
        try expect(!old.contains(t1) && !old.contains(t3), "expected neither \(t1) nor \(t3) in a statement of the hour before the run")
    }

    func timeout() async throws {
        let order = try await order()
        let stale = PaymeObjectID.make()
        let create = createParams(stale, time: now() - Self.twelveHours - 60_000, order)
        try expectError(try await call("CreateTransaction", create), -31008)
        let check = try await call("CheckTransaction", idParams(stale))
        try expectResult(check)
        try expect(check, "state", -1)
        try expect(check, "reason", 4)
        try expectError(try await call("PerformTransaction", idParams(stale)), -31008)
        let fresh = try await call("CreateTransaction", createParams(PaymeObjectID.make(), time: now(), order))
        try expectResult(fresh)
        try expect(fresh, "state", 1)
    }

    // MARK: - Steps

    /// Calls the merchant, recording what was sent and got. Every answer must be HTTP 200 JSON, and with valid
    /// credentials it must echo the request id.
    func call(_ method: String, _ params: JSONValue, authorization: PaymeMerchantClient.Authorization = .key) async throws -> PaymeReply {
        let id = PaymeMerchantClient.requestID()
        sent = "\(method) \(params.serialized())"
        got = ""
        let reply = try await client.call(method, params: params, id: id, authorization: authorization)
        got = reply.text
        try expect(reply.status == 200, "expected HTTP 200, got HTTP \(reply.status)")
        try expect(reply.json != nil, "expected a JSON body")
        if authorization == .key { try expect(reply.id == id, "expected id \(id) echoed back, got \(Self.show(reply.json?["id"]))") }
        return reply
    }

    /// Sends a raw body with an HTTP method; the answer must still be HTTP 200 JSON.
    func raw(_ method: HTTPMethod, _ body: String) async throws -> PaymeReply {
        sent = "HTTP \(method.rawValue) \(body.isEmpty ? "(no body)" : body)"
        got = ""
        let reply = try await client.raw(method: method, body: Array(body.utf8))
        got = reply.text
        try expect(reply.status == 200, "expected HTTP 200, got HTTP \(reply.status)")
        try expect(reply.json != nil, "expected a JSON body")
        return reply
    }

    func order() async throws -> PaymeOrder {
        do {
            return try await newOrder()
        } catch {
            throw ScenarioFailure("expected a fresh order, could not create one: \(error)")
        }
    }

    func now() -> Int64 { UnixTime.milliseconds(Date()) }

    func account(_ value: String) -> JSONValue { .object([(accountField, .string(value))]) }

    func checkParams(_ order: PaymeOrder, amount: Int64? = nil) -> JSONValue {
        .object([("amount", .int(amount ?? order.amount)), ("account", account(order.account))])
    }

    func createParams(_ id: String, time: Int64, _ order: PaymeOrder, amount: Int64? = nil) -> JSONValue {
        .object([("id", .string(id)), ("time", .int(time)), ("amount", .int(amount ?? order.amount)), ("account", account(order.account))])
    }

    func idParams(_ id: String, reason: Int64? = nil) -> JSONValue {
        var members: [(String, JSONValue)] = [("id", .string(id))]
        if let reason { members.append(("reason", .int(reason))) }
        return .object(members)
    }

    // MARK: - Expectations

    func expect(_ condition: Bool, _ message: @autoclosure () -> String) throws {
        if !condition { throw ScenarioFailure(message()) }
    }

    /// The reply is a success with a `result` object.
    func expectResult(_ reply: PaymeReply) throws {
        guard reply.errorCode == nil, case .object? = reply.resultJSON else {
            throw ScenarioFailure("expected a result, got \(Self.outcome(reply))")
        }
    }

    /// The reply is an error with a code in `codes` (and `error.data` equal to `data`, when given).
    func expectError(_ reply: PaymeReply, _ codes: ClosedRange<Int>, data: String? = nil) throws {
        guard let code = reply.errorCode, codes.contains(code) else {
            let expected = codes.count == 1 ? "\(codes.lowerBound)" : "\(codes.lowerBound)…\(codes.upperBound)"
            throw ScenarioFailure("expected error \(expected), got \(Self.outcome(reply))")
        }
        if let data {
            try expect(reply.errorData == data, "expected error.data \"\(data)\", got \(Self.show(reply.json?["error"]?["data"]))")
        }
    }

    func expectError(_ reply: PaymeReply, _ code: Int) throws { try expectError(reply, code...code) }

    /// `result.<key>` is the integer `expected`.
    func expect(_ reply: PaymeReply, _ key: String, _ expected: Int64) throws {
        let value = reply.resultValue(key)
        try expect(value == JSONValue.int(expected), "expected \(key) \(expected), got \(Self.show(value))")
    }

    func expectNull(_ reply: PaymeReply, _ key: String) throws {
        let value = reply.resultValue(key)
        try expect(value == JSONValue.null, "expected \(key) null, got \(Self.show(value))")
    }

    /// `result.<key>` equals what an earlier step answered.
    func expectSame(_ reply: PaymeReply, _ key: String, _ earlier: JSONValue?, as step: String) throws {
        guard let earlier else { throw Self.needs(step) }
        let value = reply.resultValue(key)
        try expect(value == earlier, "expected \(key) \(earlier.serialized()) as in \(step), got \(Self.show(value))")
    }

    func integer(_ reply: PaymeReply, _ key: String) throws -> Int64 {
        guard let value = reply.resultInt(key) else { throw ScenarioFailure("expected \(key) to be an integer, got \(Self.show(reply.resultValue(key)))") }
        return value
    }

    func nonEmptyString(_ reply: PaymeReply, _ key: String) throws -> String {
        guard let value = reply.resultString(key), !value.isEmpty else {
            throw ScenarioFailure("expected \(key) to be a non-empty string, got \(Self.show(reply.resultValue(key)))")
        }
        return value
    }

    func array(_ reply: PaymeReply, _ key: String) throws -> [JSONValue] {
        guard let value = reply.resultValue(key)?.arrayValue else {
            throw ScenarioFailure("expected \(key) to be an array, got \(Self.show(reply.resultValue(key)))")
        }
        return value
    }

    static func needs(_ step: String) -> ScenarioFailure {
        ScenarioFailure("expected \"\(step)\" to have succeeded first; it did not, so there is nothing to compare with")
    }

    static func outcome(_ reply: PaymeReply) -> String {
        if let code = reply.errorCode { return "error \(code)" }
        if reply.resultJSON != nil { return "a result" }
        return "neither a result nor an error"
    }

    static func show(_ value: JSONValue?) -> String { value?.serialized() ?? "nothing" }
}
