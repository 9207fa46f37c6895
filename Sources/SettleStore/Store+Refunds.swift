import Foundation
import SettleCore

extension StoreTransaction {
    public func insertRefund(_ refund: Refund) async throws {
        try await query(
            """
            INSERT INTO refunds (id, payment_id, amount, currency, reason, provider_refund_id, created_at, mode, status, failure_code,
                failure_message, metadata, updated_at)
            VALUES (\(refund.id), \(refund.paymentID), \(refund.amount.minorUnits), \(refund.amount.currency.code), \(refund.reason),
                \(refund.providerRefundID), \(UnixTime.milliseconds(refund.createdAt)), \(refund.mode.rawValue), \(refund.status.rawValue),
                \(refund.failure?.code), \(refund.failure?.message), \(JSONValue.stringMap(refund.metadata).serialized()),
                \(UnixTime.milliseconds(refund.updatedAt)))
            """
        )
    }

    /// Reads a refund and, on PostgreSQL, locks it until the transaction ends (lock its payment first).
    public func lockRefund(id: String) async throws -> Refund? {
        try await query("SELECT * FROM refunds WHERE id = \(id)\(raw: forUpdate)").first.map(Refund.init(row:))
    }

    /// A refund, unlocked (to find its payment, which is locked first).
    public func readRefund(id: String) async throws -> Refund? {
        try await query("SELECT * FROM refunds WHERE id = \(id)").first.map(Refund.init(row:))
    }

    /// Every refund of a payment that still holds part of its amount without being succeeded (pending, requires_action).
    public func openRefunds(paymentID: String) async throws -> [Refund] {
        try await query(
            "SELECT * FROM refunds WHERE payment_id = \(paymentID) AND status IN ('pending', 'requires_action') ORDER BY seq\(raw: forUpdate)"
        ).map(Refund.init(row:))
    }

    /// The refund a provider's notification names, among that provider's payments.
    public func refund(provider: String, providerRefundID: String) async throws -> Refund? {
        try await query(
            """
            SELECT r.* FROM refunds r JOIN payments p ON p.id = r.payment_id
            WHERE p.provider = \(provider) AND r.provider_refund_id = \(providerRefundID)
            """
        ).first.map(Refund.init(row:))
    }

    /// A pending refund of this amount whose provider id is not recorded yet (the provider's notification came first).
    public func pendingRefundWithoutProviderID(paymentID: String, amount: Int64) async throws -> Refund? {
        try await query(
            """
            SELECT * FROM refunds WHERE payment_id = \(paymentID) AND amount = \(amount) AND status = 'pending'
                AND provider_refund_id IS NULL ORDER BY seq LIMIT 1
            """
        ).first.map(Refund.init(row:))
    }

    /// What the payment's refunds hold of its amount: pending, succeeded and waiting for an operator.
    public func heldRefundAmount(paymentID: String) async throws -> Int64 {
        try await query(
            """
            SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) AS n FROM refunds
            WHERE payment_id = \(paymentID) AND status IN ('pending', 'succeeded', 'requires_action')
            """
        ).first?.int("n") ?? 0
    }

    /// Records a refund's new status (and the provider's id or failure, when given).
    public func updateRefund(id: String, status: RefundStatus, providerRefundID: String?, failure: PaymentFailure?, at: Date) async throws {
        try await query(
            """
            UPDATE refunds SET status = \(status.rawValue), provider_refund_id = COALESCE(\(providerRefundID), provider_refund_id),
                failure_code = COALESCE(\(failure?.code), failure_code), failure_message = COALESCE(\(failure?.message), failure_message),
                updated_at = \(UnixTime.milliseconds(at))
            WHERE id = \(id)
            """
        )
    }

    /// Adds a succeeded refund to its payment's `amount_refunded`.
    public func addRefunded(paymentID: String, amount: Int64, at: Date) async throws {
        try await query(
            """
            UPDATE payments SET amount_refunded = amount_refunded + \(amount), updated_at = \(UnixTime.milliseconds(at))
            WHERE id = \(paymentID)
            """
        )
    }

