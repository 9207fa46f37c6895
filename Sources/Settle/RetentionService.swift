import Foundation
import Logging
import SettleStore

/// Enforces retention: idempotency keys are purged two days after they were made (they live one), delivery attempts
/// and refused provider calls after `days`. Deletes run in chunks, so no transaction holds the writer for long.
/// Safe on several instances at once (each deletes what is still there).
public struct RetentionService: Sendable {
    public struct Purged: Sendable, Hashable {
        public var counts: [RetainedRecord: Int] = [:]
        public var total: Int { counts.values.reduce(0, +) }
    }

    let store: Store
    let days: Int
    let now: @Sendable () -> Date
    let logger: Logger
    let chunk: Int

    public init(store: Store, days: Int, chunk: Int = 1000, now: @escaping @Sendable () -> Date = { Date() }, logger: Logger) {
        self.store = store
        self.days = days
        self.chunk = chunk
        self.now = now
        self.logger = logger
    }

    /// The age past which `kind` is purged.
    func cutoff(_ kind: RetainedRecord, at: Date) -> Date {
        switch kind {
        case .idempotencyKeys: at.addingTimeInterval(-2 * 86_400)
        case .webhookAttempts, .rejectedNotifications: at.addingTimeInterval(-Double(days) * 86_400)
        }
    }

    /// One pass over every kind.
    @discardableResult
    public func purge() async throws -> Purged {
        let at = now()
        var purged = Purged()
        for kind in RetainedRecord.allCases {
            let before = cutoff(kind, at: at)
            let chunk = self.chunk
            var total = 0
            while true {
                let removed = try await store.write { tx in try await tx.purge(kind, before: before, limit: chunk) }
                total += removed
                if removed < chunk { break }
            }
            purged.counts[kind] = total
        }
        if purged.total > 0 {
            logger.info("purged expired records", metadata: purged.counts.reduce(into: [:]) { $0[$1.key.rawValue] = "\($1.value)" })
        }
        return purged
    }

    public func waitUntilReady() async throws { try await store.waitUntilMigrated() }
}
