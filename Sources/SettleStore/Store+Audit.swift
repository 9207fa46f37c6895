import Foundation
import SettleCore

/// The result of checking the audit chain.
public enum AuditVerification: Sendable, Hashable {
    /// Every entry's hash is right and links to the one before, the head (and its anchor) agree, and every payment's
    /// status, amount and currency are what its audit entries say; `entries` were checked.
    case intact(entries: Int64)
    /// The first problem: an entry whose hash or link is wrong, a gap, a head or anchor that does not match, or a
    /// payment whose row disagrees with its trail (`sequence` is then its last audit entry).
    case broken(sequence: Int64, reason: String)
}

/// A chain head written down outside the database (`settle audit head`), to check a later trail against.
public struct AuditAnchor: Sendable, Hashable {
    public var sequence: Int64
    public var hash: String

    public init(sequence: Int64, hash: String) {
        self.sequence = sequence
        self.hash = hash
    }

    /// `<sequence> <hash>` lines; blank lines and `#` comments are skipped.
    public static func parse(_ text: String) -> [AuditAnchor]? {
        var anchors: [AuditAnchor] = []
        for line in text.split(whereSeparator: \.isNewline) {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            let parts = trimmed.split(separator: " ", omittingEmptySubsequences: true)
            guard parts.count >= 2, let sequence = ExternalInteger.unsigned(parts[0]), parts[1].utf8.count == 64 else { return nil }
            anchors.append(AuditAnchor(sequence: sequence, hash: String(parts[1])))
        }
        return anchors
    }

    public var line: String { "\(sequence) \(hash)" }
}

extension Store {
    /// The chain's head as it stands: to write down somewhere else and check against later.
    public func auditHead() async throws -> AuditAnchor {
        try await read { connection in
            guard let row = try await connection.query("SELECT seq, hash FROM audit_head WHERE id = 1").first else {
                throw StoreError(.migration, "The audit chain head is missing.")
            }
            return AuditAnchor(sequence: try row.int("seq"), hash: try row.string("hash"))
        }
    }

    /// Anchors the head under the store's audit key if it has no anchor yet (a key configured for the first time).
    /// Returns false when an anchor exists and does not match: the trail changed behind Settle's back, or the key did.
    public func anchorAuditHeadIfUnanchored() async throws -> Bool {
        guard let key = options.auditKey else { return true }
        return try await write { tx in
            guard let row = try await tx.query("SELECT seq, hash, mac FROM audit_head WHERE id = 1\(raw: tx.forUpdate)").first else {
                return true
            }
            let (sequence, hash) = (try row.int("seq"), try row.string("hash"))
            let expected = AuditChain.anchor(key: key, sequence: sequence, hash: hash)
            guard let mac = try row.optionalString("mac") else {
                try await tx.query("UPDATE audit_head SET mac = \(expected) WHERE id = 1")
                return true
            }
            return ConstantTime.equals(Array(mac.utf8), Array(expected.utf8))
        }
    }

    /// Walks the whole audit chain in order, recomputing every hash; checks the head, its anchor under `key` (when
    /// given) and every `anchors` entry written down earlier; then checks every payment against its trail. In pages.
    public func verifyAuditChain(key: Secret? = nil, anchors: [AuditAnchor] = [], pageSize: Int = 1000) async throws
        -> AuditVerification
    {
        var previousHash = AuditChain.genesis
        var expectedSequence: Int64 = 1
        var checked: Int64 = 0
        var pending = Dictionary(anchors.map { ($0.sequence, $0.hash) }, uniquingKeysWith: { first, _ in first })
        while true {
            let from = expectedSequence
            let rows = try await read { connection in
                try await connection.query("SELECT * FROM audit_log WHERE seq >= \(from) ORDER BY seq LIMIT \(pageSize)")
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
                if let anchored = pending.removeValue(forKey: sequence), anchored != recomputed {
                    return .broken(sequence: sequence, reason: "entry \(sequence) is not the one anchored earlier (the trail was rewritten)")
                }
                previousHash = recomputed
                expectedSequence += 1
                checked += 1
            }
        }
        if let missing = pending.keys.min() {
            return .broken(sequence: missing, reason: "entry \(missing) was anchored earlier and is gone (the trail was truncated)")
        }
        let head = try await read { connection in try await connection.query("SELECT seq, hash, mac FROM audit_head WHERE id = 1").first }
        if let head, try head.int("seq") != checked || (try head.string("hash")) != previousHash {
            return .broken(sequence: checked + 1, reason: "entries after \(checked) are missing (the head records \(try head.int("seq")))")
        }
        if let key, let head {
            let expected = AuditChain.anchor(key: key, sequence: checked, hash: previousHash)
            guard let mac = try head.optionalString("mac") else {
                return .broken(sequence: checked, reason: "the head is not anchored under the audit key")
            }
            if !ConstantTime.equals(Array(mac.utf8), Array(expected.utf8)) {
                return .broken(sequence: checked, reason: "the head's anchor does not match: the trail was truncated or rewritten (or the key changed)")
            }
        }
        if let mismatch = try await verifyPaymentsAgainstTrail(pageSize: pageSize) { return mismatch }
        return .intact(entries: checked)
    }

    /// Every payment's status, amount and currency must be what its audit entries last say: a row changed behind
    /// Settle's back (`UPDATE payments SET status = …`) is reported.
    func verifyPaymentsAgainstTrail(pageSize: Int) async throws -> AuditVerification? {
        var after: Int64 = 0
        while true {
            let cursor = after
            let payments = try await read { connection in
                try await connection.query(
                    "SELECT seq, id, status, amount, currency FROM payments WHERE seq > \(cursor) ORDER BY seq LIMIT \(pageSize)"
                )
            }
            guard let last = payments.last else { return nil }
            after = try last.int("seq")
            var ids: SQL = ""
            for (index, payment) in payments.enumerated() { ids = ids + (index == 0 ? "" : ",") + "\(try payment.string("id"))" }
            let idList = ids
            let entries = try await read { connection in
                try await connection.query(
                    "SELECT seq, target_id, action, after_state FROM audit_log WHERE target_type = 'payment' AND target_id IN (\(idList)) ORDER BY seq"
                )
            }
            var trail: [String: (status: String?, amount: Int64?, currency: String?, sequence: Int64)] = [:]
            for entry in entries {
                let id = try entry.string("target_id")
                guard case .object(let fields)? = try? JSONValue.parse(Array(try entry.string("after_state").utf8)) else { continue }
                var known = trail[id] ?? (nil, nil, nil, 0)
                known.sequence = try entry.int("seq")
                if let status = fields.first(where: { $0.0 == "status" })?.1.stringValue { known.status = status }
                if try entry.string("action") == AuditAction.paymentCreated.name {
                    known.amount = fields.first(where: { $0.0 == "amount" })?.1.intValue
                    known.currency = fields.first(where: { $0.0 == "currency" })?.1.stringValue
                }
                trail[id] = known
            }
            for payment in payments {
                let id = try payment.string("id")
                guard let known = trail[id] else {
                    return .broken(sequence: 0, reason: "payment \(id) has no audit entries")
                }
                let status = try payment.string("status")
                if known.status != status {
                    return .broken(
                        sequence: known.sequence,
                        reason: "payment \(id) is \(status) but its audit trail says \(known.status ?? "nothing") (changed behind Settle's back)"
                    )
                }
                let (amount, currency) = (try payment.int("amount"), try payment.string("currency"))
                if known.amount != amount || known.currency != currency {
                    return .broken(sequence: known.sequence, reason: "payment \(id)'s amount or currency differs from its audit trail")
                }
            }
        }
    }
}
