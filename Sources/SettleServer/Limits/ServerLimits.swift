/// What any one client may cost the server: how long it may take to send a request, how many connections all clients
/// may hold, and how many requests a second one caller may make. Zero turns a rate limit off.
public struct ServerLimits: Sendable, Hashable {
    /// `SETTLE_HTTP_READ_TIMEOUT`: a request's head, and then its body, must arrive within this.
    public var readTimeout: Duration = .seconds(30)
    /// `SETTLE_HTTP_IDLE_TIMEOUT`: a kept-alive connection with no request for this long is closed.
    public var idleTimeout: Duration = .seconds(60)
    /// `SETTLE_HTTP_MAX_CONNECTIONS`: connections beyond this wait to be accepted.
    public var maxConnections = 1024
    /// `SETTLE_RATE_LIMIT_API`: requests a second per API key on `/v1` (bursts of twice that).
    public var apiRate = 100
    /// `SETTLE_RATE_LIMIT_PROVIDERS`: requests a second per source address on `/v1/webhooks/…` (bursts of twice that).
    public var providerRate = 1000
    /// `SETTLE_RATE_LIMIT_PAGES`: requests a second per source address on the buyer's pages (bursts of three times that).
    public var pageRate = 10
    /// `SETTLE_TRUSTED_PROXIES`: peers whose `X-Forwarded-For` names the real source address.
    public var trustedProxies: [String] = []

    public init() {}

    /// No rate limits (benchmarks that fire from one address).
    public static var unlimitedRates: ServerLimits {
        var limits = ServerLimits()
        limits.apiRate = 0
        limits.providerRate = 0
        limits.pageRate = 0
        return limits
    }
}
