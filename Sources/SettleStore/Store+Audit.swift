import Foundation
import SettleCore

/// The result of checking the audit chain.
public enum AuditVerification: Sendable, Hashable {
    /// Every entry's hash is right and links to the one before; `entries` were checked.
    case intact(entries: Int64)
    /// The first entry whose hash or link is wrong (or a gap in the sequence).
    case broken(sequence: Int64, reason: String)
}

extension Store {
    /// Walks the whole audit chain in order, recomputing every hash, in pages.
    public func verifyAuditChain(pageSize: Int = 1000) async throws -> AuditVerification {
        var previousHash = AuditChain.genesis
        var expectedSequence: Int64 = 1
        var checked: Int64 = 0
        while true {
            let from = expectedSequence
            let rows = try await read { connection in
                try await connection.query(
                    "SELECT * FROM audit_log WHERE seq >= \(from) ORDER BY seq LIMIT \(pageSize)"
                )
            }
            if rows.isEmpty { break }
            for row in rows {
                let sequence = try row.int("seq")
                if sequence != expectedSequence {
                    return .broken(sequence: expectedSequence, reason: "entry \(expectedSequence) is missing")
                }
                let storedPrevious = try row.string("prev_hash")
                if storedPrevious != previousHash {
                    return .broken(sequence: sequence, reason: "previous hash does not match entry \(sequence - 1)")
                }
                let recomputed = AuditChain.hash(
                    previousHash: previousHash, sequence: sequence, actorKind: try row.string("actor_kind"),
                    actorID: try row.string("actor_id"), action: try row.string("action"),
                    targetType: try row.string("target_type"), targetID: try row.string("target_id"),
                    before: try row.string("before_state"), after: try row.string("after_state"),
                    requestID: try row.optionalString("request_id"), atMilliseconds: try row.int("at")
                )
                if recomputed != (try row.string("hash")) {
                    return .broken(sequence: sequence, reason: "content does not match its hash")
                }
                previousHash = recomputed
                expectedSequence += 1
                checked += 1
            }
        }
        let head = try await read { connection in try await connection.query("SELECT seq, hash FROM audit_head WHERE id = 1").first }
        if let head, try head.int("seq") != checked || (try head.string("hash")) != previousHash {
            return .broken(sequence: checked + 1, reason: "entries after \(checked) are missing (the head records \(try head.int("seq")))")
        }
        return .intact(entries: checked)
    }
}
