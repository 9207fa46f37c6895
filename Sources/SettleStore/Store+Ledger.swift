import Foundation
import SettleCore

/// Why the ledger refused a transfer; nothing was written.
public enum LedgerRefusal: Error, Sendable, Hashable {
    /// The source wallet may not go below zero and holds only `balance`.
    case insufficientFunds(account: String, balance: Int64)
    /// An account of the transfer does not exist.
    case unknownAccount(String)
    /// The accounts' currencies are not the transfer's.
    case currencyMismatch
}

extension StoreTransaction {
    public func insertWallet(_ wallet: Wallet) async throws {
        try await query(
            """
            INSERT INTO ledger_accounts (id, mode, kind, currency, reference, metadata, allow_negative, balance, created_at, updated_at)
            VALUES (\(wallet.id), \(wallet.mode.rawValue), 'wallet', \(wallet.currency.code), \(wallet.reference),
                \(JSONValue.stringMap(wallet.metadata).serialized()), \(wallet.allowNegative ? 1 : 0), 0,
                \(UnixTime.milliseconds(wallet.createdAt)), \(UnixTime.milliseconds(wallet.updatedAt)))
            """
        )
    }

    /// A wallet of `mode`, read in the transaction.
    public func wallet(id: String, mode: Mode) async throws -> Wallet? {
        try await query("SELECT * FROM ledger_accounts WHERE id = \(id) AND kind = 'wallet' AND mode = \(mode.rawValue)").first.map(Wallet.init(row:))
    }

    /// Creates a system account (money received or refunded through a provider, money spent) the first time it is used.
    public func ensureSystemAccount(_ id: String, mode: Mode, kind: String, currency: Currency, provider: String?, at: Date) async throws {
        try await query(
            """
            INSERT INTO ledger_accounts (id, mode, kind, currency, provider, metadata, allow_negative, balance, created_at, updated_at)
            VALUES (\(id), \(mode.rawValue), \(kind), \(currency.code), \(provider), '{}', 1, 0, \(UnixTime.milliseconds(at)), \(UnixTime.milliseconds(at)))
            ON CONFLICT (id) DO NOTHING
            """
        )
    }

    /// Writes `transfer` and its two entries, moving the two balances. A top-up (`kind == .topUp`) is keyed on its
    /// payment: a second credit of the same payment writes nothing and answers `nil`, whoever tries it, on whichever
    /// instance (the unique `credit_of_payment` decides, not a flag). Unless `force`, a wallet that may not go negative
    /// refuses with ``LedgerRefusal/insufficientFunds(account:balance:)``. Balances are updated in account-id order, so
    /// two opposite transfers never wait on each other. Answers the two balances after it (from, to).
    public func post(_ transfer: LedgerTransfer, force: Bool = false) async throws -> (from: Int64, to: Int64)? {
        let at = UnixTime.milliseconds(transfer.createdAt)
        let amount = transfer.amount.minorUnits
        let inserted = try await query(
            """
            INSERT INTO ledger_transfers (id, mode, kind, amount, currency, from_account, to_account, payment_id, refund_id, reference,
                description, metadata, credit_of_payment, created_at)
            VALUES (\(transfer.id), \(transfer.mode.rawValue), \(transfer.kind.rawValue), \(amount), \(transfer.amount.currency.code),
                \(transfer.from), \(transfer.to), \(transfer.paymentID), \(transfer.refundID), \(transfer.reference), \(transfer.description),
                \(JSONValue.stringMap(transfer.metadata).serialized()), \(transfer.kind == .topUp ? transfer.paymentID : nil), \(at))
            ON CONFLICT DO NOTHING RETURNING id
            """
        )
        guard !inserted.isEmpty else {
            if transfer.kind == .topUp { return nil }
            throw StoreError(.conflict, "A ledger transfer with this id exists.")
        }
        var balances: [String: Int64] = [:]
        for account in [transfer.from, transfer.to].sorted() {
            let debit = account == transfer.from
            let change = debit ? -amount : amount
            var guardClause: SQL = ""
            if debit && !force { guardClause = " AND (allow_negative = 1 OR balance >= \(amount))" }
            let rows = try await query(
                """
                UPDATE ledger_accounts SET balance = balance + \(change), updated_at = \(at)
                WHERE id = \(account) AND mode = \(transfer.mode.rawValue) AND currency = \(transfer.amount.currency.code)\(guardClause)
                RETURNING balance
                """
            )
            guard let balance = try rows.first?.int("balance") else {
                guard let row = try await query("SELECT balance, currency, mode FROM ledger_accounts WHERE id = \(account)").first,
                    try row.string("mode") == transfer.mode.rawValue
                else { throw LedgerRefusal.unknownAccount(account) }
                guard try row.string("currency") == transfer.amount.currency.code else { throw LedgerRefusal.currencyMismatch }
                throw LedgerRefusal.insufficientFunds(account: account, balance: try row.int("balance"))
            }
            balances[account] = balance
        }
        for (account, counter, change) in [(transfer.from, transfer.to, -amount), (transfer.to, transfer.from, amount)] {
            try await query(
                """
                INSERT INTO ledger_entries (id, transfer_id, account_id, amount, currency, balance_after, counter_account, created_at)
                VALUES (\(Identifier.make("ent")), \(transfer.id), \(account), \(change), \(transfer.amount.currency.code),
                    \(balances[account] ?? 0), \(counter), \(at))
                """
            )
        }
        return (balances[transfer.from] ?? 0, balances[transfer.to] ?? 0)
    }

