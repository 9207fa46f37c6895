import NIOHTTP1
import SettleCore

/// A client for Payme's Subscribe API receipts (`receipts.create`, `receipts.check`, `receipts.cancel`,
/// `receipts.get`): JSON-RPC over POST with `X-Auth: <merchant id>:<key>`. Payme answers errors with HTTP 200 and
/// an error object; those become typed `provider_error`s carrying Payme's code.
///
/// Calls go through the shared ``ProviderClient`` (deadline, circuit breaker). Reads are retried on network errors,
/// 429 and 5xx; `receipts.create` and `receipts.cancel` are not (Payme takes no idempotency key, and a retried create
/// could leave a second receipt).
struct PaymeSubscribeAPI: Sendable {
    /// A receipt as Settle reads it.
    struct Receipt: Sendable, Hashable {
        var id: String
        var state: Int64
        var amount: Int64?
    }

    let url: String
    let merchantID: String
    let key: @Sendable () async throws(ProviderError) -> Secret
    let client: ProviderClient

    func create(amount: Int64, account: [(String, String)], description: String) async throws(ProviderError) -> Receipt {
        let result = try await call(
            "receipts.create",
            params: .object([
                ("amount", .int(amount)), ("account", .object(account.map { ($0.0, .string($0.1)) })),
                ("description", .string(description)),
            ]),
            retrying: false
        )
        return try Self.receipt(result["receipt"])
    }

    func check(id: String) async throws(ProviderError) -> Int64 {
        let result = try await call("receipts.check", params: .object([("id", .string(id))]), retrying: true)
        guard let state = result["state"]?.intValue else {
            throw ProviderError(.unavailable, "Payme answered receipts.check without a state.")
        }
        return state
    }

    func get(id: String) async throws(ProviderError) -> Receipt {
        try Self.receipt(try await call("receipts.get", params: .object([("id", .string(id))]), retrying: true)["receipt"])
    }

    func cancel(id: String) async throws(ProviderError) -> Receipt {
        try Self.receipt(try await call("receipts.cancel", params: .object([("id", .string(id))]), retrying: false)["receipt"])
    }

    static func receipt(_ value: JSONValue?) throws(ProviderError) -> Receipt {
        guard let value, let id = value["_id"]?.stringValue, let state = value["state"]?.intValue else {
            throw ProviderError(.unavailable, "Payme answered with something that is not a receipt.")
        }
        return Receipt(id: id, state: state, amount: value["amount"]?.intValue)
    }

    /// One JSON-RPC call; returns `result`.
    func call(_ method: String, params: JSONValue, retrying: Bool) async throws(ProviderError) -> JSONValue {
        let body = JSONValue.object([
            ("jsonrpc", .string("2.0")), ("id", .int(Int64.random(in: 1...Int64(Int32.max)))), ("method", .string(method)),
            ("params", params),
        ]).bytes()
        let auth = "\(merchantID):\(try await key().value)"
        let response = try await client.send(
            .init(.POST, url, headers: [("content-type", "application/json"), ("x-auth", auth)], body: body, retryable: retrying),
            describe: { response, code in ProviderError(code, "Payme answered HTTP \(response.status) to \(method).") }
        )
        guard let envelope = try? JSONValue.parse(response.body) else {
            throw ProviderError(.unavailable, "Payme answered \(method) with something that is not JSON.")
        }
        if let error = envelope["error"], error != .null {
            throw Self.error(error, method: method)
        }
        guard let result = envelope["result"] else {
            throw ProviderError(.unavailable, "Payme answered \(method) without a result.")
        }
        return result
    }

    /// Payme's error object (`code`, `message` as a string or by language) as a typed provider error.
    static func error(_ error: JSONValue, method: String) -> ProviderError {
        let code = error["code"]?.intValue
        let message = (error["message"]?.stringValue ?? error["message"]?["en"]?.stringValue ?? error["message"]?["ru"]?.stringValue)
            .map { Text.echo($0, limit: 300) }
        let kind: ProviderError.Code = code == -32400 ? .unavailable : .rejected
        return ProviderError(
            kind, providerCode: code.map(String.init), "Payme refused \(method): \(message ?? "no message") (\(code.map(String.init) ?? "no code"))."
        )
    }
}
