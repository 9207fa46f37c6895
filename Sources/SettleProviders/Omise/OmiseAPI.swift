import Foundation
import NIOHTTP1
import SettleCore

/// An Omise charge, as Settle reads it from the API (never from an event, which is only a hint).
struct OmiseCharge: Sendable, Hashable {
    struct Refund: Sendable, Hashable {
        var id: String
        var amount: Int64?
        var currency: String?
        var status: String?
        var settleRefund: String?
    }

    var id: String
    var status: String
    var amount: Int64?
    var currency: String?
    var paid: Bool
    var authorizeURI: String?
    var failureCode: String?
    var failureMessage: String?
    var settlePayment: String?
    var qrImageURL: String?
    var refunds: [Refund]

    init?(_ value: JSONValue) {
        guard value["object"]?.stringValue == "charge", let id = value["id"]?.stringValue, !id.isEmpty,
            let status = value["status"]?.stringValue
        else { return nil }
        self.id = id
        self.status = status
        self.amount = value["amount"]?.intValue
        self.currency = value["currency"]?.stringValue?.uppercased()
        self.paid = value["paid"] == .bool(true)
        self.authorizeURI = value["authorize_uri"]?.stringValue
        self.failureCode = value["failure_code"]?.stringValue
        self.failureMessage = value["failure_message"]?.stringValue
        self.settlePayment = value["metadata"]?["settle_payment_id"]?.stringValue
        self.qrImageURL = value["source"]?["scannable_code"]?["image"]?["download_uri"]?.stringValue
        self.refunds = (value["refunds"]?["data"]?.arrayValue ?? []).prefix(1000).compactMap { refund in
            guard let id = refund["id"]?.stringValue else { return nil }
            return Refund(
                id: id, amount: refund["amount"]?.intValue, currency: refund["currency"]?.stringValue?.uppercased(),
                status: refund["status"]?.stringValue, settleRefund: refund["metadata"]?["settle_refund"]?.stringValue
            )
        }
    }
}

/// Calls to Omise's API through the shared ``ProviderClient``: HTTP Basic with the secret key as the user name and no
/// password, JSON bodies, `Idempotency-Key` on every create (so a retried create makes one charge), and Omise's error
/// object (`{"object":"error","code","message"}`) as a typed error with Omise's code.
struct OmiseAPI: Sendable {
    let base: String
    let secretKey: Secret
    let client: ProviderClient

    var authorization: String { "Basic " + Data("\(secretKey.value):".utf8).base64EncodedString() }

    func charge(id: String) async throws(ProviderError) -> OmiseCharge? {
        let value: JSONValue
        do {
            value = try await send(.GET, "/charges/\(Self.escape(id))")
        } catch where error.code == .rejected && error.providerCode == "not_found" {
            return nil
        }
        guard let charge = OmiseCharge(value) else { throw ProviderError(.unavailable, "Omise answered with something that is not a charge.") }
        return charge
    }

    func createCharge(_ body: JSONValue, idempotencyKey: String) async throws(ProviderError) -> OmiseCharge {
        let value = try await send(.POST, "/charges", body: body, idempotencyKey: idempotencyKey)
        guard let charge = OmiseCharge(value) else { throw ProviderError(.unavailable, "Omise answered with something that is not a charge.") }
        return charge
    }

    /// `POST /sources`; returns the source's id.
    func createSource(_ body: JSONValue, idempotencyKey: String) async throws(ProviderError) -> String {
        let value = try await send(.POST, "/sources", body: body, idempotencyKey: idempotencyKey)
        guard value["object"]?.stringValue == "source", let id = value["id"]?.stringValue, !id.isEmpty else {
            throw ProviderError(.unavailable, "Omise answered with something that is not a source.")
        }
        return id
    }

    /// `POST /charges/{id}/refunds`; returns the refund's id and status.
    func refund(chargeID: String, _ body: JSONValue, idempotencyKey: String) async throws(ProviderError) -> (id: String, status: String?) {
        let value = try await send(.POST, "/charges/\(Self.escape(chargeID))/refunds", body: body, idempotencyKey: idempotencyKey)
        guard value["object"]?.stringValue == "refund", let id = value["id"]?.stringValue, !id.isEmpty else {
            throw ProviderError(.unavailable, "Omise answered with something that is not a refund.")
        }
        return (id, value["status"]?.stringValue)
    }

    /// A QR image from Omise (its `download_uri`), at most 256 KiB, PNG or SVG; `nil` for anything else.
    func image(_ url: String) async throws(ProviderError) -> ProviderImage? {
        // The key goes only to the API's own origin (scheme, host and port); anywhere else the image is asked for bare.
        let sameOrigin = Self.origin(url) != nil && Self.origin(url) == Self.origin(base)
        let response = try await client.send(
            .init(.GET, url, headers: sameOrigin ? [("authorization", authorization)] : [], retryable: true),
            describe: { response, code in ProviderError(code, "Omise answered HTTP \(response.status) for the QR image.") }
        )
        let type = response.headers.first(name: "content-type")?.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        guard let type, type == "image/png" || type == "image/svg+xml", response.body.count <= 256 * 1024 else { return nil }
        return ProviderImage(contentType: type, bytes: response.body)
    }

    private func send(_ method: HTTPMethod, _ path: String, body: JSONValue? = nil, idempotencyKey: String? = nil) async throws(ProviderError)
        -> JSONValue
    {
        var headers = [("authorization", authorization), ("accept", "application/json")]
        if body != nil { headers.append(("content-type", "application/json")) }
        if let idempotencyKey { headers.append(("idempotency-key", idempotencyKey)) }
        let response = try await client.send(
            .init(method, base + path, headers: headers, body: body?.bytes(), retryable: method == .GET || idempotencyKey != nil),
            describe: { response, code in Self.error(response, code: code) }
        )
        guard let value = try? JSONValue.parse(response.body), value.isObject else {
            throw ProviderError(.unavailable, "Omise answered with something that is not JSON.")
        }
        if value["object"]?.stringValue == "error" { throw Self.error(value, code: .rejected) }
        return value
    }

    static func error(_ response: ProviderClient.Response, code: ProviderError.Code) -> ProviderError {
        guard let value = try? JSONValue.parse(response.body), value["object"]?.stringValue == "error" else {
            return ProviderError(code, "Omise answered HTTP \(response.status).")
        }
        return error(value, code: code)
    }

    static func error(_ value: JSONValue, code: ProviderError.Code) -> ProviderError {
        let omiseCode = value["code"]?.stringValue.map { Text.echo($0, limit: 60) }
        let message = value["message"]?.stringValue.map { Text.echo($0, limit: 300) } ?? "no message"
        return ProviderError(code, providerCode: omiseCode, "Omise refused the request: \(message) (\(omiseCode ?? "no code")).")
    }

    static func origin(_ text: String) -> String? {
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased(), let host = url.host?.lowercased() else { return nil }
        return "\(scheme)://\(host):\(url.port ?? (scheme == "https" ? 443 : 80))"
    }

    static func escape(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "_-"))) ?? ""
    }
}
