import Foundation
import SettleCore

extension StoreTransaction {
    /// Records a new run. A scheduled run carries `scheduleKey`; when another instance created that run first, nothing
    /// is written and this returns false. `heldBy`: the run starts held by that owner until that time (the CLI runs it
    /// itself), not queued.
    public func insertReconciliationRun(_ run: ReconciliationRun, scheduleKey: String? = nil, heldBy: (owner: String, until: Date)? = nil)
        async throws -> Bool
    {
        let status = heldBy == nil ? run.status.rawValue : ReconciliationRun.Status.running.rawValue
        return !(try await query(
            """
            INSERT INTO reconciliation_runs (id, mode, provider, window_from, window_to, apply_changes, status, trigger_kind, schedule_key,
                created_at, lease_owner, lease_until, started_at, attempts)
            VALUES (\(run.id), \(run.mode.rawValue), \(run.provider), \(UnixTime.milliseconds(run.from)), \(UnixTime.milliseconds(run.to)),
                \(run.apply), \(status), \(run.trigger), \(scheduleKey), \(UnixTime.milliseconds(run.createdAt)), \(heldBy?.owner),
                \(heldBy.map { UnixTime.milliseconds($0.until) }), \(heldBy.map { _ in UnixTime.milliseconds(run.createdAt) }), \(heldBy == nil ? 0 : 1))
            ON CONFLICT (schedule_key) DO NOTHING RETURNING id
            """
        )).isEmpty
    }

    /// Queues again a scheduled run that failed before `failedBefore` and was started fewer than `maximumAttempts` times.
    public func requeueFailedScheduledRun(scheduleKey: String, maximumAttempts: Int, failedBefore: Date) async throws {
        try await query(
            """
            UPDATE reconciliation_runs SET status = 'queued', failure = NULL, completed_at = NULL
            WHERE schedule_key = \(scheduleKey) AND status = 'failed' AND attempts < \(maximumAttempts)
                AND completed_at < \(UnixTime.milliseconds(failedBefore))
            """
        )
    }

    /// Whether `owner` still holds the run; on PostgreSQL the run's row stays locked until the transaction ends, so
    /// no instance takes it over while this transaction writes what it found.
    public func holdsReconciliation(id: String, owner: String) async throws -> Bool {
        !(try await query(
            "SELECT id FROM reconciliation_runs WHERE id = \(id) AND lease_owner = \(owner) AND status = 'running'\(raw: forUpdate)"
        )).isEmpty
    }

    /// Extends the lease `owner` holds. False: it holds it no longer.
    public func extendReconciliationLease(id: String, owner: String, until: Date) async throws -> Bool {
        !(try await query(
            """
            UPDATE reconciliation_runs SET lease_until = \(UnixTime.milliseconds(until))
            WHERE id = \(id) AND lease_owner = \(owner) AND status = 'running' RETURNING id
            """
        )).isEmpty
    }

    /// Puts a run `owner` holds back in the queue (its instance is shutting down): another takes it at once.
    public func releaseReconciliation(id: String, owner: String) async throws {
        try await query(
            """
            UPDATE reconciliation_runs SET status = 'queued', lease_owner = NULL, lease_until = NULL
            WHERE id = \(id) AND lease_owner = \(owner) AND status = 'running'
            """
        )
    }

    /// Stores what a run found, many rows to a statement.
    public func insertReconciliationItems(_ items: [ReconciliationItem]) async throws {
        for chunk in stride(from: 0, to: items.count, by: 100).map({ items[$0..<min($0 + 100, items.count)] }) {
            var sql: SQL = """
                INSERT INTO reconciliation_items (id, run_id, item_class, item_type, payment_id, refund_id, provider_id, settle_status,
                    settle_amount, settle_currency, provider_status, provider_amount, provider_currency, fee, net, applied) VALUES
                """
            for (index, item) in chunk.enumerated() {
                sql = sql + (index == 0 ? " " : ", ")
                    + """
                    (\(Identifier.make("rci")), \(item.runID), \(item.kind.rawValue), \(item.object.rawValue), \(item.paymentID), \(item.refundID),
                    \(item.providerID), \(item.settle?.status.rawValue), \(item.settle?.amount), \(item.settle?.currency),
                    \(item.provider?.status.rawValue), \(item.provider?.amount), \(item.provider?.currency), \(item.fee), \(item.net),
                    \(item.applied))
                    """
            }
            try await query(sql)
        }
    }

