import AsyncHTTPClient
import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Settle
import SettleCore
import SettleProviders
import SettleStore

/// The assembled server and the parts tests and commands reach into.
public struct SettleApplication: Sendable {
    public let app: Application<RouterResponder<SettleRequestContext>>
    public let store: Store
    public let runtime: ServerRuntime
    public let providers: ProviderRegistry
}

/// Builds Settle: the store, the providers, the router, and the services. Migrations, the first key and the
/// sandbox secret are handled before the server accepts traffic. `onFirstKey` is called once, on the first start
/// of an empty database, with the only copy of the new key.
public func buildApplication(
    _ configuration: SettleConfiguration, logger: Logger, httpClient: HTTPClient = .shared,
    onFirstKey: @escaping @Sendable (Bootstrap.FirstKey) -> Void = { _ in }
) async throws -> SettleApplication {
    let location = try DatabaseLocation(url: configuration.databaseURL)
    let store = try await Store.open(location, durability: configuration.durability, logger: logger)
    let runtime = ServerRuntime(publicURL: configuration.publicURL, host: configuration.host, httpClient: httpClient)
    let providers = ProviderRegistry([
        SandboxProvider(secret: { runtime.sandboxSecret }),
        StripeProvider(configuration: configuration.stripe, httpClient: httpClient, logger: logger),
        PaymeProvider(
            configuration: configuration.payme, credentials: StoredCredentials { name in try await store.setting(name) },
            httpClient: httpClient, logger: logger
        ),
    ])
    let router = buildRouter(store: store, providers: providers, runtime: runtime, configuration: configuration, logger: logger)
    var app = Application(
        router: router,
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "Settle"),
        services: [
            StoreService(store: store),
            SweepService(sweeper: Sweeper(store: store, providers: providers, logger: logger), interval: configuration.sweepInterval),
        ] + (configuration.runDispatcher
            ? [DispatcherService(dispatcher: WebhookDispatcher(store: store, httpClient: httpClient, configuration: configuration.webhooks, logger: logger))]
            : []),
        onServerRunning: { channel in
            if let port = channel.localAddress?.port { runtime.serverBound(port: port) }
            logger.info("Settle is listening", metadata: ["url": "\(runtime.publicURL)", "database": "\(location)"])
        },
        logger: logger
    )
    app.beforeServerStarts {
        let ran = try await store.migrate()
        if !ran.isEmpty { logger.info("migrated", metadata: ["applied": "\(ran.joined(separator: ", "))"]) }
        if let first = try await Bootstrap.ensureFirstKey(store: store) { onFirstKey(first) }
        runtime.setSandboxSecret(try await Bootstrap.sandboxSecret(configured: configuration.sandboxWebhookSecret, store: store))
        for line in providers.report { logger.info("provider \(line)") }
    }
    return SettleApplication(app: app, store: store, runtime: runtime, providers: providers)
}

/// The routes. Separate from ``buildApplication(_:logger:httpClient:onFirstKey:)`` so tests can build it alone.
public func buildRouter(
    store: Store, providers: ProviderRegistry, runtime: ServerRuntime, configuration: SettleConfiguration, logger: Logger
) -> Router<SettleRequestContext> {
    let router = Router(context: SettleRequestContext.self)
    router.add(middleware: RequestIDMiddleware())
    HealthController(store: store).addRoutes(to: router)
    SandboxController(store: store, runtime: runtime).addRoutes(to: router)
    ReturnPageController(store: store).addRoutes(to: router)
    let v1 = router.group("v1")
    WebhooksController(ingestor: NotificationIngestor(store: store, providers: providers, logger: logger)).addRoutes(to: v1)
    let api = v1.group().add(middleware: AuthenticationMiddleware(store: store))
    let payments = PaymentService(
        store: store, providers: providers, publicURL: runtime.publicURLProvider,
        limits: PaymentLimits(maximumAmount: configuration.maximumAmount), logger: logger
    )
    PaymentsController(payments: payments, store: store).addRoutes(to: api)
    let webhooks = WebhookService(store: store, policy: configuration.webhooks.addressPolicy, logger: logger)
    EventsController(webhooks: webhooks, store: store).addRoutes(to: api)
    WebhookEndpointsController(webhooks: webhooks, store: store).addRoutes(to: api)
    ProvidersController(providers: providers).addRoutes(to: api)
    return router
}

extension ServerRuntime {
    var publicURLProvider: @Sendable () -> String { { self.publicURL } }
}

/// Runs the store's background work (the PostgreSQL pool) for the server's lifetime.
struct StoreService: Service {
    let store: Store

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

/// Delivers merchant webhooks for the server's lifetime; on graceful shutdown it stops claiming and lets the
/// deliveries in flight finish.
struct DispatcherService: Service {
    let dispatcher: WebhookDispatcher

    func run() async throws {
        do {
            try await cancelWhenGracefulShutdown { try await dispatcher.store.waitUntilMigrated() }
        } catch is CancellationError {
            return  // shut down before the schema was ready
        }
        await withGracefulShutdownHandler {
            await dispatcher.run()
        } onGracefulShutdown: {
            dispatcher.stop()
        }
    }
}

/// Expires overdue payments every `interval` seconds.
struct SweepService: Service {
    let sweeper: Sweeper
    let interval: Int

    func run() async throws {
        do {
            try await cancelWhenGracefulShutdown {
                try await sweeper.store.waitUntilMigrated()
                while !Task.isCancelled {
                    try await Task.sleep(for: .seconds(interval))
                    do {
                        try await sweeper.pollOpen()
                        try await sweeper.expireDue()
                    } catch {
                        sweeper.logger.warning("sweep failed", metadata: ["error": "\(error)"])
                    }
                }
            }
        } catch is CancellationError {
            // Graceful shutdown.
        }
    }
}
