import Foundation
import SettleServer
import Settle
import SettleCore
import SettleProviders
import SettleStore
import Testing

/// 50 concurrent deliveries of the same success notification: one status change, one event, one audit entry.
@Suite(.serialized) struct ExactlyOnceTests {
    @Test func fiftyConcurrentDuplicatesOnSQLite() async throws {
        try await withSettle(databaseURL: try await Engine.sqlite.makeDatabaseURL()) { settle in
            let id = try await settle.createPayment()
            try await deliverConcurrently(to: [settle], paymentID: id)
            try await expectFinalizedOnce(settle.store, paymentID: id)
        }
    }

    @Test(.enabled(if: Engine.enabled.contains(.postgres)))
    func fiftyConcurrentDuplicatesAcrossTwoInstancesOnPostgres() async throws {
        let url = try await Engine.postgres.makeDatabaseURL()
        try await withSettle(databaseURL: url) { first in
            // The second instance shares the database and the sandbox secret stored by the first.
            try await withSettle(databaseURL: url) { second in
                #expect(first.settle.sandboxSecret == second.settle.sandboxSecret)
                for _ in 0..<3 {
                    let id = try await first.createPayment()
                    try await deliverConcurrently(to: [first, second], paymentID: id)
                    try await expectFinalizedOnce(first.store, paymentID: id)
                }
            }
        }
    }

    func deliverConcurrently(to instances: [RunningSettle], paymentID: String) async throws {
        let message = instances[0].notifier.message(for: .approve, paymentID: paymentID, amount: Money(minorUnits: 150_000, currency: .cop))
        let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
            for index in 0..<50 {
                let target = instances[index % instances.count]
                group.addTask { try await target.notifier.send(message) }
            }
            return try await group.reduce(into: [Int]()) { $0.append($1) }
        }
        #expect(statuses == Array(repeating: 200, count: 50))
    }

    func expectFinalizedOnce(_ store: Store, paymentID: String) async throws {
        #expect(try await store.eventCount(paymentID: paymentID, type: "payment.succeeded") == 1)
        #expect(try await store.auditCount(targetID: paymentID, action: "payment.succeeded") == 1)
        let counts = try await store.counts(paymentID: paymentID)
        #expect(counts.notifications == 1)
        #expect(try await store.payment(id: paymentID, mode: .test)?.status == .succeeded)
        if case .broken(let sequence, let reason) = try await store.verifyAuditChain() {
            Issue.record("audit chain broken at \(sequence): \(reason)")
        }
    }
}

/// The audit chain detects tampering and names the first broken entry, on every engine.
@Suite(.serialized) struct AuditTrailTests {
    @Test(arguments: Engine.enabled)
    func tamperingIsDetected(_ engine: Engine) async throws {
        try await withSettle(databaseURL: try await engine.makeDatabaseURL()) { settle in
            for _ in 0..<3 { _ = try await settle.createPayment() }
            guard case .intact(let entries) = try await settle.store.verifyAuditChain() else {
                Issue.record("fresh chain not intact")
                return
            }
            #expect(entries == 7)  // the first key (bootstrap) + 3 × (payment.created, payment.provider_created)
            try await settle.store.write { tx in
                _ = try await tx.query("UPDATE audit_log SET actor_id = 'someone-else' WHERE seq = 4")
            }
            #expect(try await settle.store.verifyAuditChain() == .broken(sequence: 4, reason: "content does not match its hash"))
        }
    }
}
