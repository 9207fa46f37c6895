import Hummingbird
import Settle

/// Authenticates `Authorization: Bearer sk_test_…` / `sk_live_…` through the API key use case.
struct AuthenticationMiddleware: RouterMiddleware {
    typealias Context = SettleRequestContext
    let apiKeys: APIKeyService

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        context.caller = try await apiKeys.authenticate(authorization: request.headers[.authorization], requestID: context.requestID)
        return try await next(request, context)
    }
}