    /// The top-up transfer that credited `paymentID`'s wallet, if any.
    public func topUpTransfer(paymentID: String) async throws -> LedgerTransfer? {
        try await query("SELECT * FROM ledger_transfers WHERE credit_of_payment = \(paymentID)").first.map(LedgerTransfer.init(row:))
    }

    /// The transfer of kind `kind` written for a refund, if any.
    public func refundTransfer(refundID: String, kind: TransferKind) async throws -> LedgerTransfer? {
        try await query("SELECT * FROM ledger_transfers WHERE refund_id = \(refundID) AND kind = \(kind.rawValue)").first.map(LedgerTransfer.init(row:))
    }

    /// An event about a ledger transfer (`wallet.credited`, `wallet.debited`, `transfer.created`), with its outbound
    /// messages.
    @discardableResult
    public func insertEvent(type eventType: EventType, transfer: LedgerTransfer, at: Date) async throws -> String {
        let id = Identifier.make("evt")
        let data = JSONValue.object([("object", transfer.apiObject)]).serialized()
        try await query(
            """
            INSERT INTO events (id, mode, type, payment_id, data, created_at)
            VALUES (\(id), \(transfer.mode.rawValue), \(eventType.rawValue), \(transfer.paymentID), \(data), \(UnixTime.milliseconds(at)))
            """
        )
        try await fanOut(eventID: id, type: eventType.rawValue, mode: transfer.mode, at: at)
        return id
    }
}

/// What `settle ledger verify` found: `nil` when every check holds.
public struct LedgerDiscrepancy: Sendable, Hashable, CustomStringConvertible {
    public var description: String
}

extension Store {
    public func wallet(id: String, mode: Mode) async throws -> Wallet? {
        try await read { connection in
            guard var wallet = try await connection.query(
                "SELECT * FROM ledger_accounts WHERE id = \(id) AND kind = 'wallet' AND mode = \(mode.rawValue)"
            ).first.map(Wallet.init(row:)) else { return nil }
            wallet.pendingTopUps = try await connection.query(
                "SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) AS n FROM payments WHERE wallet_id = \(id) AND status IN ('requires_action', 'processing', 'requires_review')"
            ).first?.int("n") ?? 0
            return wallet
        }
    }

    /// Wallets of `mode`, newest first, optionally of one reference; `startingAfter` is a wallet id.
    public func wallets(mode: Mode, reference: String?, limit: Int, startingAfter: String?) async throws -> (wallets: [Wallet], hasMore: Bool) {
        try await read { connection in
            var sql: SQL = "SELECT * FROM ledger_accounts WHERE kind = 'wallet' AND mode = \(mode.rawValue)"
            if let reference { sql = sql + " AND reference = \(reference)" }
            if let startingAfter { sql = sql + " AND seq < (SELECT seq FROM ledger_accounts WHERE id = \(startingAfter))" }
            sql = sql + " ORDER BY seq DESC LIMIT \(limit + 1)"
            let rows = try await connection.query(sql)
            return (try rows.prefix(limit).map(Wallet.init(row:)), rows.count > limit)
        }
    }

