import Foundation
import Logging
import SettleStore
import Synchronization

/// Whether this instance can serve: the database answers within a bound, so a probe never hangs on an outage.
public struct HealthService: Sendable {
    let store: Store
    let timeout: Duration
    let ledger = LedgerCheck()

    public init(store: Store, timeout: Duration = .seconds(2)) {
        self.store = store
        self.timeout = timeout
    }

    /// `true` when the database answered a trivial query within the timeout.
    public func databaseIsReachable() async -> Bool {
        await store.ping(timeout: timeout)
    }

    /// What a metrics scrape reads from the database: waiting payments by provider and status, and the outbox.
    public struct Gauges: Sendable, Hashable {
        public var payments: [String: [String: Int]]
        public var outboxPending: Int
        public var outboxOldestDueSeconds: Int64
        /// Whether the last ledger check (`settle ledger verify`'s, at most every five minutes) found a discrepancy;
        /// `nil` before the first check answers.
        public var ledgerDiscrepancy: Bool?
    }

    /// The database's gauges for a metrics scrape; `nil` when it does not answer.
    public func gauges() async -> Gauges? {
        guard let read = try? await store.gauges(now: Date()) else { return nil }
        return Gauges(
            payments: read.payments, outboxPending: read.outboxPending, outboxOldestDueSeconds: read.outboxOldestDueSeconds,
            ledgerDiscrepancy: await ledger.result(store: store, now: Date())
        )
    }

    /// This instance's database connections at one moment, and its writes queued for the group commit.
    public struct Connections: Sendable, Hashable {
        public var inUse: Int
        public var waiting: Int
        public var capacity: Int
        public var commitQueue: Int
    }

    /// This instance's database connections now (in use, waiting, the most there can be) and its queued writes.
    public var connections: Connections {
        let usage = store.poolUsage
        return Connections(inUse: usage.inUse, waiting: usage.waiting, capacity: usage.capacity, commitQueue: usage.commitQueue)
    }

    /// Whether this process has applied the schema's migrations.
    public var migrationsApplied: Bool { store.isMigrated }
}

/// The ledger's full check for the metrics, run at most every five minutes per instance (it reads every entry).
final class LedgerCheck: Sendable {
    static let interval: TimeInterval = 300
    private let last = Mutex<(at: Date, found: Bool)?>(nil)

    func result(store: Store, now: Date) async -> Bool? {
        if let cached = last.withLock({ $0 }), now.timeIntervalSince(cached.at) < Self.interval { return cached.found }
        let found: Bool
        do {
            found = try await store.verifyLedger() != nil
        } catch {
            // No answer: keep the last one (or none) rather than report a ledger that was not read as whole.
            return last.withLock { $0 }?.found
        }
        last.withLock { $0 = (now, found) }
        return found
    }
}
