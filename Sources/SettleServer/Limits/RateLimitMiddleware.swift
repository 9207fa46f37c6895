import Foundation
import HTTPTypes
import Hummingbird
import Settle

/// Answers `429` with `Retry-After` once a caller is over its rate: per API key on the authenticated API, per source
/// address on the provider endpoints and the buyer's pages (which carry no key).
struct RateLimitMiddleware: RouterMiddleware {
    typealias Context = SettleRequestContext

    enum Key {
        case apiKey
        case sourceAddress
    }

    let limiter: RateLimiter
    let key: Key
    let trustedProxies: Set<String>

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard limiter.isEnabled else { return try await next(request, context) }
        let identity: String =
            switch key {
            case .apiKey: context.caller?.apiKeyID ?? "anonymous"
            case .sourceAddress: SourceAddress.of(request, context: context, trustedProxies: trustedProxies)
            }
        if let wait = limiter.take(identity) {
            let seconds = Int((wait + 999_999_999) / 1_000_000_000)
            throw SettleError(.rateLimited, "Too many requests; retry after \(seconds) second\(seconds == 1 ? "" : "s").", retryAfter: seconds)
        }
        return try await next(request, context)
    }
}

/// The address a request comes from: the peer's, or, when the peer is a trusted proxy, the right-most address in
/// `X-Forwarded-For` that is not one of the trusted proxies.
enum SourceAddress {
    static func of(_ request: Request, context: SettleRequestContext, trustedProxies: Set<String>) -> String {
        let peer = context.remoteAddress ?? "unknown"
        guard trustedProxies.contains(peer), let forwarded = request.headers[HTTPField.Name("X-Forwarded-For")!] else { return peer }
        let hops = forwarded.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        return hops.reversed().first { !trustedProxies.contains($0) } ?? peer
    }
}
