import Foundation
import SettleCore
import Synchronization

/// The write transaction a group-commit job runs in.
///
/// Audit entries are buffered and chained at the end of the transaction: the chain's head is read (and on
/// PostgreSQL locked) only then, the entries are hashed in order and inserted in one statement, and the head is
/// advanced. Concurrent transactions therefore do their work in parallel and queue only for that short tail.
public final class StoreTransaction: Sendable {
    struct Head: Sendable, Hashable {
        var sequence: Int64
        var hash: String
    }

    let connection: any SQLConnection
    let auditKey: Secret?
    private let pendingAudit = Mutex<[AuditRecord]>([])

    init(connection: any SQLConnection, auditKey: Secret? = nil) {
        self.connection = connection
        self.auditKey = auditKey
    }

    public var dialect: SQLDialect { connection.dialect }

    @discardableResult
    public func query(_ sql: SQL) async throws -> [SQLRow] {
        try await connection.query(sql)
    }

    /// ` FOR UPDATE` on PostgreSQL; nothing on SQLite, where the transaction already holds the write lock.
    public var forUpdate: String { dialect == .postgres ? " FOR UPDATE" : "" }

    /// How many audit entries are pending (a savepoint's mark).
    func mark() -> Int { pendingAudit.withLock { $0.count } }

    /// Drops audit entries appended after `mark` (their job was rolled back to its savepoint).
    func rewind(to mark: Int) { pendingAudit.withLock { $0.removeSubrange(mark...) } }

    /// Appends one entry to the audit chain; it is written, chained, when the transaction commits.
    public func appendAudit(_ record: AuditRecord) async throws {
        pendingAudit.withLock { $0.append(record) }
    }

    /// Chains and writes the pending audit entries. Called once, right before COMMIT.
    func finish() async throws {
        let records = pendingAudit.withLock { $0 }
        guard !records.isEmpty else { return }
        guard let row = try await query("SELECT seq, hash, mac FROM audit_head WHERE id = 1\(raw: forUpdate)").first else {
            throw StoreError(.migration, "The audit chain head is missing.")
        }
        var head = Head(sequence: try row.int("seq"), hash: try row.string("hash"))
        // The head is re-signed only if its signature vouches for it now (or it is the empty chain): a head moved
        // behind Settle's back, or extended while no key was set, keeps its stale anchor, so verify still reports it.
        let signs: Bool
        if let key = auditKey {
            if let mac = try row.optionalString("mac") {
                let current = AuditChain.anchor(key: key, sequence: head.sequence, hash: head.hash)
                signs = ConstantTime.equals(Array(mac.utf8), Array(current.utf8))
            } else {
                signs = head.sequence == 0
            }
        } else {
            signs = false
        }
        var values: [SQL] = []
        values.reserveCapacity(records.count)
        for record in records {
            let before = record.before.serialized()
            let after = record.after.serialized()
            let at = UnixTime.milliseconds(record.at)
            let sequence = head.sequence + 1
            let hash = AuditChain.hash(
                previousHash: head.hash, sequence: sequence, actorKind: record.actorKind.rawValue, actorID: record.actorID,
                action: record.action.name, targetType: record.targetType.rawValue, targetID: record.targetID, before: before,
                after: after, requestID: record.requestID, atMilliseconds: at
            )
            values.append(
                """
                (\(sequence), \(record.actorKind.rawValue), \(record.actorID), \(record.action.name), \(record.targetType.rawValue),
                \(record.targetID), \(before), \(after), \(record.requestID), \(at), \(head.hash), \(hash))
                """
            )
            head = Head(sequence: sequence, hash: hash)
        }
        for chunk in stride(from: 0, to: values.count, by: 400).map({ values[$0..<min($0 + 400, values.count)] }) {
            var sql: SQL = """
                INSERT INTO audit_log (seq, actor_kind, actor_id, action, target_type, target_id, before_state,
                    after_state, request_id, at, prev_hash, hash) VALUES
                """
            for (index, value) in chunk.enumerated() { sql = sql + (index == 0 ? "" : ",") + value }
            try await query(sql)
        }
        if signs, let key = auditKey {
            let anchor = AuditChain.anchor(key: key, sequence: head.sequence, hash: head.hash)
            try await query("UPDATE audit_head SET seq = \(head.sequence), hash = \(head.hash), mac = \(anchor) WHERE id = 1")
        } else {
            try await query("UPDATE audit_head SET seq = \(head.sequence), hash = \(head.hash) WHERE id = 1")
        }
    }
}
