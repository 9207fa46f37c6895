import AsyncHTTPClient
import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import ServiceLifecycle
import UnixSignals
import Settle
import SettleCore
import SettleProviders
import SettleStore

/// The assembled server and the parts tests and commands reach into.
public struct SettleApplication: Sendable {
    public let app: Application<RouterResponder<SettleRequestContext>>
    public let store: Store
    public let useCases: UseCases
    public let runtime: ServerRuntime

    public var providers: ProviderRegistry { useCases.providers }
    /// How long readiness answers 503 before the server stops taking requests, on graceful shutdown.
    public let drainDelay: Duration

    /// The server with its readiness gate: on graceful shutdown (SIGTERM, SIGINT when `signals` names them) readiness
    /// turns `503` first, for ``drainDelay``, then the server stops accepting and lets requests in flight finish.
    public func serviceGroup(signals: [UnixSignal], logger: Logger) -> ServiceGroup {
        ServiceGroup(
            configuration: .init(
                services: [
                    .init(service: app),
                    // Last in the list, so shut down first: the gate drains before the server stops.
                    .init(service: ReadinessGate(runtime: runtime, delay: drainDelay, logger: logger), successTerminationBehavior: .ignore),
                ],
                gracefulShutdownSignals: signals, logger: logger
            )
        )
    }

    /// The sandbox's signing secret once the server has started (configured, or generated and stored).
    public var sandboxSecret: StandardWebhookSecret? { (providers.provider(named: SandboxProvider.name) as? SandboxProvider)?.secret }
}

/// The composition root: the one place that knows the store. It opens the database, builds the providers from the
/// catalog and the use cases over the store, the router over the use cases, and the background services. Migrations,
/// generated settings and the first key are handled before the server accepts traffic; `onFirstKey` is called once,
/// on the first start of an empty database, with the only copy of the new key.
public func buildApplication(
    _ configuration: SettleConfiguration, logger: Logger, httpClient: HTTPClient = .shared,
    onFirstKey: @escaping @Sendable (APIKeyService.CreatedKey) -> Void = { _ in }
) async throws -> SettleApplication {
    let location = try DatabaseLocation(url: configuration.databaseURL)
    let metrics = configuration.metricsEnabled ? ServerMetrics() : nil
    var storeOptions = configuration.storeOptions
    if let counting = metrics?.settle { storeOptions.observeCommit = { jobs, duration in counting.commit(jobs: jobs, duration) } }
    let store = try await Store.open(location, options: storeOptions, logger: logger)
    let runtime = ServerRuntime(publicURL: configuration.publicURL, host: configuration.host)
    let traces: (tracing: SettleTracing, service: (any Service)?)
    do {
        traces = try ServerTracing.make(endpoint: configuration.otelEndpoint, logger: logger)
    } catch {
        await store.close()
        throw SettleError(.configurationRefused, "SETTLE_OTEL_ENDPOINT could not be used for tracing: \(error).")
    }
    let useCases = makeUseCases(
        store: store, configuration: configuration, runtime: runtime, metrics: metrics, httpClient: httpClient, logger: logger, tracing: traces.tracing
    )
    let schedule: ReconciliationSchedule?
    do {
        try useCases.providers.refuseUnsafeConfiguration()
        schedule = try ReconciliationSchedule.parse(configuration.reconcileSchedule)
    } catch {
        await store.close()
        throw error
    }
    let router = buildRouter(useCases, limits: configuration.limits, runtime: runtime)
    var services: [any Service] = [
        StoreService(store: store),
        SweepService(
            sweeper: Sweeper(store: store, providers: useCases.providers, logger: logger), refunds: useCases.refunds,
            interval: configuration.sweepInterval
        ),
    ]
    services.append(
        RetentionRunner(retention: RetentionService(store: store, days: configuration.retentionDays, logger: logger), interval: .seconds(3600), logger: logger)
    )
    if configuration.runReconciliations {
        services.append(ReconciliationRunner(reconciliations: useCases.reconciliations, schedule: schedule, logger: logger))
    }
    let inbox = SettlementInbox(service: useCases.settlements)
    for watched in inbox.watched {
        services.append(InboxService(inbox: inbox, provider: watched.provider, folder: watched.folder, interval: watched.interval))
    }
    if configuration.runDispatcher {
        var dispatching = configuration.webhooks
        dispatching.tracing = traces.tracing
        dispatching.metrics = metrics?.settle ?? .none
        services.append(DispatcherService(dispatcher: WebhookDispatcher(store: store, configuration: dispatching, logger: logger)))
    }
    // First in the list, so it stops last and exports the spans of everything else.
    if let exporter = traces.service { services.insert(exporter, at: 0) }
    let limits = configuration.limits
    var app = Application(
        router: router,
        server: .http1(
            configuration: .init(
                additionalChannelHandlers: [
                    RequestDeadlineHandler(readTimeout: TimeAmount(limits.readTimeout), idleTimeout: TimeAmount(limits.idleTimeout))
                ],
                idleTimeout: TimeAmount(limits.idleTimeout)
            )
        ),
        configuration: .init(
            address: .hostname(configuration.host, port: configuration.port), serverName: "Settle",
            availableConnectionsDelegate: MaximumAvailableConnections(limits.maxConnections, logger: logger)
        ),
        services: services,
        onServerRunning: { channel in
            if let port = channel.localAddress?.port { runtime.serverBound(port: port) }
            logger.info("Settle is listening", metadata: ["url": "\(runtime.publicURL)", "database": "\(location)"])
        },
        logger: logger
    )
    let pageTokens = useCases.pageTokens
    app.beforeServerStarts {
        let first = try await Bootstrap.prepare(
            store: store, providers: useCases.providers, pages: pageTokens, keys: useCases.apiKeys, logger: logger
        )
        if let first { onFirstKey(first) }
        for line in useCases.providers.report { logger.info("provider \(line)") }
    }
    return SettleApplication(app: app, store: store, useCases: useCases, runtime: runtime, drainDelay: configuration.drainDelay)
}

