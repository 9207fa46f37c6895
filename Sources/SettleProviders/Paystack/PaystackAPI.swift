import Foundation
import NIOHTTP1
import SettleCore

/// A Paystack transaction as `GET /transaction/verify/{reference}` shows it (never as an event says it).
struct PaystackTransaction: Sendable, Hashable {
    var id: Int64?
    var reference: String
    /// `success`, `failed`, `abandoned`, `ongoing`, `pending`, `processing`, `queued`, `reversed`.
    var status: String
    /// Subunits (kobo, pesewas, cents).
    var amount: Int64?
    var currency: String?
    var gatewayResponse: String?
    var settlePayment: String?

    init?(_ data: JSONValue) {
        guard let reference = data["reference"]?.stringValue, !reference.isEmpty, let status = data["status"]?.stringValue else { return nil }
        self.id = data["id"]?.intValue
        self.reference = reference
        self.status = status
        self.amount = data["amount"]?.intValue
        self.currency = data["currency"]?.stringValue?.uppercased()
        self.gatewayResponse = data["gateway_response"]?.stringValue
        // Paystack may give back the metadata as it was sent (an object) or as a JSON string.
        let metadata = data["metadata"]?.stringValue.flatMap { try? JSONValue.parse(Array($0.utf8)) } ?? data["metadata"]
        self.settlePayment = metadata?["settle_payment_id"]?.stringValue
    }
}

/// Calls to Paystack's API through the shared ``ProviderClient``: Bearer secret key, JSON, and Paystack's envelope
/// (`{"status": true|false, "message", "data"}`): `status: false` is a refusal carrying Paystack's message.
struct PaystackAPI: Sendable {
    let base: String
    let secretKey: Secret
    let client: ProviderClient

    /// `POST /transaction/initialize`; answers `authorization_url`. Not retried: Paystack has no idempotency key, and a
    /// second initialize of one reference is refused as a duplicate.
    func initialize(_ body: JSONValue) async throws(ProviderError) -> String {
        let data = try await send(.POST, "/transaction/initialize", body: body)
        guard let url = data["authorization_url"]?.stringValue, !url.isEmpty else {
            throw ProviderError(.unavailable, "Paystack answered without an authorization_url.")
        }
        return url
    }

    /// `GET /transaction/verify/{reference}`; `nil` when Paystack has no such transaction.
    func verify(reference: String) async throws(ProviderError) -> PaystackTransaction? {
        let data: JSONValue
        do {
            data = try await send(.GET, "/transaction/verify/\(Self.escape(reference))")
        } catch where error.code == .rejected && (error.message.contains("not found") || error.providerCode == "404") {
            return nil
        }
        guard let transaction = PaystackTransaction(data) else {
            throw ProviderError(.unavailable, "Paystack answered with something that is not a transaction.")
        }
        return transaction
    }

    /// `POST /refund`; answers the refund's id and status.
    func refund(_ body: JSONValue) async throws(ProviderError) -> (id: String, status: String?) {
        let data = try await send(.POST, "/refund", body: body)
        guard let id = data["id"]?.intValue.map(String.init) ?? data["id"]?.stringValue else {
            throw ProviderError(.unavailable, "Paystack answered with something that is not a refund.")
        }
        return (id, data["status"]?.stringValue)
    }

    /// `GET /refund/{id}`: its status.
    func refundStatus(id: String) async throws(ProviderError) -> String? {
        try await send(.GET, "/refund/\(Self.escape(id))")["status"]?.stringValue
    }

    private func send(_ method: HTTPMethod, _ path: String, body: JSONValue? = nil) async throws(ProviderError) -> JSONValue {
        var headers = [("authorization", "Bearer \(secretKey.value)"), ("accept", "application/json")]
        if body != nil { headers.append(("content-type", "application/json")) }
        let response = try await client.send(
            .init(method, base + path, headers: headers, body: body?.bytes(), retryable: method == .GET),
            describe: { response, code in Self.error(response, code: code) }
        )
        guard let value = try? JSONValue.parse(response.body), value.isObject else {
            throw ProviderError(.unavailable, "Paystack answered with something that is not JSON.")
        }
        guard value["status"] == .bool(true), let data = value["data"] else { throw Self.error(value, status: response.status, code: .rejected) }
        return data
    }

    static func error(_ response: ProviderClient.Response, code: ProviderError.Code) -> ProviderError {
        guard let value = try? JSONValue.parse(response.body), value.isObject else { return ProviderError(code, "Paystack answered HTTP \(response.status).") }
        return error(value, status: response.status, code: code)
    }

    static func error(_ value: JSONValue, status: UInt, code: ProviderError.Code) -> ProviderError {
        let message = value["message"]?.stringValue.map { Text.echo($0, limit: 300) } ?? "no message"
        return ProviderError(code, providerCode: String(status), "Paystack refused the request: \(message).")
    }

    static func escape(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-.="))) ?? ""
    }
}
