import Foundation
import SettleCore
import SettleServer
import SettleStore
import Testing

/// One store suite, run against every engine.
@Suite(.serialized) struct StoreTests {
    func withStore(_ engine: Engine, _ body: @Sendable (Store) async throws -> Void) async throws {
        let url = try await engine.makeDatabaseURL()
        try await Store.withStore(try DatabaseLocation(url: url), logger: Engine.logger) { store in
            #expect(try await store.migrate() == ["1 initial", "2 webhooks", "3 provider_transactions", "4 payment_methods", "5 retention_and_anchors", "6 lease_tokens", "7 open_payment_polling", "8 vouchers", "9 settlements", "10 refund_states", "11 reconciliations", "12 refund_polling", "13 wallets"])
            #expect(try await store.migrate() == [])  // idempotent
            try await body(store)
        }
    }

    static func payment(provider: String = "sandbox", providerPaymentID: String? = nil) -> Payment {
        Payment(
            id: Identifier.make("pay"), mode: .test, status: .requiresAction, amount: Money(minorUnits: 1000, currency: .thb),
            provider: provider, reference: "r", metadata: ["plan": "pro"], providerPaymentID: providerPaymentID,
            createdAt: Date(), updatedAt: Date()
        )
    }

    /// The entry Settle writes with a new payment (the payment as the API shows it).
    static func audit(_ payment: Payment) -> AuditRecord {
        AuditRecord(
            actorKind: .system, actorID: "test", action: .paymentCreated, targetType: .payment, targetID: payment.id,
            after: payment.apiObject, at: Date()
        )
    }

    struct Refusal: Error {}

