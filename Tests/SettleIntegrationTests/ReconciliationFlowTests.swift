import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
@testable import Settle
import SettleCore
import SettleProviders
import SettleServer
import SettleStore
import Testing

/// Reconciliation over loopback on every engine: 10,000 sandbox payments with divergences of every class seeded through
/// the sandbox's `provider_state` (Settle is not told), found exactly; `apply` healing only what it may; scheduled runs
/// made once by two instances sharing the database; leases; refusals.
@Suite(.serialized) struct ReconciliationFlowTests {
    /// Inserts `count` sandbox payments created `base` + i ms: every fourth open, every tenth expired, every tenth failed,
    /// the rest succeeded; the first ten succeeded ones get a refund of 1,000 the sandbox made. Returns the ids by status.
    func seed(_ store: Store, count: Int, base: Date) async throws -> [PaymentStatus: [String]] {
        var byStatus: [PaymentStatus: [String]] = [:]
        var payments: [Payment] = []
        for index in 0..<count {
            let status: PaymentStatus = index % 4 == 1 ? .requiresAction : index % 10 == 3 ? .expired : index % 10 == 7 ? .failed : .succeeded
            let id = "pay_rec\(String(format: "%06d", index))\(Identifier.randomToken(length: 6))"
            let created = base.addingTimeInterval(Double(index) / 1000)
            payments.append(
                Payment(
                    id: id, mode: .test, status: status, amount: Money(minorUnits: 10_000 + Int64(index), currency: .cop), provider: "sandbox",
                    reference: "order-\(index)", providerPaymentID: SandboxProvider.providerID(for: id), createdAt: created, updatedAt: created
                )
            )
            byStatus[status, default: []].append(id)
        }
        let refunded = Array(byStatus[.succeeded]!.prefix(10))
        for chunk in stride(from: 0, to: payments.count, by: 1000).map({ Array(payments[$0..<min($0 + 1000, payments.count)]) }) {
            try await store.write { tx in
                for payment in chunk {
                    try await tx.insertPayment(payment)
                    if refunded.contains(payment.id) {
                        try await tx.insertRefund(
                            Refund(
                                id: Identifier.make("re"), mode: .test, paymentID: payment.id, amount: Money(minorUnits: 1000, currency: .cop),
                                status: .succeeded, reason: "requested_by_customer", providerRefundID: "sb_rf\(payment.id.suffix(8))",
                                createdAt: payment.createdAt, updatedAt: payment.createdAt
                            )
                        )
                        try await tx.addRefunded(paymentID: payment.id, amount: 1000, at: payment.createdAt)
                    }
                }
            }
        }
        return byStatus
    }

    func providerState(_ settle: RunningSettle, _ id: String, _ body: String) async throws {
        let result = try await settle.request(.POST, "/sandbox/payments/\(id)/provider_state", json: body)
        #expect(result.status == 200, "\(result.text)")
    }

    func reconcile(_ settle: RunningSettle, from: Date, to: Date, apply: Bool) async throws -> [String: Any] {
        try await settle.reconcile("sandbox", from: from, to: to, apply: apply)
    }

    func items(_ settle: RunningSettle, _ run: String, _ kind: String) async throws -> [[String: Any]] {
        var all: [[String: Any]] = []
        var after = ""
        while true {
            let page = try await settle.request(.GET, "/v1/reconciliations/\(run)/items?class=\(kind)&limit=100\(after)").json
            let data = page["data"] as? [[String: Any]] ?? []
            all += data
            guard page["has_more"] as? Bool == true, let last = data.last?["id"] as? String else { return all }
            after = "&starting_after=\(last)"
        }
    }

