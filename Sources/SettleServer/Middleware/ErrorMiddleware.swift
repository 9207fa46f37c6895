import Hummingbird
import Logging
import NIOCore
import Settle

/// Renders every error in Settle's one shape: JSON (`{"error":{…}}`) under `/v1` and for other API routes, an HTML
/// page for the buyer's pages. Errors Settle does not know become a generic 500 that says nothing about internals,
/// logged once here.
struct ErrorMiddleware: RouterMiddleware {
    typealias Context = SettleRequestContext
    /// The routes, to answer a known path asked with a method it does not take with `405` and `Allow`.
    var routes = RouteTable()

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as SettleError {
            return try error.response(from: request, context: context)
        } catch is NIOTooManyBytesError {
            return try SettleError(.bodyTooLarge, "The request body is larger than 1 MiB.").response(from: request, context: context)
        } catch let error as HTTPError {
            let allowed = error.status.code == 404 ? routes.allowed(at: request.uri.path) : []
            if !allowed.isEmpty, !allowed.contains(request.method.rawValue) {
                var response = try SettleError(
                    .methodNotAllowed, "\(request.uri.path) answers \(allowed.joined(separator: ", ")) only.", status: 405
                ).response(from: request, context: context)
                response.headers[.allow] = allowed.joined(separator: ", ")
                return response
            }
            let code: SettleError.Code =
                switch error.status.code {
                case 404: .routeNotFound
                case 405: .methodNotAllowed
                case 413: .bodyTooLarge
                default: .badRequest
                }
            let message = error.body ?? error.status.reasonPhrase
            return try SettleError(code, message, status: error.status.code).response(from: request, context: context)
        } catch {
            context.logger.error("unhandled error", metadata: ["error_type": "\(type(of: error))"])
            return try SettleError(.internalError, "Something went wrong on Settle's side.").response(from: request, context: context)
        }
    }
}

// MARK: - HTTPResponseError

extension SettleError: HTTPResponseError {
    public var status: HTTPResponse.Status { .init(code: httpStatus) }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        let requestID = (context as? SettleRequestContext)?.requestID
        var response =
            Pages.isPage(request.uri.path)
            ? Pages.html(Pages.errorPage(self, requestID: requestID), status: httpStatus)
            : APIResponse.json(APIErrorBody.render(self, requestID: requestID), status: httpStatus)
        if let retryAfter { response.headers[.retryAfter] = String(retryAfter) }
        return response
    }
}