/// The use cases over `store`, with the catalog's providers configured from `configuration`.
func makeUseCases(
    store: Store, configuration: SettleConfiguration, runtime: ServerRuntime, metrics: ServerMetrics?, httpClient: HTTPClient, logger: Logger,
    tracing: SettleTracing = .none
) -> UseCases {
    let counting = metrics?.settle ?? .none
    let providers = ProviderRegistry(
        settings: configuration.providers, store: store, httpClient: httpClient, logger: logger,
        client: { name in
            var client = configuration.providerClients[name] ?? ProviderClient.Configuration()
            if metrics != nil {
                client.observe = { call in
                    counting.providerCall(provider: call.provider, outcome: call.outcome, attempts: call.attempts, call.duration, circuitOpen: call.circuitOpen)
                }
            }
            client.trace = tracing.providerCalls
            return client
        }
    )
    let pageTokens = PageTokens()
    let publicURL: @Sendable () -> String = { runtime.publicURL }
    return UseCases(
        payments: PaymentService(
            store: store, providers: providers, publicURL: publicURL, pages: pageTokens,
            limits: PaymentLimits(maximumAmount: configuration.maximumAmount), logger: logger
        ),
        idempotency: IdempotencyService(store: store, logger: logger),
        apiKeys: APIKeyService(store: store, logger: logger),
        webhooks: WebhookService(store: store, policy: configuration.webhooks.addressPolicy, logger: logger),
        notifications: NotificationIngestor(
            store: store, providers: providers, rejections: RejectionSampler(perMinute: configuration.rejectedPerMinute), metrics: counting,
            logger: logger
        ),
        providers: providers,
        health: HealthService(store: store),
        pages: BuyerPages(store: store, providers: providers, tokens: pageTokens, publicURL: publicURL, httpClient: httpClient, logger: logger),
        pageTokens: pageTokens,
        settlements: SettlementService(store: store, providers: providers, logger: logger),
        refunds: RefundService(store: store, providers: providers, logger: logger),
        wallets: WalletService(store: store, limits: PaymentLimits(maximumAmount: configuration.maximumAmount), logger: logger),
        reconciliations: ReconciliationService(store: store, providers: providers, logger: logger, metrics: counting),
        metrics: metrics, metricsToken: configuration.metricsToken?.value, tracing: tracing
    )
}

/// Runs the store's background work (the PostgreSQL pool) for the server's lifetime.
struct StoreService: Service, CustomStringConvertible {
    let store: Store
    var description: String { "StoreService" }

    func run() async throws {
        do {
            try await cancelWhenGracefulShutdown {
                try await store.run()
            }
        } catch is CancellationError {
            // Graceful shutdown: the normal way out.
        } catch {
            await store.close()
            throw error
        }
        await store.close()
    }
}

extension SettleConfiguration {
    /// What the store is opened with.
    public var storeOptions: StoreOptions {
        var options = StoreOptions(durability: durability)
        options.timeout = databaseTimeout
        options.statementTimeout = databaseStatementTimeout
        options.lockTimeout = databaseLockTimeout
        options.idleInTransactionTimeout = databaseIdleInTransactionTimeout
        options.caFile = databaseCAFile
        options.auditKey = auditKey
        return options
    }
}

// MARK: - CustomStringConvertible, CustomReflectable

extension SettleConfiguration: CustomStringConvertible, CustomReflectable {
    /// Where it listens and which database, never a secret or a password.
    public var description: String {
        let database = (try? DatabaseLocation(url: databaseURL).description) ?? "<unparsable database url>"
        return "SettleConfiguration(\(host):\(port), \(database))"
    }

    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .struct) }
}

/// On graceful shutdown, turns readiness to `503` and waits `delay` (load balancers stop sending), then lets the
/// shutdown go on to the server.
struct ReadinessGate: Service, CustomStringConvertible {
    let runtime: ServerRuntime
    let delay: Duration
    let logger: Logger
    var description: String { "ReadinessGate" }

    func run() async throws {
        try? await gracefulShutdown()
        runtime.startDraining()
        logger.info("shutting down: readiness is 503, draining", metadata: ["seconds": "\(delay.components.seconds)"])
        try? await Task.sleep(for: delay)
    }
}
