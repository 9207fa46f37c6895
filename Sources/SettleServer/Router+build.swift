import Hummingbird
import Settle

/// The routes, over the use cases alone. Separate from ``buildApplication(_:logger:httpClient:onFirstKey:)`` so tests
/// can build it and drive it in process.
public func buildRouter(_ useCases: UseCases) -> Router<SettleRequestContext> {
    let router = Router(context: SettleRequestContext.self)
    router.add(middleware: RequestIDMiddleware())
    router.add(middleware: SecurityHeadersMiddleware())
    router.add(middleware: ErrorMiddleware())
    HealthController(health: useCases.health).addRoutes(to: router)
    SandboxController(pages: useCases.pages).addRoutes(to: router)
    ReturnPageController(pages: useCases.pages).addRoutes(to: router)
    let v1 = router.group("v1")
    WebhooksController(ingestor: useCases.notifications).addRoutes(to: v1)
    let api = v1.group().add(middleware: AuthenticationMiddleware(apiKeys: useCases.apiKeys))
    let aliases = Set(useCases.providers.parameterAliases.map(\.alias.name))
    PaymentsController(payments: useCases.payments, idempotency: useCases.idempotency, aliases: aliases).addRoutes(to: api)
    EventsController(webhooks: useCases.webhooks, idempotency: useCases.idempotency).addRoutes(to: api)
    WebhookEndpointsController(webhooks: useCases.webhooks, idempotency: useCases.idempotency).addRoutes(to: api)
    ProvidersController(providers: useCases.providers).addRoutes(to: api)
    return router
}
