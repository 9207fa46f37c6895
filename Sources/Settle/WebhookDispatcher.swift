import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import SettleCore
import SettleStore
import Instrumentation
import Tracing
import Synchronization

/// When to try again after a failed delivery.
public struct RetrySchedule: Sendable, Hashable {
    /// Delay before each attempt, the first being immediate: 0, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
    public var delays: [Int64] = [0, 5, 300, 1800, 7200, 18_000, 36_000, 36_000]
    /// Up to this fraction of a delay is added at random, so endpoints recovering from an outage are not hit in
    /// lockstep.
    public var jitter: Double = 0.1

    public init(jitter: Double = 0.1) {
        self.jitter = jitter
    }

    /// After `attempts` attempts have failed: when to try again, or nil when the message is dead.
    public func nextAttempt(afterAttempts attempts: Int, from date: Date) -> Date? {
        guard attempts < delays.count else { return nil }
        let delay = delays[attempts]
        let extra = jitter > 0 ? Int64.random(in: 0...max(0, Int64(Double(delay) * jitter))) : 0
        return date.addingTimeInterval(TimeInterval(delay + extra))
    }
}

/// Delivers queued events to merchant endpoints, signed per Standard Webhooks.
///
/// Each pass claims due messages (leased, and `SKIP LOCKED` on PostgreSQL so several instances share the work
/// without double sends), posts them concurrently, records every attempt, and reschedules failures. A message
/// whose dispatcher dies mid-delivery is claimed again when its lease runs out: delivery is at least once, with the
/// same `webhook-id` (the event id) every time.
public final class WebhookDispatcher: Sendable {
    public struct Configuration: Sendable {
        public var schedule = RetrySchedule()
        public var timeout: Duration = .seconds(15)
        /// How long a claim holds a message. Deliveries in flight renew it every third of it, so a slow receiver is
        /// not sent the message twice; after a crash the message is due again within this many seconds.
        public var leaseSeconds: Int64 = 10
        public var batchSize = 64
        /// Disable an endpoint that has failed continuously this long (5 days).
        public var disableAfterSeconds: Int64 = 5 * 86_400
        public var pollInterval: Duration = .milliseconds(250)
        /// Passes running side by side in one process (claims are leased, so they never share a message).
        public var workers = 4
        public var addressPolicy = EndpointAddressPolicy()
        /// A span per delivery, whose trace context goes to the merchant (`traceparent`).
        public var tracing = SettleTracing.none
        /// Deliveries by outcome, and their duration.
        public var metrics = SettleMetrics.none

        public init() {}
    }

    public let store: Store
    let configuration: Configuration
    let now: @Sendable () -> Date
    let logger: Logger
    private let stopping = Atomic<Bool>(false)

    public init(
        store: Store, configuration: Configuration = .init(), now: @escaping @Sendable () -> Date = { Date() }, logger: Logger
    ) {
        self.store = store
        self.configuration = configuration
        self.now = now
        self.logger = logger
    }

