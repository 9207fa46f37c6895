import Settle

/// Everything the routes may call. The composition root (`Application+build.swift`) builds it over the store; the
/// routes never see the store themselves.
public struct UseCases: Sendable {
    public let payments: PaymentService
    public let idempotency: IdempotencyService
    public let apiKeys: APIKeyService
    public let webhooks: WebhookService
    public let notifications: NotificationIngestor
    public let providers: ProviderRegistry
    public let health: HealthService
    public let pages: BuyerPages
    public let pageTokens: PageTokens
    public let settlements: SettlementService
    public let refunds: RefundService
    public let wallets: WalletService
    public let reconciliations: ReconciliationService
    /// The server's metrics, unless `SETTLE_METRICS=off`.
    public let metrics: ServerMetrics?
    let metricsToken: String?
    /// The server's tracer, when `SETTLE_OTEL_ENDPOINT` is set.
    public let tracing: SettleTracing

    init(
        payments: PaymentService, idempotency: IdempotencyService, apiKeys: APIKeyService, webhooks: WebhookService,
        notifications: NotificationIngestor, providers: ProviderRegistry, health: HealthService, pages: BuyerPages,
        pageTokens: PageTokens, settlements: SettlementService, refunds: RefundService, wallets: WalletService,
        reconciliations: ReconciliationService, metrics: ServerMetrics? = nil, metricsToken: String? = nil,
        tracing: SettleTracing = .none
    ) {
        self.tracing = tracing
        self.metrics = metrics
        self.metricsToken = metricsToken
        self.reconciliations = reconciliations
        self.refunds = refunds
        self.wallets = wallets
        self.settlements = settlements
        self.payments = payments
        self.idempotency = idempotency
        self.apiKeys = apiKeys
        self.webhooks = webhooks
        self.notifications = notifications
        self.providers = providers
        self.health = health
        self.pages = pages
        self.pageTokens = pageTokens
    }
}