    /// Records a run's progress while `owner` still holds its lease, and extends the lease. False: the lease was lost
    /// (another instance took the run over), and the run must stop.
    public func reconciliationProgress(
        id: String, owner: String, paymentsChecked: Int, providerRecords: Int, applied: Int, leaseUntil: Date
    ) async throws -> Bool {
        !(try await query(
            """
            UPDATE reconciliation_runs SET payments_checked = \(paymentsChecked), provider_records = \(providerRecords), applied = \(applied),
                lease_until = \(UnixTime.milliseconds(leaseUntil))
            WHERE id = \(id) AND lease_owner = \(owner) AND status = 'running' RETURNING id
            """
        )).isEmpty
    }

    /// Ends a run held by `owner`: its status, failure and counts per class (counted from its items).
    public func finishReconciliation(
        id: String, owner: String, status: ReconciliationRun.Status, failure: String?, paymentsChecked: Int, providerRecords: Int, applied: Int,
        at: Date
    ) async throws -> Bool {
        let rows = try await query(
            "SELECT item_class, COUNT(*) AS n FROM reconciliation_items WHERE run_id = \(id) GROUP BY item_class"
        )
        var counts: [(String, JSONValue)] = []
        for row in rows { counts.append((try row.string("item_class"), .int(try row.int("n")))) }
        return !(try await query(
            """
            UPDATE reconciliation_runs SET status = \(status.rawValue), failure = \(failure), counts = \(JSONValue.object(counts).serialized()),
                payments_checked = \(paymentsChecked), provider_records = \(providerRecords), applied = \(applied),
                completed_at = \(UnixTime.milliseconds(at)), lease_owner = NULL, lease_until = NULL
            WHERE id = \(id) AND lease_owner = \(owner) AND status = 'running' RETURNING id
            """
        )).isEmpty
    }

    /// The sandbox's own record of a test payment, where it differs from Settle's (`POST /sandbox/payments/{id}/provider_state`).
    public func upsertSandboxRecord(paymentID: String, mode: Mode, status: String, amount: Int64?, currency: String?, at: Date) async throws {
        let time = UnixTime.milliseconds(at)
        try await query(
            """
            INSERT INTO sandbox_records (payment_id, mode, status, amount, currency, created_at, updated_at)
            VALUES (\(paymentID), \(mode.rawValue), \(status), \(amount), \(currency), \(time), \(time))
            ON CONFLICT (payment_id) DO UPDATE SET status = excluded.status, amount = excluded.amount, currency = excluded.currency,
                updated_at = excluded.updated_at
            """
        )
    }
}

/// The sandbox's record of one payment: Settle's, unless ``StoreTransaction/upsertSandboxRecord(paymentID:mode:status:amount:currency:at:)``
/// set another (`status` `missing`: the sandbox has none).
public struct SandboxRecordRow: Sendable, Hashable {
    public var paymentID: String
    /// Settle's payment, when Settle has it.
    public var payment: Payment?
    public var status: String?
    public var amount: Int64?
    public var currency: String?
    public var createdAt: Date
}

