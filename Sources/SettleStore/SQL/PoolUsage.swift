import Synchronization

/// How a store's connections are used at one moment, for metrics.
public struct PoolUsage: Sendable, Hashable {
    /// Connections running a statement or a transaction.
    public var inUse: Int
    /// Callers waiting for a connection (PostgreSQL's pool; SQLite's connections are shared, so nobody waits for one).
    public var waiting: Int
    /// The most connections there can be.
    public var capacity: Int
    /// Writes queued for the group commit, behind the batches being committed.
    public var commitQueue: Int

    public init(inUse: Int, waiting: Int, capacity: Int, commitQueue: Int) {
        self.inUse = inUse
        self.waiting = waiting
        self.capacity = capacity
        self.commitQueue = commitQueue
    }
}

/// Counts connections in use and callers waiting, updated by a driver around each lease.
final class PoolCounter: Sendable {
    let capacity: Int
    private let inUse = Atomic<Int>(0)
    private let waiting = Atomic<Int>(0)

    init(capacity: Int) {
        self.capacity = capacity
    }

    func startWaiting() { waiting.add(1, ordering: .relaxed) }
    func stopWaiting() { waiting.subtract(1, ordering: .relaxed) }

    /// Runs `body` counted as one connection in use.
    func using<T>(_ body: () async throws -> T) async rethrows -> T {
        inUse.add(1, ordering: .relaxed)
        defer { inUse.subtract(1, ordering: .relaxed) }
        return try await body()
    }

    func usage(commitQueue: Int) -> PoolUsage {
        PoolUsage(
            inUse: inUse.load(ordering: .relaxed), waiting: waiting.load(ordering: .relaxed), capacity: capacity, commitQueue: commitQueue
        )
    }
}
