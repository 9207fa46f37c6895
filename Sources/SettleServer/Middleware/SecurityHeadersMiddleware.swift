import HTTPTypes
import Hummingbird

/// Headers every response carries: no content sniffing; and for HTML pages, no framing by other sites (clickjacking),
/// no scripts, forms posting only to Settle (unless a page sets its own, narrower policy), no referrer leaking a payment's URL, and no caching.
struct SecurityHeadersMiddleware: RouterMiddleware {
    typealias Context = SettleRequestContext

    static let pagePolicy =
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response = try await next(request, context)
        response.headers[.xContentTypeOptions] = "nosniff"
        if response.headers[.contentType]?.hasPrefix("text/html") == true {
            response.headers[.xFrameOptions] = "DENY"
            // A page that posts a provider's form sets its own policy (its nonce, the provider's form action).
            if response.headers[.contentSecurityPolicy] == nil { response.headers[.contentSecurityPolicy] = Self.pagePolicy }
            response.headers[.referrerPolicy] = "no-referrer"
            response.headers[.cacheControl] = "no-store"
        }
        return response
    }
}

extension HTTPField.Name {
    static let xFrameOptions = HTTPField.Name("X-Frame-Options")!
    static let referrerPolicy = HTTPField.Name("Referrer-Policy")!
}