    @Test(arguments: Engine.enabled)
    func tenThousandPaymentsWithEveryDivergence(_ engine: Engine) async throws {
        try await withSettle(databaseURL: try await engine.makeDatabaseURL()) { settle in
            let base = Date().addingTimeInterval(-3600)
            let ids = try await seed(settle.store, count: 10_000, base: base)
            let open = ids[.requiresAction]!, succeeded = ids[.succeeded]!
            // Divergences, each told to the sandbox alone.
            let paidAtSandbox = Array(open[0..<5]), failedAtSandbox = Array(open[5..<8]), otherAmount = Array(open[8..<12])
            let otherCurrency = Array(open[12..<14]), missingOpen = Array(open[14..<16])
            let failedButSettled = Array(succeeded[100..<102]), settledOtherAmount = succeeded[102], missingPaid = succeeded[103]
            for id in paidAtSandbox { try await providerState(settle, id, #"{"status":"succeeded"}"#) }
            for id in failedAtSandbox { try await providerState(settle, id, #"{"status":"failed"}"#) }
            for id in otherAmount { try await providerState(settle, id, #"{"status":"succeeded","amount":1}"#) }
            for id in otherCurrency { try await providerState(settle, id, #"{"status":"succeeded","currency":"usd"}"#) }
            for id in missingOpen + [missingPaid] { try await providerState(settle, id, #"{"status":"missing"}"#) }
            for id in failedButSettled { try await providerState(settle, id, #"{"status":"failed"}"#) }
            try await providerState(settle, settledOtherAmount, #"{"status":"succeeded","amount":99}"#)
            let unknown = (0..<4).map { "pay_unknown\($0)\(Identifier.randomToken(length: 6))" }
            for id in unknown { try await providerState(settle, id, #"{"status":"succeeded","amount":5000,"currency":"COP"}"#) }
            // Refused: a payment Settle does not have, without its amount; an unknown status.
            #expect(try await settle.request(.POST, "/sandbox/payments/pay_nothing1/provider_state", json: #"{"status":"succeeded"}"#).status == 400)
            #expect(try await settle.request(.POST, "/sandbox/payments/\(open[20])/provider_state", json: #"{"status":"paid"}"#).status == 400)
            #expect(try await settle.request(.POST, "/sandbox/payments/\(open[20])/provider_state", json: #"{"status":"failed"}"#, auth: false).status == 401)

            // Up to now: the records of payments Settle does not have were made just now.
            let window = (from: base.addingTimeInterval(-1), to: Date().addingTimeInterval(5))
            let report = try await reconcile(settle, from: window.from, to: window.to, apply: false)
            #expect(report["status"] as? String == "succeeded", "\(report)")
            let counts = try #require(report["counts"] as? [String: Int])
            #expect(counts == [
                "matched": 9_990, "status_mismatch": 5 + 3 + 2, "amount_mismatch": 4 + 1, "currency_mismatch": 2, "missing_at_provider": 3,
                "missing_in_settle": 4,
            ], "\(counts)")
            #expect((report["progress"] as? [String: Int])?["payments_checked"] == 10_000)
            #expect(report["applied"] as? Int == 0)
            // Nothing changed.
            for id in paidAtSandbox + failedAtSandbox + otherAmount { #expect(try await settle.paymentStatus(id) == "requires_action") }
            let runID = try #require(report["id"] as? String)
            let missing = try await items(settle, runID, "missing_in_settle")
            #expect(Set(missing.compactMap { $0["payment"] as? String }) == Set(unknown))
            #expect(missing.allSatisfy { ($0["provider"] as? [String: Any])?["amount"] as? Int == 5000 && $0["settle"] is NSNull })
            let absent = try await items(settle, runID, "missing_at_provider")
            #expect(Set(absent.compactMap { $0["payment"] as? String }) == Set(missingOpen + [missingPaid]))
            let amounts = try await items(settle, runID, "amount_mismatch")
            #expect(Set(amounts.compactMap { $0["payment"] as? String }) == Set(otherAmount + [settledOtherAmount]))
            let matched = try await settle.request(.GET, "/v1/reconciliations/\(runID)/items.csv?class=matched").text.split(separator: "\r\n")
            #expect(matched.count == 1 + 9_990)
            #expect(matched.filter { $0.hasPrefix("matched,refund,") }.count == 10)
            #expect(matched.contains { $0.hasPrefix("matched,payment,\(succeeded[0]),,sb_") && $0.hasSuffix(",succeeded,10000,COP,succeeded,10000,COP,,,") })
            let csv = try await settle.request(.GET, "/v1/reconciliations/\(runID)/items.csv?class=status_mismatch")
            #expect(csv.status == 200 && csv.headers.first(name: "content-type")?.hasPrefix("text/csv") == true)
            let lines = csv.text.split(separator: "\r\n")
            #expect(lines.first == "class,type,payment,refund,provider_id,settle_status,settle_amount,settle_currency,provider_status,provider_amount,provider_currency,fee,net,applied")
            #expect(lines.count == 11)
            #expect(lines.contains { $0.hasPrefix("status_mismatch,payment,\(failedAtSandbox[0]),,sb_") && $0.contains(",open,") && $0.contains(",failed,") })

            // Apply: final states are applied as the run; a different amount or currency sends an open payment to review;
            // a payment Settle holds as final is left for an operator.
            let applied = try await reconcile(settle, from: window.from, to: window.to, apply: true)
            #expect(applied["status"] as? String == "succeeded")
            #expect(applied["applied"] as? Int == 5 + 3 + 4 + 2, "\(applied)")
            for id in paidAtSandbox { #expect(try await settle.paymentStatus(id) == "succeeded") }
            for id in failedAtSandbox { #expect(try await settle.paymentStatus(id) == "failed") }
            for id in otherAmount + otherCurrency { #expect(try await settle.paymentStatus(id) == "requires_review") }
            for id in failedButSettled + [settledOtherAmount, missingPaid] { #expect(try await settle.paymentStatus(id) == "succeeded") }
            for id in missingOpen { #expect(try await settle.paymentStatus(id) == "requires_action") }
            #expect(try await settle.request(.GET, "/v1/payments/\(unknown[0])").status == 404)
            #expect(try await settle.store.eventCount(paymentID: paidAtSandbox[0], type: "payment.succeeded") == 1)
            let appliedID = try #require(applied["id"] as? String)
            let audit = try await settle.store.read { connection in
                try await connection.query("SELECT actor_kind, actor_id FROM audit_log WHERE target_id = \(paidAtSandbox[0]) ORDER BY seq DESC LIMIT 1")
                    .first.map { (try $0.string("actor_kind"), try $0.string("actor_id")) }
            }
            #expect(audit?.0 == "system" && audit?.1 == "reconciliation:\(appliedID)")
            let kept = try await items(settle, appliedID, "status_mismatch")
            #expect(Set(kept.filter { $0["applied"] as? String == "unchanged:stale_report" }.compactMap { $0["payment"] as? String }) == Set(failedButSettled))

            // Afterwards only what an operator must settle is left.
            let after = try await reconcile(settle, from: window.from, to: window.to, apply: false)
            #expect(after["counts"] as? [String: Int] == [
                "matched": 9_998, "status_mismatch": 2, "amount_mismatch": 5, "currency_mismatch": 2, "missing_at_provider": 3, "missing_in_settle": 4,
            ], "\(after)")
            let list = try await settle.request(.GET, "/v1/reconciliations?limit=2").json
            #expect((list["data"] as? [[String: Any]])?.first?["id"] as? String == after["id"] as? String)
            #expect(list["has_more"] as? Bool == true)
        }
    }

    @Test(arguments: Engine.enabled)
    func refusals(_ engine: Engine) async throws {
        try await withSettle(databaseURL: try await engine.makeDatabaseURL(), configure: { $0.providers["efecty"] = ["agreement": "112233"] }) { settle in
            func create(_ body: String) async throws -> RunningSettle.HTTPResult { try await settle.request(.POST, "/v1/reconciliations", json: body) }
            let unknown = try await create(#"{"provider":"nobody","from":"2026-11-01","to":"2026-11-02"}"#)
            #expect(unknown.status == 400 && unknown.errorCode == "provider_unknown")
            let backwards = try await create(#"{"provider":"sandbox","from":"2026-11-02","to":"2026-11-01"}"#)
            #expect(backwards.status == 400 && backwards.errorCode == "parameter_invalid")
            #expect(try await create(#"{"provider":"sandbox","from":"yesterday","to":"2026-11-01"}"#).status == 400)
            #expect(try await create(#"{"provider":"sandbox","from":1.5,"to":"2026-11-01"}"#).status == 400)
            #expect(try await create(#"{"provider":"sandbox","to":"2026-11-01"}"#).errorCode == "parameter_missing")
            #expect(try await create(#"{"provider":"sandbox","from":"2026-01-01","to":"2026-12-01"}"#).status == 400)  // more than 93 days
            #expect(try await create(#"{"provider":"sandbox","from":"2026-11-01","to":"2026-11-02","extra":1}"#).errorCode == "parameter_unknown")
            let efecty = try await create(#"{"provider":"efecty","from":"2026-11-01","to":"2026-11-02"}"#)
            #expect(efecty.status == 400 && efecty.errorCode == "reconciliation_not_supported", "\(efecty.text)")
            #expect((efecty.json["error"] as? [String: Any])?["message"] as? String == "Efecty's records are its settlement files: importing one (settle efecty import) compares and settles every line.")
            let stripe = try await create(#"{"provider":"stripe","from":"2026-11-01","to":"2026-11-02"}"#)
            #expect(stripe.status == 400 && stripe.errorCode == "provider_disabled")
            #expect(try await settle.request(.GET, "/v1/reconciliations/rec_nothing").errorCode == "reconciliation_not_found")
            #expect(try await settle.request(.GET, "/v1/reconciliations/rec_nothing/items").status == 404)
            let queued = try await create(#"{"provider":"sandbox","from":"2026-11-01T00:00:00Z","to":"2026-11-02T00:00:00.000Z"}"#)
            #expect(queued.status == 202, "\(queued.text)")
            #expect(queued.json["from"] as? Int == 1_793_491_200 && queued.json["to"] as? Int == 1_793_577_600)
            #expect(try await settle.request(.GET, "/v1/reconciliations/\(queued.json["id"] as? String ?? "")/items?class=odd").status == 400)
            // A retry with the same Idempotency-Key replays the first answer: one run, not two.
            let body = #"{"provider":"sandbox","from":"2026-11-03","to":"2026-11-04"}"#
            let first = try await settle.request(.POST, "/v1/reconciliations", json: body, headers: [("idempotency-key", "rec-retry-1")])
            let retry = try await settle.request(.POST, "/v1/reconciliations", json: body, headers: [("idempotency-key", "rec-retry-1")])
            #expect(first.status == 202 && retry.status == 202, "\(retry.text)")
            #expect(retry.headers.first(name: "idempotent-replayed") == "true")
            #expect(retry.json["id"] as? String == first.json["id"] as? String)
            let runs = try await settle.request(.GET, "/v1/reconciliations?limit=100")
            #expect((runs.json["data"] as? [[String: Any]])?.count == 2, "\(runs.text)")
        }
    }

    /// Two instances on one database with the same schedule: each scheduled run is made once, and run once.
    @Test(arguments: Engine.enabled)
    func scheduledRunsHappenOnceAcrossInstances(_ engine: Engine) async throws {
        let url = try await engine.makeDatabaseURL()
        // The first instance creates the schema and the sandbox's secret, so both serve the same sandbox.
        try await withSettle(databaseURL: url, configure: { $0.runReconciliations = false }) { _ in }
        try await withSettle(databaseURL: url, configure: { $0.reconcileSchedule = "daily@00:00" }) { first in
            try await withSettle(databaseURL: url, configure: { $0.reconcileSchedule = "daily@00:00" }) { second in
                let deadline = ContinuousClock.now + .seconds(60)
                var runs: [[String: Any]] = []
                while ContinuousClock.now < deadline {
                    runs = try await second.request(.GET, "/v1/reconciliations").json["data"] as? [[String: Any]] ?? []
                    if runs.count == 3, runs.allSatisfy({ $0["status"] as? String == "succeeded" }) { break }
                    try await Task.sleep(for: .milliseconds(200))
                }
                // The latest due day and the two before it, each once.
                #expect(runs.count == 3, "\(runs)")
                #expect(runs.allSatisfy { $0["trigger"] as? String == "schedule" && $0["status"] as? String == "succeeded" })
                let windows = runs.compactMap { run in (run["from"] as? Int).flatMap { from in (run["to"] as? Int).map { (from, $0) } } }.sorted { $0.0 < $1.0 }
                #expect(windows.count == 3 && windows.allSatisfy { $0.1 - $0.0 == 86_400 && $0.1 % 86_400 == 0 })
                #expect(zip(windows, windows.dropFirst()).allSatisfy { $0.1 == $1.0 })
                #expect((windows.last?.1 ?? .max) <= Int(Date().timeIntervalSince1970))
                let attempts = try await first.store.read { connection in
                    try await connection.query("SELECT attempts FROM reconciliation_runs").map { try $0.int("attempts") }
                }
                #expect(attempts == [1, 1, 1])
            }
        }
    }

    /// A run is held by one instance at a time; one whose instance stops renewing is taken over, and the first
    /// instance's late writes are refused.
    @Test(arguments: Engine.enabled)
    func leasesHandRunsOverOnce(_ engine: Engine) async throws {
        try await withSettle(databaseURL: try await engine.makeDatabaseURL(), configure: { $0.runReconciliations = false }) { settle in
            let store = settle.store
            let now = Date()
            let run = ReconciliationRun(
                id: Identifier.make("rec"), mode: .test, provider: "sandbox", from: now.addingTimeInterval(-60), to: now, apply: false, status: .queued,
                trigger: "api", createdAt: now
            )
            let inserted = try await store.write { tx in try await tx.insertReconciliationRun(run) }
            #expect(inserted)
            let a = try await store.claimReconciliationRun(owner: "a", now: now, leaseUntil: now.addingTimeInterval(120))
            #expect(a?.id == run.id && a?.status == .running)
            #expect(try await store.claimReconciliationRun(owner: "b", now: now.addingTimeInterval(60), leaseUntil: now.addingTimeInterval(180)) == nil)
            let b = try await store.claimReconciliationRun(owner: "b", now: now.addingTimeInterval(121), leaseUntil: now.addingTimeInterval(240))
            #expect(b?.id == run.id)
            let (runID, later) = (run.id, now.addingTimeInterval(300))
            // What the first instance would write now is refused: it no longer holds the run.
            let stillA = try await store.write { tx in try await tx.holdsReconciliation(id: runID, owner: "a") }
            let stillB = try await store.write { tx in try await tx.holdsReconciliation(id: runID, owner: "b") }
            #expect(!stillA && stillB)
            let late = try await store.write { tx in
                try await tx.reconciliationProgress(id: runID, owner: "a", paymentsChecked: 1, providerRecords: 1, applied: 0, leaseUntil: later)
            }
            #expect(late == false)
            let finished = try await store.write { tx in
                try await tx.finishReconciliation(id: runID, owner: "b", status: .succeeded, failure: nil, paymentsChecked: 0, providerRecords: 0, applied: 0, at: later)
            }
            #expect(finished)
            #expect(try await store.reconciliationRun(id: run.id)?.status == .succeeded)
            // What an instance found after it lost the run is never stored (nor applied).
            let service = ReconciliationService(store: store, providers: settle.settle.useCases.providers, logger: Engine.logger, owner: "a")
            var execution = ReconciliationService.Execution(service: service, run: try #require(b), progress: nil)
            let finding = ReconciliationService.Finding(
                item: ReconciliationItem(runID: runID, kind: .missingInSettle, object: .payment, paymentID: "pay_x", providerID: "sb_x", settle: nil, provider: nil),
                record: nil
            )
            await #expect(throws: ReconciliationService.LeaseLost.self) { try await execution.save([finding]) }
            #expect(try await store.reconciliationCounts(runID: runID).isEmpty)

            // A run whose instance stops three times is failed for good; one released at shutdown is queued again.
            var fragile = run
            fragile.id = Identifier.make("rec")
            let fragileRun = fragile
            _ = try await store.write { tx in try await tx.insertReconciliationRun(fragileRun) }
            for attempt in 0..<3 {
                let at = now.addingTimeInterval(Double(attempt) * 121)
                #expect(try await store.claimReconciliationRun(id: fragileRun.id, owner: "i\(attempt)", now: at, leaseUntil: at.addingTimeInterval(120)) != nil)
            }
            let fourth = now.addingTimeInterval(4 * 121)
            #expect(try await store.claimReconciliationRun(id: fragileRun.id, owner: "i3", now: fourth, leaseUntil: fourth.addingTimeInterval(120)) == nil)
            let failed = try await store.reconciliationRun(id: fragileRun.id)
            #expect(failed?.status == .failed && failed?.failure?.contains("started 3 times") == true)
            var released = run
            released.id = Identifier.make("rec")
            let releasedRun = released
            _ = try await store.write { tx in try await tx.insertReconciliationRun(releasedRun) }
            #expect(try await store.claimReconciliationRun(id: releasedRun.id, owner: "a", now: now, leaseUntil: now.addingTimeInterval(120)) != nil)
            try await store.write { tx in try await tx.releaseReconciliation(id: releasedRun.id, owner: "a") }
            #expect(try await store.reconciliationRun(id: releasedRun.id)?.status == .queued)
            #expect(try await store.claimReconciliationRun(id: releasedRun.id, owner: "b", now: now, leaseUntil: now.addingTimeInterval(120)) != nil)
            // A scheduled run's key is taken once.
            var first = run
            first.id = Identifier.make("rec")
            var second = run
            second.id = Identifier.make("rec")
            let (once, twice) = (first, second)
            let madeOnce = try await store.write { tx in try await tx.insertReconciliationRun(once, scheduleKey: "sandbox:test:1") }
            let madeTwice = try await store.write { tx in try await tx.insertReconciliationRun(twice, scheduleKey: "sandbox:test:1") }
            #expect(madeOnce && !madeTwice)
        }
    }
}

extension RunningSettle {
    /// Runs a reconciliation through the API (from as Unix seconds, to as RFC 3339) and waits for the server's runner
    /// to finish it.
    func reconcile(_ provider: String, from: Date, to: Date, apply: Bool) async throws -> [String: Any] {
        let created = try await request(
            .POST, "/v1/reconciliations",
            json: #"{"provider":"\#(provider)","from":\#(UnixTime.seconds(from)),"to":"\#(ISO8601DateFormatter().string(from: to))","apply":\#(apply)}"#
        )
        #expect(created.status == 202, "\(created.text)")
        #expect(created.json["status"] as? String == "queued")
        let id = try #require(created.json["id"] as? String)
        let deadline = ContinuousClock.now + .seconds(240)
        while ContinuousClock.now < deadline {
            let run = try await request(.GET, "/v1/reconciliations/\(id)").json
            if run["status"] as? String == "succeeded" || run["status"] as? String == "failed" { return run }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw TestFailure("reconciliation \(id) did not finish")
    }
}

/// `SETTLE_RECONCILE_SCHEDULE` and the window each scheduled run covers.
@Suite struct ReconciliationScheduleTests {
    @Test func parsing() throws {
        #expect(try ReconciliationSchedule.parse("daily@03:00") == ReconciliationSchedule(minuteOfDay: 180))
        #expect(try ReconciliationSchedule.parse("03:30") == ReconciliationSchedule(minuteOfDay: 210))
        #expect(try ReconciliationSchedule.parse("daily@23:59+apply") == ReconciliationSchedule(minuteOfDay: 1439, apply: true))
        #expect(try ReconciliationSchedule.parse("off") == nil && ReconciliationSchedule.parse(nil) == nil && ReconciliationSchedule.parse(" ") == nil)
        for bad in ["daily@3:00", "daily@24:00", "daily@03:60", "weekly@03:00", "03:00:00", "0３:00", "daily@-1:00"] {
            #expect(throws: SettleError.self, "\(bad)") { try ReconciliationSchedule.parse(bad) }
        }
    }

    @Test func windows() throws {
        let schedule = ReconciliationSchedule(minuteOfDay: 180)
        // 2026-12-02 03:00:00 UTC = 1796180400: the run for 2026-12-01 is due.
        #expect(schedule.window(at: Date(timeIntervalSince1970: 1_796_180_400))! == (Date(timeIntervalSince1970: 1_796_083_200), Date(timeIntervalSince1970: 1_796_169_600)))
        // 02:59:59: still the run for 2026-11-30.
        #expect(schedule.window(at: Date(timeIntervalSince1970: 1_796_180_399))! == (Date(timeIntervalSince1970: 1_795_996_800), Date(timeIntervalSince1970: 1_796_083_200)))
    }

    @Test func csvFields() {
        #expect(CSV.field("plain") == "plain")
        #expect(CSV.field("a,b") == "\"a,b\"")
        #expect(CSV.field("say \"hi\"") == "\"say \"\"hi\"\"\"")
        #expect(CSV.field("=HYPERLINK(1)") == "'=HYPERLINK(1)")
        #expect(CSV.field("-5") == "-5")  // a number, as it is
        #expect(CSV.field("-x") == "'-x")
    }
}