extension Store {
    /// Takes the oldest run waiting for an instance (or one whose instance stopped renewing its lease), for `owner`,
    /// until `leaseUntil`. Exactly one instance gets each run. A run taken over starts again from nothing: its earlier
    /// items are removed (what it applied is not applied twice: applying is idempotent).
    public func claimReconciliationRun(
        id: String? = nil, owner: String, now: Date, leaseUntil: Date, maximumAttempts: Int = 3
    ) async throws -> ReconciliationRun? {
        let at = UnixTime.milliseconds(now)
        let claimed = try await write { tx -> ReconciliationRun? in
            // A run started that many times, whose instance stopped again, is failed for good.
            try await tx.query(
                """
                UPDATE reconciliation_runs SET status = 'failed', completed_at = \(at), lease_owner = NULL, lease_until = NULL,
                    failure = \("The reconciliation was started \(maximumAttempts) times and its instance stopped each time; narrow the window.")
                WHERE status = 'running' AND lease_until < \(at) AND attempts >= \(maximumAttempts)
                """
            )
            let claimable: SQL = "(status = 'queued' OR (status = 'running' AND lease_until < \(at))) AND attempts < \(maximumAttempts)"
            let candidate: String?
            if let id {
                candidate = id
            } else {
                candidate = try await tx.query(
                    "SELECT id FROM reconciliation_runs WHERE \(claimable) ORDER BY created_at, id LIMIT 1"
                ).first.map { try $0.string("id") }
            }
            guard let candidate else { return nil }
            let rows = try await tx.query(
                """
                UPDATE reconciliation_runs SET status = 'running', lease_owner = \(owner), lease_until = \(UnixTime.milliseconds(leaseUntil)),
                    started_at = \(at), attempts = attempts + 1, payments_checked = 0, provider_records = 0, applied = 0
                WHERE id = \(candidate) AND \(claimable) RETURNING *
                """
            )
            return try rows.first.map(ReconciliationRun.init(row:))
        }
        guard let claimed else { return nil }
        // What an earlier start found goes, a few thousand rows to a transaction (other writers keep their turn).
        while try await write({ tx in
            try await tx.query(
                """
                DELETE FROM reconciliation_items WHERE seq IN (
                    SELECT seq FROM reconciliation_items WHERE run_id = \(claimed.id) LIMIT 5000) RETURNING seq
                """
            ).count
        }) > 0 {}
        return claimed
    }

    public func reconciliationItemExists(runID: String, id: String) async throws -> Bool {
        try await read { connection in
            !(try await connection.query("SELECT 1 AS one FROM reconciliation_items WHERE id = \(id) AND run_id = \(runID)")).isEmpty
        }
    }

    /// A run's items counted by class (its counts while it runs).
    public func reconciliationCounts(runID: String) async throws -> [ReconciliationClass: Int] {
        try await read { connection in
            var counts: [ReconciliationClass: Int] = [:]
            for row in try await connection.query(
                "SELECT item_class, COUNT(*) AS n FROM reconciliation_items WHERE run_id = \(runID) GROUP BY item_class"
            ) {
                if let kind = ReconciliationClass(rawValue: try row.string("item_class")) { counts[kind] = Int(try row.int("n")) }
            }
            return counts
        }
    }

    public func reconciliationRun(id: String) async throws -> ReconciliationRun? {
        try await read { connection in
            try await connection.query("SELECT * FROM reconciliation_runs WHERE id = \(id)").first.map(ReconciliationRun.init(row:))
        }
    }

    /// Newest first.
    public func reconciliationRuns(mode: Mode, limit: Int, startingAfter: String?) async throws -> (runs: [ReconciliationRun], hasMore: Bool) {
        try await read { connection in
            var sql: SQL = "SELECT * FROM reconciliation_runs WHERE mode = \(mode.rawValue)"
            if let startingAfter {
                sql = sql + " AND (created_at, id) < (SELECT created_at, id FROM reconciliation_runs WHERE id = \(startingAfter))"
            }
            let rows = try await connection.query(sql + " ORDER BY created_at DESC, id DESC LIMIT \(limit + 1)")
            return (try rows.prefix(limit).map(ReconciliationRun.init(row:)), rows.count > limit)
        }
    }

