import Foundation
import SettleCore

extension StoreTransaction {
    /// A provider transaction by the provider's id. Read it again after locking its payment before changing it.
    public func providerTransaction(provider: String, providerTransactionID: String) async throws -> ProviderTransaction? {
        try await query(
            """
            SELECT * FROM provider_transactions
            WHERE provider = \(provider) AND provider_transaction_id = \(providerTransactionID)
            """
        ).first.map(ProviderTransaction.init(row:))
    }

    /// A payment's provider transactions, oldest first.
    public func providerTransactions(paymentID: String) async throws -> [ProviderTransaction] {
        try await query("SELECT * FROM provider_transactions WHERE payment_id = \(paymentID) ORDER BY seq")
            .map(ProviderTransaction.init(row:))
    }

    /// A provider's transactions whose provider time is in `from...to`, in that order.
    public func providerTransactions(provider: String, providerTimeFrom from: Int64, to: Int64) async throws
        -> [ProviderTransaction]
    {
        try await query(
            """
            SELECT * FROM provider_transactions
            WHERE provider = \(provider) AND provider_time >= \(from) AND provider_time <= \(to)
            ORDER BY provider_time, seq
            """
        ).map(ProviderTransaction.init(row:))
    }

    public func insertProviderTransaction(_ transaction: ProviderTransaction) async throws {
        try await query(
            """
            INSERT INTO provider_transactions (id, provider, provider_transaction_id, payment_id, state, amount,
                provider_time, create_time, perform_time, cancel_time, reason, open_until, account, fiscal_data)
            VALUES (\(transaction.id), \(transaction.provider), \(transaction.providerTransactionID), \(transaction.paymentID),
                \(Int64(transaction.state)), \(transaction.amount), \(transaction.providerTime), \(transaction.createTime),
                \(transaction.performTime), \(transaction.cancelTime), \(transaction.reason.map(Int64.init)),
                \(transaction.openUntil), \(JSONValue.stringMap(transaction.account).serialized()),
                \(JSONValue.stringMap(transaction.fiscalData).serialized()))
            """
        )
    }

    /// Writes the mutable fields (state, times, reason, fiscal data) of a transaction.
    public func updateProviderTransaction(_ transaction: ProviderTransaction) async throws {
        try await query(
            """
            UPDATE provider_transactions SET state = \(Int64(transaction.state)), perform_time = \(transaction.performTime),
                cancel_time = \(transaction.cancelTime), reason = \(transaction.reason.map(Int64.init)),
                open_until = \(transaction.openUntil), fiscal_data = \(JSONValue.stringMap(transaction.fiscalData).serialized())
            WHERE id = \(transaction.id)
            """
        )
    }

    /// Records a full refund of a payment: the refund row and the payment's refunded amount. The caller writes the
    /// event and the audit entry in the same transaction.
    public func insertRefund(payment: Payment, reason: String, providerRefundID: String?, at: Date) async throws -> String {
        let id = Identifier.make("re")
        let amount = payment.amount.minorUnits - payment.amountRefunded
        try await query(
            """
            INSERT INTO refunds (id, payment_id, amount, currency, reason, provider_refund_id, created_at, mode, status, updated_at)
            VALUES (\(id), \(payment.id), \(amount), \(payment.amount.currency.code), \(reason), \(providerRefundID),
                \(UnixTime.milliseconds(at)), \(payment.mode.rawValue), 'succeeded', \(UnixTime.milliseconds(at)))
            """
        )
        try await query(
            """
            UPDATE payments SET amount_refunded = \(payment.amount.minorUnits), updated_at = \(UnixTime.milliseconds(at))
            WHERE id = \(payment.id)
            """
        )
        return id
    }

    /// Marks a payment's order fulfilled.
    public func markFulfilled(paymentID: String, at: Date) async throws {
        try await query(
            """
            UPDATE payments SET fulfilled_at = \(UnixTime.milliseconds(at)), updated_at = \(UnixTime.milliseconds(at))
            WHERE id = \(paymentID)
            """
        )
    }

    /// Stores `value` under `name`, replacing any value.
    public func setSetting(_ name: String, value: String, at: Date) async throws {
        try await query(
            """
            INSERT INTO settings (name, value, updated_at) VALUES (\(name), \(value), \(UnixTime.milliseconds(at)))
            ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at
            """
        )
    }
}

extension Store {
    /// A payment's provider transactions, oldest first (the sweep asks the provider what they mean).
    public func providerTransactions(paymentID: String) async throws -> [ProviderTransaction] {
        try await read { connection in
            try await connection.query("SELECT * FROM provider_transactions WHERE payment_id = \(paymentID) ORDER BY seq")
                .map(ProviderTransaction.init(row:))
        }
    }
}

extension ProviderTransaction {
    init(row: SQLRow) throws {
        func map(_ column: String) throws -> [String: String] {
            (try? JSONDecoder().decode([String: String].self, from: Data(try row.string(column).utf8))) ?? [:]
        }
        self.init(
            id: try row.string("id"), provider: try row.string("provider"),
            providerTransactionID: try row.string("provider_transaction_id"), paymentID: try row.string("payment_id"),
            state: Int(try row.int("state")), amount: try row.int("amount"), providerTime: try row.int("provider_time"),
            createTime: try row.int("create_time"), performTime: try row.int("perform_time"),
            cancelTime: try row.int("cancel_time"), reason: try row.optionalInt("reason").map(Int.init),
            openUntil: try row.optionalInt("open_until"), account: try map("account"), fiscalData: try map("fiscal_data")
        )
    }
}
