import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Settle
import SettleCore

/// Tags every response with `request-id` and renders every error in Settle's one error shape. Unexpected errors
/// become a generic 500 whose message says nothing about internals.
struct RequestIDMiddleware: RouterMiddleware {
    typealias Context = SettleRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        context.logger[metadataKey: "request_id"] = .string(context.requestID)
        var response: Response
        do {
            response = try await next(request, context)
        } catch let error as SettleError {
            response = APIResponse.error(error, requestID: context.requestID)
        } catch is NIOTooManyBytesError {
            response = APIResponse.error(
                SettleError(.invalidRequest, status: 413, code: "body_too_large", "The request body is larger than 1 MiB."),
                requestID: context.requestID
            )
        } catch let error as HTTPError {
            let code = error.status == .notFound ? "route_not_found" : "http_\(error.status.code)"
            response = APIResponse.error(
                SettleError(.invalidRequest, status: error.status.code, code: code, error.body ?? error.status.reasonPhrase),
                requestID: context.requestID
            )
        } catch {
            context.logger.error("unhandled error", metadata: ["error_type": "\(type(of: error))"])
            response = APIResponse.error(
                SettleError(.api, status: 500, code: "internal_error", "Something went wrong on Settle's side."),
                requestID: context.requestID
            )
        }
        response.headers[.requestID] = context.requestID
        return response
    }
}

extension HTTPField.Name {
    static let requestID = HTTPField.Name("request-id")!
    static let idempotencyKey = HTTPField.Name("Idempotency-Key")!
    static let idempotentReplayed = HTTPField.Name("Idempotent-Replayed")!
}