    /// One account's entries, newest first, each with its transfer's kind, payment, reference and description.
    public func ledgerEntries(accountID: String, limit: Int, startingAfter: String?) async throws -> (entries: [LedgerEntry], hasMore: Bool) {
        try await read { connection in
            var sql: SQL = """
                SELECT e.*, t.kind, t.payment_id, t.reference, t.description FROM ledger_entries e
                JOIN ledger_transfers t ON t.id = e.transfer_id WHERE e.account_id = \(accountID)
                """
            if let startingAfter { sql = sql + " AND e.seq < (SELECT seq FROM ledger_entries WHERE id = \(startingAfter))" }
            sql = sql + " ORDER BY e.seq DESC LIMIT \(limit + 1)"
            let rows = try await connection.query(sql)
            return (try rows.prefix(limit).map(LedgerEntry.init(row:)), rows.count > limit)
        }
    }

    public func ledgerTransfer(id: String, mode: Mode) async throws -> LedgerTransfer? {
        try await read { connection in
            try await connection.query("SELECT * FROM ledger_transfers WHERE id = \(id) AND mode = \(mode.rawValue)").first.map(LedgerTransfer.init(row:))
        }
    }

    /// Recomputes the ledger from its entries and answers the first thing that does not hold: a transfer whose entries
    /// are not exactly two summing to zero for its amount; an account whose balance is not the sum of its entries, or
    /// whose last entry shows another balance; a wallet below zero that may not be; a succeeded top-up without exactly
    /// one credit, or a credit for a payment that did not succeed.
    public func verifyLedger() async throws -> LedgerDiscrepancy? {
        try await read { connection in
            if let row = try await connection.query(
                """
                SELECT t.id, COUNT(e.id) AS n, CAST(COALESCE(SUM(e.amount), 0) AS BIGINT) AS total FROM ledger_transfers t
                LEFT JOIN ledger_entries e ON e.transfer_id = t.id
                GROUP BY t.id, t.amount, t.from_account, t.to_account, t.currency
                HAVING COUNT(e.id) <> 2 OR COALESCE(SUM(e.amount), 0) <> 0
                    OR COALESCE(MAX(CASE WHEN e.account_id = t.to_account AND e.currency = t.currency THEN e.amount END), 0) <> t.amount
                    OR COALESCE(MIN(CASE WHEN e.account_id = t.from_account AND e.currency = t.currency THEN e.amount END), 0) <> -t.amount
                ORDER BY t.id LIMIT 1
                """
            ).first {
                return LedgerDiscrepancy(
                    description: "transfer \(try row.string("id")) has \(try row.int("n")) entries summing to \(try row.int("total")), not two that move its amount and sum to zero"
                )
            }
            if let row = try await connection.query(
                """
                SELECT a.id, a.balance, CAST(COALESCE(SUM(e.amount), 0) AS BIGINT) AS total FROM ledger_accounts a
                LEFT JOIN ledger_entries e ON e.account_id = a.id
                GROUP BY a.id, a.balance HAVING a.balance <> COALESCE(SUM(e.amount), 0) ORDER BY a.id LIMIT 1
                """
            ).first {
                return LedgerDiscrepancy(
                    description: "account \(try row.string("id")) shows a balance of \(try row.int("balance")) but its entries sum to \(try row.int("total"))"
                )
            }
            if let row = try await connection.query(
                """
                SELECT a.id, a.balance, e.balance_after FROM ledger_accounts a
                JOIN ledger_entries e ON e.seq = (SELECT MAX(seq) FROM ledger_entries WHERE account_id = a.id)
                WHERE e.balance_after <> a.balance ORDER BY a.id LIMIT 1
                """
            ).first {
                return LedgerDiscrepancy(
                    description: "account \(try row.string("id")) shows a balance of \(try row.int("balance")) but its last entry left \(try row.int("balance_after"))"
                )
            }
            // Only a refund of a top-up, explicitly allowed, may take a wallet that may not go negative below zero.
            if let row = try await connection.query(
                """
                SELECT a.id, e.balance_after, t.kind FROM ledger_entries e JOIN ledger_accounts a ON a.id = e.account_id
                JOIN ledger_transfers t ON t.id = e.transfer_id
                WHERE a.kind = 'wallet' AND a.allow_negative = 0 AND e.amount < 0 AND e.balance_after < 0 AND t.kind <> 'refund'
                ORDER BY e.seq LIMIT 1
                """
            ).first {
                return LedgerDiscrepancy(
                    description: "wallet \(try row.string("id")) went to \(try row.int("balance_after")) by a \(try row.string("kind")), but may not go below zero"
                )
            }
            if let row = try await connection.query(
                """
                SELECT p.id, COUNT(t.id) AS n FROM payments p LEFT JOIN ledger_transfers t ON t.payment_id = p.id AND t.kind = 'top_up'
                WHERE p.wallet_id IS NOT NULL AND p.status = 'succeeded' GROUP BY p.id HAVING COUNT(t.id) <> 1 ORDER BY p.id LIMIT 1
                """
            ).first {
                return LedgerDiscrepancy(description: "succeeded top-up \(try row.string("id")) has \(try row.int("n")) credits, not one")
            }
            if let row = try await connection.query(
                """
                SELECT t.id, t.payment_id FROM ledger_transfers t LEFT JOIN payments p ON p.id = t.payment_id
                WHERE t.kind = 'top_up' AND (p.id IS NULL OR p.status <> 'succeeded' OR p.wallet_id IS NULL OR p.wallet_id <> t.to_account
                    OR p.amount <> t.amount)
                ORDER BY t.id LIMIT 1
                """
            ).first {
                return LedgerDiscrepancy(
                    description: "credit \(try row.string("id")) is for payment \(try row.optionalString("payment_id") ?? "?"), which did not succeed as a top-up of that wallet and amount"
                )
            }
            return nil
        }
    }
}

