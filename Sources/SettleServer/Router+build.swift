import Hummingbird
import Settle
import SettleProviders

/// The routes, over the use cases alone. Separate from ``buildApplication(_:logger:httpClient:onFirstKey:)`` so tests
/// can build it and drive it in process.
public func buildRouter(_ useCases: UseCases, limits: ServerLimits = ServerLimits(), runtime: ServerRuntime? = nil) -> Router<SettleRequestContext> {
    let router = Router(context: SettleRequestContext.self)
    router.add(middleware: RequestIDMiddleware())
    if useCases.tracing.isEnabled { router.add(middleware: TracingMiddleware(tracing: useCases.tracing)) }
    router.add(middleware: RequestLogMiddleware())
    router.add(middleware: SecurityHeadersMiddleware())
    if let metrics = useCases.metrics { router.add(middleware: MetricsMiddleware(metrics: metrics.settle)) }
    let routes = RouteTable()
    router.add(middleware: ErrorMiddleware(routes: routes))
    let proxies = Set(limits.trustedProxies)
    if let metrics = useCases.metrics {
        MetricsController(metrics: metrics, health: useCases.health, token: useCases.metricsToken).addRoutes(to: router.group())
    }
    HealthController(health: useCases.health, runtime: runtime ?? ServerRuntime(publicURL: nil, host: "127.0.0.1")).addRoutes(to: router.group())
    APIDocumentController().addRoutes(to: router.group())
    let pages = router.group().add(
        middleware: RateLimitMiddleware(
            limiter: RateLimiter(rate: limits.pageRate, burst: max(3, limits.pageRate * 3)), key: .sourceAddress, trustedProxies: proxies
        )
    )
    SandboxController(pages: useCases.pages).addRoutes(to: pages)
    ReturnPageController(pages: useCases.pages).addRoutes(to: pages)
    FormPageController(pages: useCases.pages).addRoutes(to: pages)
    SandboxStateController(reconciliations: useCases.reconciliations).addRoutes(
        to: router.group()
            .add(middleware: AuthenticationMiddleware(apiKeys: useCases.apiKeys))
            .add(middleware: RateLimitMiddleware(limiter: RateLimiter(rate: limits.apiRate, burst: limits.apiRate * 2), key: .apiKey, trustedProxies: proxies))
    )
    let v1 = router.group("v1")
    let providers = v1.group().add(
        middleware: RateLimitMiddleware(
            limiter: RateLimiter(rate: limits.providerRate, burst: limits.providerRate * 2), key: .sourceAddress, trustedProxies: proxies
        )
    )
    WebhooksController(ingestor: useCases.notifications).addRoutes(to: providers)
    let api = v1.group()
        .add(middleware: AuthenticationMiddleware(apiKeys: useCases.apiKeys))
        .add(middleware: RateLimitMiddleware(limiter: RateLimiter(rate: limits.apiRate, burst: limits.apiRate * 2), key: .apiKey, trustedProxies: proxies))
    let aliases = Set(useCases.providers.parameterAliases.map(\.alias.name))
    PaymentsController(payments: useCases.payments, idempotency: useCases.idempotency, aliases: aliases).addRoutes(to: api)
    EventsController(webhooks: useCases.webhooks, idempotency: useCases.idempotency).addRoutes(to: api)
    WebhookEndpointsController(webhooks: useCases.webhooks, idempotency: useCases.idempotency).addRoutes(to: api)
    SettlementsController(settlements: useCases.settlements, idempotency: useCases.idempotency).addRoutes(to: api)
    RefundsController(refunds: useCases.refunds, idempotency: useCases.idempotency).addRoutes(to: api)
    WalletsController(wallets: useCases.wallets, idempotency: useCases.idempotency).addRoutes(to: api)
    ProvidersController(providers: useCases.providers).addRoutes(to: api)
    ReconciliationsController(reconciliations: useCases.reconciliations, idempotency: useCases.idempotency).addRoutes(to: api)
    routes.load(router.routes.map { (path: $0.path.description, method: $0.method.rawValue) })
    return router
}
