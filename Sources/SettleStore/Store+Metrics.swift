import Foundation
import SettleCore

/// What a scrape of `/metrics` reads from the database (every instance sees the same): open and reviewed payments by
/// provider and status, and the outbox.
public struct StoreGauges: Sendable, Hashable {
    /// (provider, status) → count, for the statuses that wait: `requires_action`, `processing`, `requires_review`.
    public var payments: [String: [String: Int]]
    /// Messages waiting to be delivered, and how long the oldest due one has waited.
    public var outboxPending: Int
    public var outboxOldestDueSeconds: Int64

    public init(payments: [String: [String: Int]], outboxPending: Int, outboxOldestDueSeconds: Int64) {
        self.payments = payments
        self.outboxPending = outboxPending
        self.outboxOldestDueSeconds = outboxOldestDueSeconds
    }
}

extension Store {
    public func gauges(now: Date) async throws -> StoreGauges {
        try await read { connection in
            var payments: [String: [String: Int]] = [:]
            for row in try await connection.query(
                """
                SELECT provider, status, COUNT(*) AS n FROM payments
                WHERE status IN ('requires_action', 'processing', 'requires_review') GROUP BY provider, status
                """
            ) {
                payments[try row.string("provider"), default: [:]][try row.string("status")] = Int(try row.int("n"))
            }
            let outbox = try await connection.query(
                """
                SELECT COUNT(*) AS n, CAST(COALESCE(MIN(CASE WHEN next_attempt_at <= \(UnixTime.milliseconds(now)) THEN next_attempt_at END), 0) AS BIGINT) AS oldest
                FROM webhook_messages WHERE state = 'pending'
                """
            ).first
            let oldest = try outbox?.optionalInt("oldest") ?? 0
            return StoreGauges(
                payments: payments, outboxPending: Int(try outbox?.int("n") ?? 0),
                outboxOldestDueSeconds: oldest == 0 ? 0 : max(0, (UnixTime.milliseconds(now) - oldest) / 1000)
            )
        }
    }
}
