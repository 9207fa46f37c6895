import Foundation
import NIOHTTP1
import SettleCore
import Synchronization

/// A PayPal order as Settle reads it from the API: its status, and its first purchase unit's amount, `custom_id`
/// (Settle's payment id) and captures.
struct PayPalOrder: Sendable, Hashable {
    struct Capture: Sendable, Hashable {
        var id: String
        var status: String
        var value: String?
        var currency: String?
    }

    var id: String
    var status: String
    var value: String?
    var currency: String?
    var customID: String?
    var captures: [Capture]
    var approvalURL: String?

    init?(_ value: JSONValue) {
        guard let id = value["id"]?.stringValue, !id.isEmpty, let status = value["status"]?.stringValue else { return nil }
        self.id = id
        self.status = status
        let unit = value["purchase_units"]?.arrayValue?.first
        self.value = unit?["amount"]?["value"]?.stringValue
        self.currency = unit?["amount"]?["currency_code"]?.stringValue
        self.customID = unit?["custom_id"]?.stringValue
        self.captures = (unit?["payments"]?["captures"]?.arrayValue ?? []).prefix(100).compactMap { capture in
            guard let id = capture["id"]?.stringValue, let status = capture["status"]?.stringValue else { return nil }
            return Capture(
                id: id, status: status, value: capture["amount"]?["value"]?.stringValue, currency: capture["amount"]?["currency_code"]?.stringValue
            )
        }
        let links = value["links"]?.arrayValue ?? []
        self.approvalURL = (links.first { $0["rel"]?.stringValue == "payer-action" } ?? links.first { $0["rel"]?.stringValue == "approve" })?["href"]?
            .stringValue
    }
}

/// PayPal's OAuth token, shared by every call of one provider and bought again a minute before it expires; when it
/// must be bought, one caller buys it and the others wait for that one (never a stampede of token requests).
final class PayPalTokens: Sendable {
    private struct State {
        var token: (value: String, expires: ContinuousClock.Instant)?
        var buying: Task<(String, ContinuousClock.Instant), any Error>?
    }

    private let state = Mutex(State())

    /// A token valid for at least another minute, from `buy` when there is none.
    func token(_ buy: @escaping @Sendable () async throws(ProviderError) -> (String, Duration)) async throws(ProviderError) -> String {
        let now = ContinuousClock.now
        let task = state.withLock { state -> Task<(String, ContinuousClock.Instant), any Error>? in
            if let token = state.token, token.expires - .seconds(60) > now { return nil }
            if let buying = state.buying { return buying }
            let buying = Task { () async throws -> (String, ContinuousClock.Instant) in
                let (value, lifetime) = try await buy()
                return (value, ContinuousClock.now + lifetime)
            }
            state.buying = buying
            return buying
        }
        guard let task else { return state.withLock { $0.token!.value } }
        do {
            let (value, expires) = try await task.value
            state.withLock { state in
                state.token = (value, expires)
                state.buying = nil
            }
            return value
        } catch {
            state.withLock { $0.buying = nil }
            throw error as? ProviderError ?? ProviderError(.unavailable, "PayPal's OAuth token could not be bought.")
        }
    }

    /// Forgets a token PayPal refused (revoked early), so the next call buys one.
    func forget(_ value: String) {
        state.withLock { state in
            if state.token?.value == value { state.token = nil }
        }
    }
}

/// Calls to PayPal's REST API through the shared ``ProviderClient``: a Bearer token from the client credentials,
/// JSON bodies, `PayPal-Request-Id` on every mutating call (PayPal answers a repeat with the first result), and
/// PayPal's error object (`name`, `message`, `details[].issue`) as a typed error whose code is the first issue.
struct PayPalAPI: Sendable {
    let base: String
    let clientID: String
    let clientSecret: Secret
    let client: ProviderClient
    let tokens: PayPalTokens

    func buyToken() async throws(ProviderError) -> (String, Duration) {
        let basic = "Basic " + Data("\(clientID):\(clientSecret.value)".utf8).base64EncodedString()
        let response = try await client.send(
            .init(
                .POST, base + "/v1/oauth2/token",
                headers: [("authorization", basic), ("content-type", "application/x-www-form-urlencoded"), ("accept", "application/json")],
                body: Array("grant_type=client_credentials".utf8), retryable: true
            ),
            describe: { response, code in
                ProviderError(code, providerCode: "oauth", "PayPal refused the client credentials (HTTP \(response.status)).")
            }
        )
        guard let value = try? JSONValue.parse(response.body), let token = value["access_token"]?.stringValue, !token.isEmpty else {
            throw ProviderError(.unavailable, "PayPal's token answer has no access_token.")
        }
        let seconds = max(60, min(value["expires_in"]?.intValue ?? 3600, 86_400))
        return (token, .seconds(seconds))
    }

