import Foundation
import NIOHTTP1
import SettleCore

/// Calls to Stripe's API through the shared ``ProviderClient``: bearer auth, form bodies, `Idempotency-Key` on every
/// POST (so a retried create never makes two sessions), Stripe's error object as a typed error.
struct StripeAPI: Sendable {
    let secretKey: Secret
    let base: String
    let client: ProviderClient

    func post(_ path: String, form: StripeForm, idempotencyKey: String) async throws(ProviderError) -> [UInt8] {
        try await send(.POST, path, body: Array(form.encoded.utf8), idempotencyKey: idempotencyKey)
    }

    func get(_ path: String) async throws(ProviderError) -> [UInt8] {
        try await send(.GET, path, body: nil, idempotencyKey: nil)
    }

    private func send(_ method: HTTPMethod, _ path: String, body: [UInt8]?, idempotencyKey: String?) async throws(ProviderError)
        -> [UInt8]
    {
        var headers = [("authorization", "Bearer \(secretKey.value)")]
        if let idempotencyKey { headers.append(("idempotency-key", idempotencyKey)) }
        if body != nil { headers.append(("content-type", "application/x-www-form-urlencoded")) }
        return try await client.send(.init(method, base + path, headers: headers, body: body), describe: Self.error).body
    }

    private struct ErrorEnvelope: Decodable {
        struct Body: Decodable {
            let type: String?
            let code: String?
            let message: String?
        }
        let error: Body
    }

    /// Stripe's error object as a typed provider error; Stripe's message never contains our secret.
    static func error(from response: ProviderClient.Response, code: ProviderError.Code) -> ProviderError {
        if let envelope = try? JSONDecoder().decode(ErrorEnvelope.self, from: Data(response.body)) {
            return ProviderError(
                code, providerCode: envelope.error.code ?? envelope.error.type,
                "Stripe answered \(response.status): \(Text.echo(envelope.error.message ?? "no message", limit: 300))"
            )
        }
        return ProviderError(code, providerCode: nil, "Stripe answered \(response.status).")
    }
}
