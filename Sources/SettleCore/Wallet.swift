import Foundation

/// A customer's balance in one currency, kept by Settle's double-entry ledger: it changes only with entries, each half
/// of a transfer whose two entries sum to zero. It never goes below zero unless it was created allowing it.
public struct Wallet: Sendable, Hashable {
    public var id: String
    public var mode: Mode
    /// The merchant's customer id.
    public var reference: String
    public var currency: Currency
    /// Minor units.
    public var balance: Int64
    public var allowNegative: Bool
    public var metadata: [String: String]
    public var createdAt: Date
    public var updatedAt: Date
    /// The amounts of the wallet's top-up payments that are not final yet (computed when read, never stored).
    public var pendingTopUps: Int64

    public init(
        id: String, mode: Mode, reference: String, currency: Currency, balance: Int64 = 0, allowNegative: Bool = false,
        metadata: [String: String] = [:], createdAt: Date, updatedAt: Date, pendingTopUps: Int64 = 0
    ) {
        self.id = id
        self.mode = mode
        self.reference = reference
        self.currency = currency
        self.balance = balance
        self.allowNegative = allowNegative
        self.metadata = metadata
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.pendingTopUps = pendingTopUps
    }

    public var apiObject: JSONValue {
        .object([
            ("id", .string(id)), ("object", .string("wallet")), ("reference", .string(reference)), ("currency", .string(currency.code)),
            ("balance", .int(balance)), ("pending_top_ups", .int(pendingTopUps)), ("allow_negative", .bool(allowNegative)),
            ("metadata", .stringMap(metadata)), ("created_at", .int(UnixTime.seconds(createdAt))), ("updated_at", .int(UnixTime.seconds(updatedAt))),
            ("livemode", .bool(mode.isLive)),
        ])
    }
}

/// Why money moved between two ledger accounts.
public enum TransferKind: String, Sendable, Hashable, CaseIterable, Codable {
    /// A succeeded top-up payment credits its wallet (from the provider's "received" account), once per payment.
    case topUp = "top_up"
    /// The merchant spent from a wallet (to the "spent" account of its currency).
    case debit
    /// From one wallet to another of the same currency.
    case transfer
    /// A refund of a top-up takes its amount back out of the wallet (to the provider's "refunded" account).
    case refund
    /// A refund of a top-up that failed gives the wallet its amount back.
    case refundReversal = "refund_reversal"
}

/// The ledger's accounts that are not wallets: per mode, provider (or none) and currency.
public enum SystemAccount {
    /// Money that came in through a provider (the counter-account of top-ups).
    public static func received(mode: Mode, provider: String, currency: Currency) -> String {
        "acct_\(mode.rawValue)_\(provider)_received_\(currency.code.lowercased())"
    }

    /// Money that went back to buyers through a provider (the counter-account of refunds of top-ups).
    public static func refunded(mode: Mode, provider: String, currency: Currency) -> String {
        "acct_\(mode.rawValue)_\(provider)_refunded_\(currency.code.lowercased())"
    }

    /// Money spent from wallets (the counter-account of debits).
    public static func spent(mode: Mode, currency: Currency) -> String {
        "acct_\(mode.rawValue)_spent_\(currency.code.lowercased())"
    }
}

/// One movement of an amount in one currency from one account to another: two entries that sum to zero, written in
/// one transaction and never changed (a correction is a new transfer).
public struct LedgerTransfer: Sendable, Hashable {
    public var id: String
    public var mode: Mode
    public var kind: TransferKind
    /// Minor units, more than zero.
    public var amount: Money
    public var from: String
    public var to: String
    /// The top-up payment, or the payment a refund belongs to.
    public var paymentID: String?
    public var refundID: String?
    public var reference: String?
    public var description: String?
    public var metadata: [String: String]
    public var createdAt: Date

    public init(
        id: String, mode: Mode, kind: TransferKind, amount: Money, from: String, to: String, paymentID: String? = nil, refundID: String? = nil,
        reference: String? = nil, description: String? = nil, metadata: [String: String] = [:], createdAt: Date
    ) {
        self.id = id
        self.mode = mode
        self.kind = kind
        self.amount = amount
        self.from = from
        self.to = to
        self.paymentID = paymentID
        self.refundID = refundID
        self.reference = reference
        self.description = description
        self.metadata = metadata
        self.createdAt = createdAt
    }

    public var apiObject: JSONValue {
        .object([
            ("id", .string(id)), ("object", .string("transfer")), ("kind", .string(kind.rawValue)), ("amount", .int(amount.minorUnits)),
            ("currency", .string(amount.currency.code)), ("from", .string(from)), ("to", .string(to)), ("payment", .string(paymentID)),
            ("refund", .string(refundID)), ("reference", .string(reference)), ("description", .string(description)),
            ("metadata", .stringMap(metadata)), ("created_at", .int(UnixTime.seconds(createdAt))), ("livemode", .bool(mode.isLive)),
        ])
    }
}

/// One half of a transfer, on one account: signed (a credit is positive), with the account's balance right after it.
public struct LedgerEntry: Sendable, Hashable {
    public var id: String
    public var transferID: String
    public var accountID: String
    public var kind: TransferKind
    public var amount: Money
    public var balanceAfter: Int64
    public var counterAccount: String
    public var paymentID: String?
    public var reference: String?
    public var description: String?
    public var createdAt: Date

    public init(
        id: String, transferID: String, accountID: String, kind: TransferKind, amount: Money, balanceAfter: Int64, counterAccount: String,
        paymentID: String?, reference: String?, description: String?, createdAt: Date
    ) {
        self.id = id
        self.transferID = transferID
        self.accountID = accountID
        self.kind = kind
        self.amount = amount
        self.balanceAfter = balanceAfter
        self.counterAccount = counterAccount
        self.paymentID = paymentID
        self.reference = reference
        self.description = description
        self.createdAt = createdAt
    }

    public var apiObject: JSONValue {
        .object([
            ("id", .string(id)), ("object", .string("ledger_entry")), ("transfer", .string(transferID)), ("kind", .string(kind.rawValue)),
            ("amount", .int(amount.minorUnits)), ("currency", .string(amount.currency.code)), ("balance_after", .int(balanceAfter)),
            ("counter_account", .string(counterAccount)), ("payment", .string(paymentID)), ("reference", .string(reference)),
            ("description", .string(description)), ("created_at", .int(UnixTime.seconds(createdAt))),
        ])
    }
}
