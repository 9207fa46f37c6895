import Logging
import SettleStore

/// Whether this instance can serve: the database answers within a bound, so a probe never hangs on an outage.
public struct HealthService: Sendable {
    let store: Store
    let timeout: Duration

    public init(store: Store, timeout: Duration = .seconds(2)) {
        self.store = store
        self.timeout = timeout
    }

    /// `true` when the database answered a trivial query within the timeout.
    public func databaseIsReachable() async -> Bool {
        await store.ping(timeout: timeout)
    }

    /// Whether this process has applied the schema's migrations.
    public var migrationsApplied: Bool { store.isMigrated }
}