    /// The pool's gauges count each lease while it is held, and the callers waiting when every connection is taken.
    @Test(arguments: Engine.enabled)
    func poolUsageCountsLeasesAndWaiters(_ engine: Engine) async throws {
        try await withStore(engine) { store in
            let idle = store.poolUsage
            #expect(idle.inUse == 0 && idle.waiting == 0 && idle.commitQueue == 0)
            #expect(idle.capacity == (engine == .sqlite ? 5 : 40))
            let inside = try await store.read { _ in store.poolUsage }
            #expect(inside.inUse == 1)
            let nested = try await store.read { _ in try await store.read { _ in store.poolUsage } }
            #expect(nested.inUse == 2)
            #expect(store.poolUsage.inUse == 0)
            guard engine == .postgres else { return }
            // More callers than connections, each holding its lease: every one is counted, in use or waiting (the pool
            // opens connections at its own pace, so how many it has opened is not asserted).
            let released = Flag()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0...idle.capacity {
                    group.addTask { _ = try? await store.read { _ in while !released.isSet { try await Task.sleep(for: .milliseconds(5)) } } }
                }
                try await Self.eventually {
                    let usage = store.poolUsage
                    return usage.inUse + usage.waiting == idle.capacity + 1 && usage.waiting >= 1 && usage.inUse >= 1
                }
                released.set()
                try await group.waitForAll()
            }
            let after = store.poolUsage
            #expect(after.inUse == 0 && after.waiting == 0)
        }
    }

    static func eventually(_ condition: @Sendable () -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while !condition() {
            guard ContinuousClock.now < deadline else {
                Issue.record("The condition never held.")
                throw Refusal()
            }
            try await Task.sleep(for: .milliseconds(10))
        }
    }


    @Test(arguments: Engine.enabled)
    func concurrentWritersShareBatchesAndKeepTheChainWhole(_ engine: Engine) async throws {
        try await withStore(engine) { store in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<200 {
                    group.addTask {
                        let payment = Self.payment()
                        do {
                            try await store.write { tx in
                                try await tx.insertPayment(payment)
                                try await tx.appendAudit(Self.audit(payment))
                                if index % 10 == 0 { throw Refusal() }  // rolled back alone
                            }
                        } catch is Refusal {}
                    }
                }
                try await group.waitForAll()
            }
            let counts = try await store.counts()
            #expect(counts.payments == 180)
            #expect(counts.auditEntries == 180)
            #expect(try await store.verifyAuditChain() == .intact(entries: 180))
        }
    }

    @Test(arguments: Engine.enabled)
    func paymentsRoundTripAndConstraintsHold(_ engine: Engine) async throws {
        try await withStore(engine) { store in
            let payment = Self.payment(providerPaymentID: "cs_1")
            try await store.write { tx in try await tx.insertPayment(payment) }
            let read = try #require(try await store.payment(id: payment.id, mode: .test))
            #expect(read.amount == payment.amount)
            #expect(read.metadata == ["plan": "pro"])
            #expect(try await store.payment(id: payment.id, mode: .live) == nil)
            // (provider, provider payment id) is unique.
            await #expect(throws: StoreError.self) {
                try await store.write { tx in try await tx.insertPayment(Self.payment(providerPaymentID: "cs_1")) }
            }
            // Amounts are positive, enforced by the database as well.
            let negative = Payment(id: Identifier.make("pay"), mode: .test, status: .requiresAction, amount: Money(minorUnits: -1, currency: .thb),
                provider: "sandbox", reference: "r", createdAt: Date(), updatedAt: Date())
            await #expect(throws: StoreError.self) { try await store.write { tx in try await tx.insertPayment(negative) } }
            // Compare-and-set: a stale `from` changes nothing.
            let moved = try await store.write { tx in
                try await tx.updatePaymentStatus(id: payment.id, from: .processing, to: .succeeded, failure: nil, at: Date())
            }
            #expect(!moved)
            #expect(try await store.payment(id: payment.id, mode: .test)?.status == .requiresAction)
        }
    }

    @Test(arguments: Engine.enabled)
    func notificationsAreUniquePerProviderEvent(_ engine: Engine) async throws {
        try await withStore(engine) { store in
            let first = StoredNotification(provider: "sandbox", providerEventID: "evt_1", eventType: "t",
                headers: ["authorization": "Basic c2VjcmV0", "webhook-id": "m"], body: [1, 2, 3], receivedAt: Date())
            #expect(first.headers["authorization"] == nil)  // credentials are never stored
            let inserted = try await store.write { tx in try await tx.insertNotification(first) }
            #expect(inserted)
            let again = StoredNotification(provider: "sandbox", providerEventID: "evt_1", eventType: "t", headers: [:], body: [], receivedAt: Date())
            let duplicate = try await store.write { tx in try await tx.insertNotification(again) }
            #expect(duplicate == false)
            let other = StoredNotification(provider: "stripe", providerEventID: "evt_1", eventType: "t", headers: [:], body: [], receivedAt: Date())
            let otherProvider = try await store.write { tx in try await tx.insertNotification(other) }
            #expect(otherProvider)
            #expect(try await store.counts().notifications == 2)
        }
    }

    @Test(arguments: Engine.enabled)
    func idempotencyKeysExpireAndRecoverFromAbandonedRequests(_ engine: Engine) async throws {
        try await withStore(engine) { store in
            let scope = IdempotencyScope(apiKeyID: "key_1", key: "k", requestHash: "h1")
            let t0 = Date(timeIntervalSince1970: 1_800_000_000)
            do {
                let claim = try await store.write { tx in try await tx.claimIdempotencyKey(scope, at: t0) }
                #expect(claim == .proceed)
            }
            do {
                let claim = try await store.write { tx in try await tx.claimIdempotencyKey(scope, at: t0.addingTimeInterval(1)) }
                #expect(claim == .inProgress)
            }
            // The first request died: after two minutes its key may be taken over, but only by the same request.
            let changed = IdempotencyScope(apiKeyID: "key_1", key: "k", requestHash: "h1-changed")
            do {
                let claim = try await store.write { tx in try await tx.claimIdempotencyKey(changed, at: t0.addingTimeInterval(121)) }
                #expect(claim == .mismatch)
            }
            do {
                let claim = try await store.write { tx in try await tx.claimIdempotencyKey(scope, at: t0.addingTimeInterval(121)) }
                #expect(claim == .proceed)
            }
            try await store.write { tx in try await tx.completeIdempotencyKey(scope, status: 201, body: Array("{}".utf8)) }
            do {
                let claim = try await store.write { tx in try await tx.claimIdempotencyKey(scope, at: t0.addingTimeInterval(200)) }
                #expect(claim == .replay(status: 201, body: Array("{}".utf8)))
            }
            let other = IdempotencyScope(apiKeyID: "key_1", key: "k", requestHash: "h2")
            do {
                let claim = try await store.write { tx in try await tx.claimIdempotencyKey(other, at: t0.addingTimeInterval(200)) }
                #expect(claim == .mismatch)
            }
            // After 24 hours the key is free again, for any request.
            do {
                let claim = try await store.write { tx in try await tx.claimIdempotencyKey(other, at: t0.addingTimeInterval(86_500)) }
                #expect(claim == .proceed)
            }
            // Keys are scoped to the API key.
            let otherKey = IdempotencyScope(apiKeyID: "key_2", key: "k", requestHash: "h9")
            do {
                let claim = try await store.write { tx in try await tx.claimIdempotencyKey(otherKey, at: t0) }
                #expect(claim == .proceed)
            }
        }
    }
}
