import Foundation
import NIOHTTP1
import Settle
import SettleCore
import SettleServer
import SettleStore
import Testing

/// The audit trail detects what was done behind Settle's back: a payment row changed without its entries, and a
/// trail truncated or rewritten (hashes recomputed) once its head is anchored under a key or written down.
@Suite(.serialized) struct AuditAnchorTests {
    static let key = Secret("audit-key-\(Identifier.randomToken(length: 32))")

    func broken(_ result: AuditVerification, _ fragment: String, sourceLocation: SourceLocation = #_sourceLocation) {
        guard case .broken(_, let reason) = result else {
            Issue.record("the trail verified intact", sourceLocation: sourceLocation)
            return
        }
        #expect(reason.contains(fragment), "\(reason)", sourceLocation: sourceLocation)
    }

    @Test(arguments: Engine.enabled)
    func aPaymentChangedBehindSettlesBackIsReported(_ engine: Engine) async throws {
        try await withSettle(databaseURL: try await engine.makeDatabaseURL()) { settle in
            let id = try await settle.createPayment()
            let other = try await settle.createPayment()
            // The first key's entry, then each payment's creation and its provider's side.
            #expect(try await settle.store.verifyAuditChain() == .intact(entries: 5))
            try await settle.store.write { tx in _ = try await tx.query("UPDATE payments SET status = 'succeeded' WHERE id = \(id)") }
            broken(try await settle.store.verifyAuditChain(), "payment \(id) is succeeded but its audit trail says requires_action")
            try await settle.store.write { tx in
                try await tx.query("UPDATE payments SET status = 'requires_action' WHERE id = \(id)")
                try await tx.query("UPDATE payments SET amount = 1 WHERE id = \(other)")
            }
            broken(try await settle.store.verifyAuditChain(), "payment \(other)'s amount or currency differs")
        }
    }

    /// Entries cut off the end, or the whole trail rewritten with fresh hashes: invisible to the hashes alone, found
    /// by the head's anchor under the key, and by an anchor written down before.
    @Test(arguments: Engine.enabled)
    func truncationAndRewritingAreFoundByTheAnchors(_ engine: Engine) async throws {
        try await withSettle(databaseURL: try await engine.makeDatabaseURL(), configure: { $0.auditKey = Self.key }) { settle in
            _ = try await settle.createPayment()
            for index in 0..<3 {
                let created = try await settle.request(
                    .POST, "/v1/webhook_endpoints", json: #"{"url":"http://127.0.0.1:9/h\#(index)","enabled_events":["*"]}"#
                )
                #expect(created.status == 201)
            }
            let store = settle.store
            let written = try await store.auditHead()
            #expect(written.sequence == 6)
            #expect(try await store.verifyAuditChain(key: Self.key, anchors: [written]) == .intact(entries: 6))

            // Truncate the last two entries (endpoint creations) and move the head back, as someone with SQL would.
            try await store.write { tx in
                try await tx.query("DELETE FROM audit_log WHERE seq > 4")
                let row = try await tx.query("SELECT hash FROM audit_log WHERE seq = 4").first!
                try await tx.query("UPDATE audit_head SET seq = 4, hash = \(try row.string("hash")) WHERE id = 1")
            }
            #expect(try await store.verifyAuditChain() == .intact(entries: 4))  // the hashes alone cannot tell
            broken(try await store.verifyAuditChain(key: Self.key), "anchor does not match")
            broken(try await store.verifyAuditChain(anchors: [written]), "entry 6 was anchored earlier and is gone")
        }
    }

    @Test(arguments: Engine.enabled)
    func aRewrittenEntryWithRecomputedHashesIsFound(_ engine: Engine) async throws {
        try await withSettle(databaseURL: try await engine.makeDatabaseURL(), configure: { $0.auditKey = Self.key }) { settle in
            let id = try await settle.createPayment()
            let store = settle.store
            let written = try await store.auditHead()
            // Rewrite entry 1's actor and recompute every hash after it, head included: a consistent chain.
            try await store.write { tx in
                var previous = AuditChain.genesis
                for row in try await tx.query("SELECT * FROM audit_log ORDER BY seq") {
                    let sequence = try row.int("seq")
                    let actor = sequence == 1 ? "someone_else" : try row.string("actor_id")
                    let hash = AuditChain.hash(
                        previousHash: previous, sequence: sequence, actorKind: try row.string("actor_kind"), actorID: actor,
                        action: try row.string("action"), targetType: try row.string("target_type"), targetID: try row.string("target_id"),
                        before: try row.string("before_state"), after: try row.string("after_state"),
                        requestID: try row.optionalString("request_id"), atMilliseconds: try row.int("at")
                    )
                    try await tx.query("UPDATE audit_log SET actor_id = \(actor), prev_hash = \(previous), hash = \(hash) WHERE seq = \(sequence)")
                    previous = hash
                }
                try await tx.query("UPDATE audit_head SET hash = \(previous) WHERE id = 1")
            }
            #expect(try await store.verifyAuditChain() == .intact(entries: written.sequence))
            broken(try await store.verifyAuditChain(key: Self.key), "anchor does not match")
            broken(try await store.verifyAuditChain(anchors: [written]), "not the one anchored earlier")
            #expect(try await settle.paymentStatus(id) == "requires_action")
        }
    }

