/// Bounds a wait on the database: `body` runs until it finishes or `timeout` passes, whichever comes first. On
/// timeout `body` is cancelled (a connection request leaves the pool's queue) and the caller gets `unavailable`, so an
/// outage is answered with a 503 within seconds instead of being waited out.
func withDeadline<T: Sendable>(_ timeout: Duration, _ what: String, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: timeout)
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let value = first else {
            throw StoreError(.unavailable, "The database did not answer \(what) within \(timeout).")
        }
        return value
    }
}

extension Store {
    /// Whether the database answers a trivial query within `timeout`.
    public func ping(timeout: Duration) async -> Bool {
        do {
            _ = try await withDeadline(timeout, "a health check") {
                try await self.read { connection in try await connection.query("SELECT 1 AS one") }
            }
            return true
        } catch {
            return false
        }
    }
}