    /// Writes a refund event (`refund.created`, …) carrying the refund as the API shows it, queued for every endpoint
    /// that receives its type, in this same transaction.
    @discardableResult
    public func insertEvent(type eventType: EventType, refund: Refund, at: Date) async throws -> String {
        let id = Identifier.make("evt")
        let data = JSONValue.object([("object", refund.apiObject)]).serialized()
        try await query(
            """
            INSERT INTO events (id, mode, type, payment_id, data, created_at)
            VALUES (\(id), \(refund.mode.rawValue), \(eventType.rawValue), \(refund.paymentID), \(data), \(UnixTime.milliseconds(at)))
            """
        )
        try await fanOut(eventID: id, type: eventType.rawValue, mode: refund.mode, at: at)
        return id
    }
}

extension Store {
    /// Pending refunds with no provider id (the provider was never reached), unchanged since `updatedBefore`.
    public func unaskedPendingRefunds(updatedBefore: Date, limit: Int) async throws -> [Refund] {
        try await read { connection in
            try await connection.query(
                """
                SELECT * FROM refunds WHERE status = 'pending' AND provider_refund_id IS NULL
                    AND updated_at < \(UnixTime.milliseconds(updatedBefore)) ORDER BY seq LIMIT \(limit)
                """
            ).map(Refund.init(row:))
        }
    }

    /// Pending refunds the provider has an id for, created before `createdBefore` and not asked about since
    /// `polledBefore`, those asked longest ago first.
    public func pendingRefundsToAsk(createdBefore: Date, polledBefore: Date, limit: Int) async throws -> [Refund] {
        try await read { connection in
            try await connection.query(
                """
                SELECT * FROM refunds WHERE status = 'pending' AND provider_refund_id IS NOT NULL
                    AND created_at < \(UnixTime.milliseconds(createdBefore))
                    AND (polled_at IS NULL OR polled_at < \(UnixTime.milliseconds(polledBefore)))
                ORDER BY COALESCE(polled_at, 0), seq LIMIT \(limit)
                """
            ).map(Refund.init(row:))
        }
    }

    /// Records that the sweep asked the provider about these refunds.
    public func markRefundsPolled(_ ids: [String], at: Date) async throws {
        guard !ids.isEmpty else { return }
        try await write { tx in
            var list: SQL = ""
            for (index, id) in ids.enumerated() { list = list + (index == 0 ? "" : ",") + "\(id)" }
            try await tx.query("UPDATE refunds SET polled_at = \(UnixTime.milliseconds(at)) WHERE id IN (\(list))")
        }
    }

    public func refund(id: String) async throws -> Refund? {
        try await read { connection in try await connection.query("SELECT * FROM refunds WHERE id = \(id)").first.map(Refund.init(row:)) }
    }

    public func refunds(_ filter: RefundFilter) async throws -> (refunds: [Refund], hasMore: Bool) {
        try await read { connection in
            var sql: SQL = "SELECT * FROM refunds WHERE mode = \(filter.mode.rawValue)"
            if let payment = filter.paymentID { sql = sql + " AND payment_id = \(payment)" }
            if let status = filter.status { sql = sql + " AND status = \(status.rawValue)" }
            if let cursor = filter.startingAfter { sql = sql + " AND seq < (SELECT seq FROM refunds WHERE id = \(cursor))" }
            sql = sql + " ORDER BY seq DESC LIMIT \(filter.limit + 1)"
            let rows = try await connection.query(sql)
            return (try rows.prefix(filter.limit).map(Refund.init(row:)), rows.count > filter.limit)
        }
    }
}

extension Refund {
    init(row: SQLRow) throws {
        let code = try row.string("currency")
        guard let currency = Currency.lookup(code), let status = RefundStatus(rawValue: try row.string("status")) else {
            throw StoreError(.decoding, "Stored refund has an unknown currency or status.")
        }
        let metadata = (try? JSONDecoder().decode([String: String].self, from: Data(try row.string("metadata").utf8))) ?? [:]
        let failure: PaymentFailure? =
            if let failureCode = try row.optionalString("failure_code") {
                PaymentFailure(code: failureCode, message: try row.optionalString("failure_message") ?? "")
            } else { nil }
        let created = UnixTime.date(milliseconds: try row.int("created_at"))
        self.init(
            id: try row.string("id"), mode: Mode(rawValue: try row.optionalString("mode") ?? "test") ?? .test, paymentID: try row.string("payment_id"),
            amount: Money(minorUnits: try row.int("amount"), currency: currency), status: status, reason: try row.string("reason"),
            providerRefundID: try row.optionalString("provider_refund_id"), failure: failure, metadata: metadata, createdAt: created,
            updatedAt: try row.optionalInt("updated_at").map(UnixTime.date(milliseconds:)) ?? created
        )
    }
}
