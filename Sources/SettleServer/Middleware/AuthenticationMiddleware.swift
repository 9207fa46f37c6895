import Foundation
import Hummingbird
import Settle
import SettleCore
import SettleStore

/// Authenticates `Authorization: Bearer sk_test_…` / `sk_live_…` against the stored key hashes.
struct AuthenticationMiddleware: RouterMiddleware {
    typealias Context = SettleRequestContext
    let store: Store

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer ") else {
            throw SettleError(.authentication, status: 401, code: "api_key_missing", "Send your secret key as Authorization: Bearer sk_….")
        }
        let secret = String(header.dropFirst("Bearer ".count)).trimmingCharacters(in: .whitespaces)
        guard secret.hasPrefix("sk_test_") || secret.hasPrefix("sk_live_"), secret.count <= 128 else {
            throw SettleError(.authentication, status: 401, code: "api_key_invalid", "The API key is not a Settle secret key.")
        }
        let key: APIKey?
        do {
            key = try await store.activeAPIKey(secret: secret)
        } catch {
            throw SettleError.storageUnavailable
        }
        guard let key else {
            throw SettleError(.authentication, status: 401, code: "api_key_invalid", "The API key is unknown or revoked.")
        }
        var context = context
        context.caller = Caller(apiKeyID: key.id, mode: key.mode, requestID: context.requestID)
        return try await next(request, context)
    }
}
