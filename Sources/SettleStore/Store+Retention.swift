import Foundation
import SettleCore

/// What the retention purge removes: records whose purpose has passed, never money, payments, events or the audit
/// trail.
public enum RetainedRecord: String, Sendable, CaseIterable {
    /// Idempotency keys past their 24 hours (kept a day longer, so a late retry still gets a clear answer).
    case idempotencyKeys = "idempotency_keys"
    /// Outbound delivery attempts (the messages and their state stay).
    case webhookAttempts = "webhook_attempts"
    /// Refused provider calls (size, hash and reason).
    case rejectedNotifications = "rejected_notifications"
}

extension StoreTransaction {
    /// Deletes up to `limit` records of `kind` older than `before`; returns how many.
    public func purge(_ kind: RetainedRecord, before: Date, limit: Int) async throws -> Int {
        let cutoff = UnixTime.milliseconds(before)
        let sql: SQL
        switch kind {
        case .idempotencyKeys:
            sql = """
                DELETE FROM idempotency_keys WHERE (api_key_id, idempotency_key) IN (
                    SELECT api_key_id, idempotency_key FROM idempotency_keys WHERE created_at < \(cutoff) LIMIT \(limit)
                ) RETURNING api_key_id
                """
        case .webhookAttempts:
            sql = """
                DELETE FROM webhook_attempts WHERE seq IN (
                    SELECT seq FROM webhook_attempts WHERE attempted_at < \(cutoff) ORDER BY seq LIMIT \(limit)
                ) RETURNING seq
                """
        case .rejectedNotifications:
            sql = """
                DELETE FROM rejected_notifications WHERE seq IN (
                    SELECT seq FROM rejected_notifications WHERE received_at < \(cutoff) ORDER BY seq LIMIT \(limit)
                ) RETURNING seq
                """
        }
        return try await query(sql).count
    }
}
