import Foundation
import SettleCore
import Synchronization

/// The write transaction a group-commit job runs in. It appends to the audit chain: the chain's head is read
/// (and on PostgreSQL locked) once per batch, advanced in memory, and written back before the commit.
public final class StoreTransaction: Sendable {
    struct Head: Sendable, Hashable {
        var sequence: Int64
        var hash: String
    }

    let connection: any SQLConnection
    private let head: Mutex<Head>
    private let startHead: Head

    private init(connection: any SQLConnection, head: Head) {
        self.connection = connection
        self.head = Mutex(head)
        self.startHead = head
    }

    static func begin(on connection: any SQLConnection) async throws -> StoreTransaction {
        let lock = connection.dialect == .postgres ? " FOR UPDATE" : ""
        let rows = try await connection.query("SELECT seq, hash FROM audit_head WHERE id = 1\(raw: lock)")
        guard let row = rows.first else { throw StoreError(.migration, "The audit chain head is missing.") }
        return StoreTransaction(connection: connection, head: Head(sequence: try row.int("seq"), hash: try row.string("hash")))
    }

    public var dialect: SQLDialect { connection.dialect }

    @discardableResult
    public func query(_ sql: SQL) async throws -> [SQLRow] {
        try await connection.query(sql)
    }

    /// ` FOR UPDATE` on PostgreSQL; nothing on SQLite, where the transaction already holds the write lock.
    public var forUpdate: String { dialect == .postgres ? " FOR UPDATE" : "" }

    func mark() -> Head { head.withLock { $0 } }

    func rewind(to mark: Head) { head.withLock { $0 = mark } }

    /// Appends one entry to the audit chain.
    public func appendAudit(_ record: AuditRecord) async throws {
        let before = record.before.serialized()
        let after = record.after.serialized()
        let at = UnixTime.milliseconds(record.at)
        let (sequence, previous, hash) = head.withLock { head -> (Int64, String, String) in
            let sequence = head.sequence + 1
            let hash = AuditChain.hash(
                previousHash: head.hash, sequence: sequence, actorKind: record.actorKind.rawValue, actorID: record.actorID,
                action: record.action, targetType: record.targetType, targetID: record.targetID, before: before,
                after: after, requestID: record.requestID, atMilliseconds: at
            )
            let previous = head.hash
            head = Head(sequence: sequence, hash: hash)
            return (sequence, previous, hash)
        }
        try await query(
            """
            INSERT INTO audit_log (seq, actor_kind, actor_id, action, target_type, target_id, before_state, after_state,
                request_id, at, prev_hash, hash)
            VALUES (\(sequence), \(record.actorKind.rawValue), \(record.actorID), \(record.action), \(record.targetType),
                \(record.targetID), \(before), \(after), \(record.requestID), \(at), \(previous), \(hash))
            """
        )
    }

    func finish() async throws {
        let final = head.withLock { $0 }
        guard final != startHead else { return }
        try await query("UPDATE audit_head SET seq = \(final.sequence), hash = \(final.hash) WHERE id = 1")
    }
}