    /// A key configured on a database that had entries signs nothing by itself: verify says the head is unanchored
    /// until `settle audit anchor` verifies the trail and signs it; then every commit keeps it current. A wrong key
    /// does not verify.
    @Test func aFirstKeyIsAppliedByAnchoringAfterVerifying() async throws {
        let url = try await Engine.sqlite.makeDatabaseURL()
        try await withSettle(databaseURL: url) { settle in _ = try await settle.createPayment() }
        try await withSettle(databaseURL: url, configure: { $0.auditKey = Self.key }) { settle in
            let store = settle.store
            let entries = try await store.auditHead().sequence
            #expect(try await store.auditAnchorStatus() == .unanchored(sequence: entries))
            broken(try await store.verifyAuditChain(key: Self.key), "not anchored under the audit key")
            _ = try await settle.createPayment()  // a commit does not sign a head it cannot vouch for
            broken(try await store.verifyAuditChain(key: Self.key), "not anchored under the audit key")

            #expect(try await store.anchorAuditHead() == .intact(entries: entries + 2))
            #expect(try await store.auditAnchorStatus() == .anchored)
            #expect(try await store.verifyAuditChain(key: Self.key) == .intact(entries: entries + 2))
            broken(try await store.verifyAuditChain(key: Secret("another-key-entirely-of-some-length")), "anchor does not match")
            _ = try await settle.createPayment()  // every commit keeps the anchor current
            #expect(try await store.verifyAuditChain(key: Self.key) == .intact(entries: entries + 4))
        }
        // Written without the key: the anchor is left as it was (stale), never erased, and verify says so.
        try await withSettle(databaseURL: url) { settle in _ = try await settle.createPayment() }
        try await withSettle(databaseURL: url, configure: { $0.auditKey = Self.key }) { settle in
            #expect(try await settle.store.auditAnchorStatus() == .mismatch)
            broken(try await settle.store.verifyAuditChain(key: Self.key), "extended without the key")
        }
    }

    /// A head moved back behind Settle's back is not laundered by the next commit: the commit extends the chain but
    /// does not re-sign it, so verify with the key still reports it, and `anchor` refuses a trail that does not
    /// verify (here: an anchor written down earlier is gone).
    @Test(arguments: Engine.enabled)
    func aMovedHeadIsNeverReSigned(_ engine: Engine) async throws {
        try await withSettle(databaseURL: try await engine.makeDatabaseURL(), configure: { $0.auditKey = Self.key }) { settle in
            _ = try await settle.createPayment()
            let store = settle.store
            #expect(try await store.auditAnchorStatus() == .anchored)
            let written = try await store.auditHead()
            try await store.write { tx in
                try await tx.query("DELETE FROM audit_log WHERE seq > 2")
                let row = try #require(try await tx.query("SELECT hash FROM audit_log WHERE seq = 2").first)
                try await tx.query("UPDATE audit_head SET seq = 2, hash = \(try row.string("hash")) WHERE id = 1")
            }
            let created = try await settle.request(
                .POST, "/v1/webhook_endpoints", json: #"{"url":"http://127.0.0.1:9/h","enabled_events":["*"]}"#
            )
            #expect(created.status == 201)
            #expect(try await store.auditHead().sequence == 3)
            #expect(try await store.auditAnchorStatus() == .mismatch)
            broken(try await store.verifyAuditChain(key: Self.key), "anchor does not match")
            broken(try await store.anchorAuditHead(anchors: [written]), "anchored earlier")
            #expect(try await store.auditAnchorStatus() == .mismatch)
        }
    }

    @Test func anchorLinesParse() {
        let hash = String(repeating: "a", count: 64)
        #expect(AuditAnchor.parse("# 2026-12-01T10:00:00Z\n12 \(hash)\n\n") == [AuditAnchor(sequence: 12, hash: hash)])
        #expect(AuditAnchor.parse("twelve \(hash)") == nil)
        #expect(AuditAnchor.parse("12 abc") == nil)
    }
}