    /// A run's items in the order found, of one class or all; `startingAfter` continues after that item.
    public func reconciliationItems(runID: String, kind: ReconciliationClass?, limit: Int, startingAfter: String?) async throws
        -> (items: [(id: String, item: ReconciliationItem)], hasMore: Bool)
    {
        try await read { connection in
            var sql: SQL = "SELECT * FROM reconciliation_items WHERE run_id = \(runID)"
            if let kind { sql = sql + " AND item_class = \(kind.rawValue)" }
            if let startingAfter {
                sql = sql + " AND seq > (SELECT seq FROM reconciliation_items WHERE id = \(startingAfter) AND run_id = \(runID))"
            }
            let rows = try await connection.query(sql + " ORDER BY seq LIMIT \(limit + 1)")
            let items = try rows.prefix(limit).map { row in (id: try row.string("id"), item: try ReconciliationItem(row: row)) }
            return (items, rows.count > limit)
        }
    }

    /// A provider's payments in one mode created in `from..<to`, in creation order, after `after`.
    public func paymentsCreated(provider: String, mode: Mode, from: Date, to: Date, after: (createdAt: Date, id: String)?, limit: Int)
        async throws -> [Payment]
    {
        let afterTime = after.map { UnixTime.milliseconds($0.createdAt) } ?? Int64.min
        let afterID = after?.id ?? ""
        return try await read { connection in
            try await connection.query(
                """
                SELECT * FROM payments WHERE provider = \(provider) AND mode = \(mode.rawValue)
                AND created_at >= \(UnixTime.milliseconds(from)) AND created_at < \(UnixTime.milliseconds(to))
                AND (created_at > \(afterTime) OR (created_at = \(afterTime) AND id > \(afterID)))
                ORDER BY created_at, id LIMIT \(limit)
                """
            ).map(Payment.init(row:))
        }
    }

    /// Every refund of these payments, oldest first.
    public func refunds(paymentIDs: [String]) async throws -> [Refund] {
        guard !paymentIDs.isEmpty else { return [] }
        return try await read { connection in
            var list: SQL = ""
            for (index, id) in paymentIDs.enumerated() { list = list + (index == 0 ? "" : ",") + "\(id)" }
            return try await connection.query("SELECT * FROM refunds WHERE payment_id IN (\(list)) ORDER BY seq").map(Refund.init(row:))
        }
    }

    /// A provider's payment by the provider's id, in any window.
    public func payment(provider: String, providerPaymentID: String) async throws -> Payment? {
        try await read { connection in
            try await connection.query(
                "SELECT * FROM payments WHERE provider = \(provider) AND provider_payment_id = \(providerPaymentID)"
            ).first.map(Payment.init(row:))
        }
    }

    /// The sandbox's records of test payments created in `from..<to`, in creation order after `after`: each of Settle's
    /// sandbox payments with the record set for it, if any; then (`orphans`) records set for payments Settle does not have.
    public func sandboxRecords(mode: Mode, from: Date, to: Date, after: (createdAt: Date, id: String)?, limit: Int) async throws
        -> [SandboxRecordRow]
    {
        let page = try await paymentsCreated(provider: "sandbox", mode: mode, from: from, to: to, after: after, limit: limit)
        guard !page.isEmpty else { return [] }
        let overrides: [String: SQLRow] = try await read { connection in
            var list: SQL = ""
            for (index, payment) in page.enumerated() { list = list + (index == 0 ? "" : ",") + "\(payment.id)" }
            let rows = try await connection.query("SELECT * FROM sandbox_records WHERE payment_id IN (\(list))")
            return Dictionary(try rows.map { (try $0.string("payment_id"), $0) }, uniquingKeysWith: { a, _ in a })
        }
        return try page.map { payment in
            let record = overrides[payment.id]
            return SandboxRecordRow(
                paymentID: payment.id, payment: payment, status: try record?.string("status"), amount: try record?.optionalInt("amount"),
                currency: try record?.optionalString("currency"), createdAt: payment.createdAt
            )
        }
    }

