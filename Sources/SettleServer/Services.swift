import Foundation
import Logging
import ServiceLifecycle
import Settle

/// Delivers merchant webhooks for the server's lifetime; on graceful shutdown it stops claiming and lets the
/// deliveries in flight finish.
struct DispatcherService: Service, CustomStringConvertible {
    let dispatcher: WebhookDispatcher
    var description: String { "DispatcherService" }

    func run() async throws {
        do {
            try await cancelWhenGracefulShutdown { try await dispatcher.waitUntilReady() }
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

/// Expires overdue payments (and asks polled providers about open ones) every `interval` seconds.
struct SweepService: Service, CustomStringConvertible {
    let sweeper: Sweeper
    let refunds: RefundService
    let interval: Int
    var description: String { "SweepService" }

    func run() async throws {
        do {
            try await cancelWhenGracefulShutdown {
                try await sweeper.waitUntilReady()
                while !Task.isCancelled {
                    try await Task.sleep(for: .seconds(interval))
                    do {
                        try await sweeper.pollOpen()
                        try await sweeper.expireDue()
                        try await refunds.retryPending()
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

/// Looks at a file provider's settlement inbox once the schema is ready, then every `interval`.
struct InboxService: Service, CustomStringConvertible {
    let inbox: SettlementInbox
    let provider: String
    let folder: String
    let interval: Duration
    var description: String { "InboxService(\(provider))" }

    func run() async throws {
        do {
            try await cancelWhenGracefulShutdown {
                try await inbox.waitUntilReady()
                while !Task.isCancelled {
                    _ = await inbox.scan(provider: provider, folder: folder)
                    try await Task.sleep(for: interval)
                }
            }
        } catch is CancellationError {
            // Graceful shutdown.
        }
    }
}

/// Purges records past their retention a minute after start, then every `interval`.
struct RetentionRunner: Service, CustomStringConvertible {
    let retention: RetentionService
    let interval: Duration
    let logger: Logger
    var description: String { "RetentionRunner" }

    func run() async throws {
        do {
            try await cancelWhenGracefulShutdown {
                try await retention.waitUntilReady()
                try await Task.sleep(for: .seconds(60))
                while !Task.isCancelled {
                    do {
                        try await retention.purge()
                    } catch {
                        logger.warning("retention purge failed", metadata: ["error": "\(error)"])
                    }
                    try await Task.sleep(for: interval)
                }
            }
        } catch is CancellationError {
            // Graceful shutdown.
        }
    }
}

/// Takes queued reconciliations (one at a time per instance; a run is taken by exactly one instance) and, with a
/// schedule, queues the runs it has due (once across instances sharing the database).
struct ReconciliationRunner: Service, CustomStringConvertible {
    let reconciliations: ReconciliationService
    let schedule: ReconciliationSchedule?
    let logger: Logger
    var description: String { "ReconciliationRunner" }

    func run() async throws {
        do {
            try await cancelWhenGracefulShutdown {
                try await reconciliations.waitUntilReady()
                var lastScheduled = ContinuousClock.now - .seconds(3600)
                while !Task.isCancelled {
                    if let schedule, ContinuousClock.now - lastScheduled >= .seconds(30) {
                        lastScheduled = ContinuousClock.now
                        await reconciliations.scheduleDue(schedule, at: Date())
                    }
                    if await reconciliations.runNext() == nil {
                        try await reconciliations.waitForWork(timeout: .seconds(2))
                    }
                }
            }
        } catch is CancellationError {
            // Graceful shutdown: a run in progress stops; its lease lapses and an instance takes it again.
        }
    }
}
