import HTTPTypes
import Hummingbird
import Logging

/// Gives every request its id: in the request's logger (so use cases log it) and in the `request-id` response header.
struct RequestIDMiddleware: RouterMiddleware {
    typealias Context = SettleRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        context.logger[metadataKey: "request_id"] = .string(context.requestID)
        var response = try await next(request, context)
        response.headers[.requestID] = context.requestID
        return response
    }
}

extension HTTPField.Name {
    static let requestID = HTTPField.Name("request-id")!
    static let idempotencyKey = HTTPField.Name("Idempotency-Key")!
    static let idempotentReplayed = HTTPField.Name("Idempotent-Replayed")!
}
