import Hummingbird
import Logging

/// One debug line per request: method, path (never the query string, and never a buyer page's token: the last
/// segment of `/pay/…` and `/checkout/return/…` is logged as `<token>`), status and duration, with the request id
/// from the logger.
struct RequestLogMiddleware: RouterMiddleware {
    typealias Context = SettleRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let started = ContinuousClock.now
        let response = try await next(request, context)
        let elapsed = ContinuousClock.now - started
        context.logger.debug(
            "request",
            metadata: [
                "method": "\(request.method.rawValue)", "path": "\(Self.loggable(request.uri.path))", "status": "\(response.status.code)",
                "duration_ms": "\(elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000)",
            ]
        )
        return response
    }

    /// The path with a buyer page's token replaced: whoever holds it can open the page.
    static func loggable(_ path: String) -> String {
        guard path.hasPrefix("/pay/") || path.hasPrefix("/checkout/return/") else { return path }
        let segments = path.split(separator: "/", omittingEmptySubsequences: false)
        let fixed = path.hasPrefix("/pay/") ? 3 : 4
        guard segments.count > fixed else { return path }
        return segments.prefix(fixed).joined(separator: "/") + "/<token>"
    }
}
