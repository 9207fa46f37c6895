import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1

/// Calls to Stripe's API: bearer auth, form bodies, `Idempotency-Key` on POST, a timeout per call, retries with
/// exponential backoff and jitter on network errors, 429 and 5xx (never on 4xx), and a circuit breaker.
struct StripeAPI: Sendable {
    let secretKey: String
    let base: String
    let http: HTTPClient
    let breaker: CircuitBreaker
    let retry: RetryPolicy
    let timeout: TimeAmount
    let logger: Logger

    func post(_ path: String, form: StripeForm, idempotencyKey: String) async throws(ProviderError) -> [UInt8] {
        try await send(.POST, path, body: form.encoded, idempotencyKey: idempotencyKey)
    }

    func get(_ path: String) async throws(ProviderError) -> [UInt8] {
        try await send(.GET, path, body: nil, idempotencyKey: nil)
    }

    private func send(_ method: HTTPMethod, _ path: String, body: String?, idempotencyKey: String?) async throws(ProviderError)
        -> [UInt8]
    {
        guard breaker.allow() else {
            throw ProviderError(.unavailable, "Stripe is failing; Settle is pausing calls to it (circuit open). Retry shortly.")
        }
        var lastError = ProviderError(.unavailable, "Stripe could not be reached.")
        for attempt in 1...max(1, retry.maxAttempts) {
            if attempt > 1 { try? await Task.sleep(for: retry.delay(beforeRetry: attempt - 1)) }
            var request = HTTPClientRequest(url: base + path)
            request.method = method
            request.headers.add(name: "authorization", value: "Bearer \(secretKey)")
            request.headers.add(name: "user-agent", value: "Settle/1")
            if let idempotencyKey { request.headers.add(name: "idempotency-key", value: idempotencyKey) }
            if let body {
                request.headers.add(name: "content-type", value: "application/x-www-form-urlencoded")
                request.body = .bytes(ByteBuffer(string: body))
            }
            let status: UInt
            let bytes: [UInt8]
            switch await ProviderHTTP.send(request, http: http, timeout: timeout, maxBody: 4 << 20) {
            case .success(let reply):
                (status, bytes) = (reply.status, reply.body)
            case .failure(let failure):
                lastError = ProviderError(.unavailable, "Stripe could not be reached (\(failure)).")
                logger.notice("stripe call failed", metadata: ["path": "\(path)", "attempt": "\(attempt)"])
                continue
            }
            switch status {
            case 200..<300:
                breaker.recordSuccess()
                return bytes
            case 429, 500...599:
                lastError = Self.error(from: bytes, status: status, code: .unavailable)
                logger.notice("stripe answered \(status)", metadata: ["path": "\(path)", "attempt": "\(attempt)"])
                continue
            default:
                breaker.recordSuccess()  // Stripe is up; it refused this request
                throw Self.error(from: bytes, status: status, code: .rejected)
            }
        }
        breaker.recordFailure()
        throw lastError
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
    static func error(from bytes: [UInt8], status: UInt, code: ProviderError.Code) -> ProviderError {
        if let envelope = try? JSONDecoder().decode(ErrorEnvelope.self, from: Data(bytes)) {
            return ProviderError(
                code, providerCode: envelope.error.code ?? envelope.error.type,
                "Stripe answered \(status): \(envelope.error.message ?? "no message")"
            )
        }
        return ProviderError(code, providerCode: nil, "Stripe answered \(status).")
    }
}
