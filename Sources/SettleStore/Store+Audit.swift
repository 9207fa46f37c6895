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

    /// How the head stands against the store's audit key.
    public enum AnchorStatus: Sendable, Hashable {
        /// No audit key is configured.
        case noKey
        /// The head's anchor is the key's signature of it.
        case anchored
        /// The head has no anchor (a key configured for the first time): `settle audit anchor` verifies and signs it.
        case unanchored(sequence: Int64)
        /// The anchor does not sign this head: the trail changed behind Settle's back, was extended without the key,
        /// or the key changed.
        case mismatch
    }

    public func auditAnchorStatus() async throws -> AnchorStatus {
        guard let key = options.auditKey else { return .noKey }
        return try await read { connection in
            guard let row = try await connection.query("SELECT seq, hash, mac FROM audit_head WHERE id = 1").first else {
                throw StoreError(.migration, "The audit chain head is missing.")
            }
            let (sequence, hash) = (try row.int("seq"), try row.string("hash"))
            guard let mac = try row.optionalString("mac") else { return .unanchored(sequence: sequence) }
            let expected = AuditChain.anchor(key: key, sequence: sequence, hash: hash)
            return ConstantTime.equals(Array(mac.utf8), Array(expected.utf8)) ? .anchored : .mismatch
        }
    }

    /// Signs the empty chain's head under the key (a new database: there is nothing to vouch for yet).
    public func anchorEmptyChain() async throws {
        guard let key = options.auditKey else { return }
        try await write { tx in
            guard let row = try await tx.query("SELECT seq, hash, mac FROM audit_head WHERE id = 1\(raw: tx.forUpdate)").first,
                try row.int("seq") == 0, try row.optionalString("mac") == nil
            else { return }
            let mac = AuditChain.anchor(key: key, sequence: 0, hash: try row.string("hash"))
            try await tx.query("UPDATE audit_head SET mac = \(mac) WHERE id = 1 AND seq = 0")
        }
    }

    /// Verifies the chain (hashes, links, head, `anchors`, payments) without the key, then signs the verified head
    /// under the store's key: what an operator runs after configuring a key, rotating it, or writing without it.
    /// Returns the verification; the head is signed only if it is intact and has not moved since.
    public func anchorAuditHead(anchors: [AuditAnchor] = []) async throws -> AuditVerification {
        guard let key = options.auditKey else {
            throw StoreError(.configuration, "No audit key is configured (SETTLE_AUDIT_KEY): there is nothing to anchor with.")
        }
        let head = try await auditHead()
        let verification = try await verifyAuditChain(anchors: anchors, upTo: head)
        guard case .intact = verification else { return verification }
        let signed = try await write { tx in
            let mac = AuditChain.anchor(key: key, sequence: head.sequence, hash: head.hash)
            return try await tx.query(
                "UPDATE audit_head SET mac = \(mac) WHERE id = 1 AND seq = \(head.sequence) AND hash = \(head.hash) RETURNING seq"
            ).count == 1
        }
        guard signed else {
            throw StoreError(.conflict, "The audit chain moved while it was verified (Settle is running and writing): run it again.")
        }
        return verification
    }

    /// Walks the whole audit chain in order, recomputing every hash; checks the head, its anchor under `key` (when
    /// given) and every `anchors` entry written down earlier; then checks every payment against its trail. In pages.
    public func verifyAuditChain(key: Secret? = nil, anchors: [AuditAnchor] = [], pageSize: Int = 1000) async throws
        -> AuditVerification
    {
        let head = try await read { connection in try await connection.query("SELECT seq, hash, mac FROM audit_head WHERE id = 1").first }
        guard let head else { return .broken(sequence: 0, reason: "the chain's head is missing") }
        let anchor = AuditAnchor(sequence: try head.int("seq"), hash: try head.string("hash"))
        let verification = try await verifyAuditChain(anchors: anchors, upTo: anchor, pageSize: pageSize)
        guard case .intact = verification else { return verification }
        if let key {
            let expected = AuditChain.anchor(key: key, sequence: anchor.sequence, hash: anchor.hash)
            guard let mac = try head.optionalString("mac") else {
                return .broken(sequence: anchor.sequence, reason: "the head is not anchored under the audit key (run settle audit anchor)")
            }
            if !ConstantTime.equals(Array(mac.utf8), Array(expected.utf8)) {
                return .broken(
                    sequence: anchor.sequence,
                    reason: "the head's anchor does not match: the trail was truncated or rewritten, extended without the key, or the key changed"
                )
            }
        }
        return verification
    }

    /// The chain from its first entry to `head` (read before the walk, so entries committed meanwhile are not
    /// mistaken for a mismatch), `anchors`, then the payments.
    func verifyAuditChain(anchors: [AuditAnchor], upTo head: AuditAnchor, pageSize: Int = 1000) async throws -> AuditVerification {
        var previousHash = AuditChain.genesis
        var expectedSequence: Int64 = 1
        var checked: Int64 = 0
        var pending = Dictionary(anchors.map { ($0.sequence, $0.hash) }, uniquingKeysWith: { first, _ in first })
        while true {
            let from = expectedSequence
            let last = head.sequence
            let rows = try await read { connection in
                try await connection.query(
                    "SELECT * FROM audit_log WHERE seq >= \(from) AND seq <= \(last) ORDER BY seq LIMIT \(pageSize)"
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
        if head.sequence != checked || head.hash != previousHash {
            return .broken(sequence: checked + 1, reason: "entries after \(checked) are missing (the head records \(head.sequence))")
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