    func order(id: String) async throws(ProviderError) -> PayPalOrder? {
        let value: JSONValue
        do {
            value = try await send(.GET, "/v2/checkout/orders/\(Self.escape(id))")
        } catch where error.code == .rejected && error.providerCode == "RESOURCE_NOT_FOUND" {
            return nil
        }
        return try Self.order(value)
    }

    func createOrder(_ body: JSONValue, requestID: String) async throws(ProviderError) -> PayPalOrder {
        try Self.order(try await send(.POST, "/v2/checkout/orders", body: body, requestID: requestID))
    }

    /// Captures an approved order; the same `requestID` from any instance gets PayPal's first answer again.
    func capture(orderID: String, requestID: String) async throws(ProviderError) -> PayPalOrder {
        try Self.order(try await send(.POST, "/v2/checkout/orders/\(Self.escape(orderID))/capture", body: .object([]), requestID: requestID))
    }

    /// `POST /v2/payments/captures/{id}/refund`; returns the refund's id and status.
    func refund(captureID: String, _ body: JSONValue, requestID: String) async throws(ProviderError) -> (id: String, status: String) {
        let value = try await send(.POST, "/v2/payments/captures/\(Self.escape(captureID))/refund", body: body, requestID: requestID)
        guard let id = value["id"]?.stringValue, let status = value["status"]?.stringValue else {
            throw ProviderError(.unavailable, "PayPal answered with something that is not a refund.")
        }
        return (id, status)
    }

    /// A refund's status; `nil` when PayPal has no such refund.
    func refundStatus(id: String) async throws(ProviderError) -> String? {
        do {
            return try await send(.GET, "/v2/payments/refunds/\(Self.escape(id))")["status"]?.stringValue
        } catch where error.code == .rejected && error.providerCode == "RESOURCE_NOT_FOUND" {
            return nil
        }
    }

    static func order(_ value: JSONValue) throws(ProviderError) -> PayPalOrder {
        guard let order = PayPalOrder(value) else { throw ProviderError(.unavailable, "PayPal answered with something that is not an order.") }
        return order
    }

    private func send(_ method: HTTPMethod, _ path: String, body: JSONValue? = nil, requestID: String? = nil) async throws(ProviderError) -> JSONValue {
        let tokens = self.tokens
        let api = self
        var lastToken = ""
        for attempt in 1...2 {
            let token = try await tokens.token { () async throws(ProviderError) -> (String, Duration) in try await api.buyToken() }
            lastToken = token
            var headers = [("authorization", "Bearer \(token)"), ("accept", "application/json"), ("prefer", "return=representation")]
            if body != nil { headers.append(("content-type", "application/json")) }
            if let requestID { headers.append(("paypal-request-id", requestID)) }
            do throws(ProviderError) {
                let response = try await client.send(
                    .init(method, base + path, headers: headers, body: body?.bytes(), retryable: method == .GET || requestID != nil),
                    describe: { response, code in Self.error(response, code: code) }
                )
                guard let value = try? JSONValue.parse(response.body), value.isObject else {
                    throw ProviderError(.unavailable, "PayPal answered with something that is not JSON.")
                }
                return value
            } catch where error.providerCode == "AUTHENTICATION_FAILURE" && attempt == 1 {
                // A token PayPal no longer takes: forget it and buy another, once.
                tokens.forget(lastToken)
            }
        }
        throw ProviderError(.unavailable, "PayPal refused Settle's fresh OAuth token.")
    }

    static func error(_ response: ProviderClient.Response, code: ProviderError.Code) -> ProviderError {
        guard let value = try? JSONValue.parse(response.body), let name = value["name"]?.stringValue ?? value["error"]?.stringValue else {
            return ProviderError(code, "PayPal answered HTTP \(response.status).")
        }
        let issue = value["details"]?.arrayValue?.first?["issue"]?.stringValue
        let payPalCode = Text.echo(issue ?? name, limit: 60)
        let message = Text.echo(
            value["details"]?.arrayValue?.first?["description"]?.stringValue ?? value["message"]?.stringValue ?? value["error_description"]?.stringValue
                ?? "no message",
            limit: 300
        )
        // 401 is a token PayPal does not take: the caller buys another once.
        let named = response.status == 401 ? "AUTHENTICATION_FAILURE" : payPalCode
        return ProviderError(code, providerCode: named, "PayPal refused the request: \(message) (\(payPalCode)).")
    }

    static func escape(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "_-"))) ?? ""
    }
}