    /// Records the sandbox holds for payments Settle does not have, created in `from..<to`.
    public func sandboxOrphanRecords(mode: Mode, from: Date, to: Date) async throws -> [SandboxRecordRow] {
        try await read { connection in
            try await connection.query(
                """
                SELECT * FROM sandbox_records s WHERE s.mode = \(mode.rawValue) AND s.created_at >= \(UnixTime.milliseconds(from))
                AND s.created_at < \(UnixTime.milliseconds(to)) AND NOT EXISTS (SELECT 1 FROM payments p WHERE p.id = s.payment_id)
                ORDER BY s.created_at, s.payment_id LIMIT 10000
                """
            ).map { row in
                SandboxRecordRow(
                    paymentID: try row.string("payment_id"), payment: nil, status: try row.string("status"), amount: try row.optionalInt("amount"),
                    currency: try row.optionalString("currency"), createdAt: UnixTime.date(milliseconds: try row.int("created_at"))
                )
            }
        }
    }
}

extension ReconciliationRun {
    init(row: SQLRow) throws {
        var counts: [ReconciliationClass: Int] = [:]
        if case .object(let pairs)? = try? JSONValue.parse(Array(try row.string("counts").utf8)) {
            for (name, value) in pairs {
                if let kind = ReconciliationClass(rawValue: name), case .int(let n) = value { counts[kind] = Int(n) }
            }
        }
        self.init(
            id: try row.string("id"), mode: Mode(rawValue: try row.string("mode")) ?? .live, provider: try row.string("provider"),
            from: UnixTime.date(milliseconds: try row.int("window_from")), to: UnixTime.date(milliseconds: try row.int("window_to")),
            apply: try row.int("apply_changes") != 0, status: Status(rawValue: try row.string("status")) ?? .failed,
            trigger: try row.string("trigger_kind"), counts: counts, applied: Int(try row.int("applied")),
            paymentsChecked: Int(try row.int("payments_checked")), providerRecords: Int(try row.int("provider_records")),
            failure: try row.optionalString("failure"), createdAt: UnixTime.date(milliseconds: try row.int("created_at")),
            startedAt: try row.optionalInt("started_at").map(UnixTime.date(milliseconds:)),
            completedAt: try row.optionalInt("completed_at").map(UnixTime.date(milliseconds:))
        )
    }
}

extension ReconciliationItem {
    init(row: SQLRow) throws {
        func side(_ prefix: String) throws -> ReconciledSide? {
            guard let status = try row.optionalString("\(prefix)_status").flatMap(ReconciledStatus.init(rawValue:)) else { return nil }
            return ReconciledSide(status: status, amount: try row.optionalInt("\(prefix)_amount"), currency: try row.optionalString("\(prefix)_currency"))
        }
        self.init(
            runID: try row.string("run_id"), kind: ReconciliationClass(rawValue: try row.string("item_class")) ?? .matched,
            object: ReconciledObject(rawValue: try row.string("item_type")) ?? .payment, paymentID: try row.optionalString("payment_id"),
            refundID: try row.optionalString("refund_id"), providerID: try row.optionalString("provider_id"), settle: try side("settle"),
            provider: try side("provider"), fee: try row.optionalInt("fee"), net: try row.optionalInt("net"),
            applied: try row.optionalString("applied")
        )
    }
}

extension Store {
    /// How many payments of a provider and mode were created in `from..<to`.
    public func countPaymentsCreated(provider: String, mode: Mode, from: Date, to: Date) async throws -> Int {
        try await read { connection in
            Int(
                try await connection.query(
                    """
                    SELECT COUNT(*) AS n FROM payments WHERE provider = \(provider) AND mode = \(mode.rawValue)
                    AND created_at >= \(UnixTime.milliseconds(from)) AND created_at < \(UnixTime.milliseconds(to))
                    """
                ).first?.int("n") ?? 0
            )
        }
    }
}