extension Wallet {
    init(row: SQLRow) throws {
        guard let currency = Currency.lookup(try row.string("currency")), let mode = Mode(rawValue: try row.string("mode")) else {
            throw StoreError(.decoding, "Stored wallet has an unknown currency or mode.")
        }
        let metadata = (try? JSONDecoder().decode([String: String].self, from: Data(try row.string("metadata").utf8))) ?? [:]
        self.init(
            id: try row.string("id"), mode: mode, reference: try row.optionalString("reference") ?? "", currency: currency,
            balance: try row.int("balance"), allowNegative: try row.int("allow_negative") == 1, metadata: metadata,
            createdAt: UnixTime.date(milliseconds: try row.int("created_at")), updatedAt: UnixTime.date(milliseconds: try row.int("updated_at"))
        )
    }
}

extension LedgerTransfer {
    init(row: SQLRow) throws {
        guard let currency = Currency.lookup(try row.string("currency")), let mode = Mode(rawValue: try row.string("mode")),
            let kind = TransferKind(rawValue: try row.string("kind"))
        else { throw StoreError(.decoding, "Stored transfer has an unknown currency, mode or kind.") }
        let metadata = (try? JSONDecoder().decode([String: String].self, from: Data(try row.string("metadata").utf8))) ?? [:]
        self.init(
            id: try row.string("id"), mode: mode, kind: kind, amount: Money(minorUnits: try row.int("amount"), currency: currency),
            from: try row.string("from_account"), to: try row.string("to_account"), paymentID: try row.optionalString("payment_id"),
            refundID: try row.optionalString("refund_id"), reference: try row.optionalString("reference"),
            description: try row.optionalString("description"), metadata: metadata, createdAt: UnixTime.date(milliseconds: try row.int("created_at"))
        )
    }
}

extension LedgerEntry {
    init(row: SQLRow) throws {
        guard let currency = Currency.lookup(try row.string("currency")), let kind = TransferKind(rawValue: try row.string("kind")) else {
            throw StoreError(.decoding, "Stored entry has an unknown currency or kind.")
        }
        self.init(
            id: try row.string("id"), transferID: try row.string("transfer_id"), accountID: try row.string("account_id"), kind: kind,
            amount: Money(minorUnits: try row.int("amount"), currency: currency), balanceAfter: try row.int("balance_after"),
            counterAccount: try row.string("counter_account"), paymentID: try row.optionalString("payment_id"),
            reference: try row.optionalString("reference"), description: try row.optionalString("description"),
            createdAt: UnixTime.date(milliseconds: try row.int("created_at"))
        )
    }
}