    /// Runs passes until graceful shutdown: it then stops claiming and lets deliveries in flight finish.
    public func run() async {
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<max(1, configuration.workers) {
                group.addTask {
                    while !self.stopping.load(ordering: .relaxed) && !Task.isCancelled {
                        let attempted = await self.dispatchDue()
                        if attempted == 0 { try? await Task.sleep(for: self.configuration.pollInterval) }
                    }
                }
            }
        }
    }

    /// Waits until the schema is ready (the dispatcher must not write while migrations run).
    public func waitUntilReady() async throws { try await store.waitUntilMigrated() }

    /// Asks ``run()`` to stop after the deliveries in flight.
    public func stop() { stopping.store(true, ordering: .relaxed) }

    /// One pass: claims due messages, delivers them concurrently, records the outcomes. Returns how many were tried.
    @discardableResult
    public func dispatchDue() async -> Int {
        let claimed: [ClaimedMessage]
        do {
            let at = now()
            guard try await store.hasDueMessages(at: at) else { return 0 }
            let limit = configuration.batchSize
            let lease = configuration.leaseSeconds
            claimed = try await store.write { tx in try await tx.claimDueMessages(at: at, limit: limit, leaseSeconds: lease) }
        } catch {
            logger.warning("could not claim webhook messages", metadata: ["error": "\(error)"])
            return 0
        }
        guard !claimed.isEmpty else { return 0 }
        let outcomes = await withTaskGroup(of: (ClaimedMessage, DeliveryAttempt, DeliveryDecision)?.self) { group in
            for message in claimed {
                group.addTask { await self.deliver(message) }
            }
            // While deliveries are in flight, their claims are renewed: a slow receiver keeps its lease.
            group.addTask { await self.renewLeases(of: claimed.map(\.messageID), token: claimed[0].leaseToken); return nil }
            var outcomes: [(ClaimedMessage, DeliveryAttempt, DeliveryDecision)] = []
            while let next = await group.next() {
                if let outcome = next { outcomes.append(outcome) }
                if outcomes.count == claimed.count { group.cancelAll() }
            }
            return outcomes
        }
        let at = now()
        let disableAfter = configuration.disableAfterSeconds
        do {
            try await store.write { tx in
                try await tx.recordDeliveries(
                    outcomes.map { (message: $0.0, attempt: $0.1, decision: $0.2) }, at: at, disableAfterSeconds: disableAfter
                )
            }
        } catch {
            // The leases run out and the messages are tried again: at least once.
            logger.error("could not record webhook attempts", metadata: ["count": "\(outcomes.count)", "error": "\(error)"])
        }
        return claimed.count
    }

    /// Extends the claims of `messageIDs` (one pass's, sharing `token`) every third of the lease until cancelled (the
    /// deliveries are done).
    func renewLeases(of messageIDs: [String], token: String) async {
        let every = Duration.milliseconds(configuration.leaseSeconds * 1000 / 3)
        let lease = configuration.leaseSeconds
        while true {
            do {
                try await Task.sleep(for: every)
            } catch {
                return
            }
            let at = now()
            do {
                try await store.write { tx in try await tx.renewLeases(messageIDs: messageIDs, token: token, at: at, leaseSeconds: lease) }
            } catch {
                logger.warning("could not renew webhook leases", metadata: ["count": "\(messageIDs.count)", "error": "\(error)"])
            }
        }
    }

    /// Sends one message; returns what happened and what to do next (recorded by the caller with the others).
    func deliver(_ message: ClaimedMessage) async -> (ClaimedMessage, DeliveryAttempt, DeliveryDecision)? {
        // Each delivery starts a trace of its own (it runs long after the request that caused it).
        await configuration.tracing.span("webhook delivery", kind: .client, context: .topLevel) { span in
            span.set("settle.event.type", message.event.type)
            span.set("settle.webhook.attempt", message.attempts + 1)
            let delivered = await send(message)
            if let (_, attempt, _) = delivered {
                if let status = attempt.statusCode { span.set("http.response.status_code", status) }
                if attempt.statusCode.map({ !(200..<300).contains($0) }) ?? true { span.failed(attempt.statusCode.map { "HTTP \($0)" } ?? "no answer") }
            }
            return delivered
        }
    }

    private func send(_ message: ClaimedMessage) async -> (ClaimedMessage, DeliveryAttempt, DeliveryDecision)? {
        let started = ContinuousClock.now
        let at = now()
        let body = Array(message.event.json.utf8)
        let timestamp = UnixTime.seconds(at)
        var headers = [
            ("content-type", "application/json"), ("user-agent", "Settle-Webhooks/1"), ("webhook-id", message.event.id),
            ("webhook-timestamp", String(timestamp)),
            (
                "webhook-signature",
                StandardWebhooks.signatureHeader(
                    secrets: message.endpoint.signingSecrets(at: at), id: message.event.id, timestamp: timestamp, body: body
                )
            ),
        ]
        configuration.tracing.inject(into: &headers)
        let result = await WebhookTransport.send(
            url: message.endpoint.url, mode: message.endpoint.mode, headers: headers,
            body: body, timeout: configuration.timeout, policy: configuration.addressPolicy
        )
        let statusCode = result.statusCode
        let elapsed = ContinuousClock.now - started
        let attempt = DeliveryAttempt(
            statusCode: statusCode,
            durationMilliseconds: elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000,
            responseBody: result.responseBody, error: result.error, at: at
        )
        let decision: DeliveryDecision
        switch statusCode {
        case .some(200..<300): decision = .delivered
        case .some(410): decision = .disableEndpoint(reason: "endpoint answered 410 Gone")
        default:
            if let next = configuration.schedule.nextAttempt(afterAttempts: message.attempts + 1, from: at) {
                decision = .retry(at: next)
            } else {
                decision = .failed
            }
        }
        configuration.metrics.delivery(outcome: Self.outcome(of: decision), elapsed)
        return (message, attempt, decision)
    }

    static func outcome(of decision: DeliveryDecision) -> String {
        switch decision {
        case .delivered: "delivered"
        case .retry: "retry"
        case .failed: "failed"
        case .disableEndpoint: "endpoint_gone"
        }
    }
}
