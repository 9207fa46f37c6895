import Foundation
import Logging
import SettleCore
import SettleStore

/// Wallets and their double-entry ledger.
///
/// Every movement is a ``LedgerTransfer``: two entries that sum to zero, written with the transfer, its event, its audit
/// entry and its outbound messages in one transaction, and never changed. A wallet's balance changes only with an
/// entry, and a debit is a conditional update of the balance (`balance >= amount` unless the wallet may go negative),
/// so 100 concurrent debits on several instances can never together overdraw it. A top-up payment credits its wallet
/// in the very transaction that makes it succeed (``creditTopUp(_:actor:requestID:at:in:)``, called by the payment's
/// one transition path), keyed by a unique constraint on the payment: however many times and wherever the success is
/// reported, there is one credit.
public struct WalletService: Sendable {
    let store: Store
    let limits: PaymentLimits
    let now: @Sendable () -> Date
    let logger: Logger

    public init(store: Store, limits: PaymentLimits = PaymentLimits(), now: @escaping @Sendable () -> Date = { Date() }, logger: Logger) {
        self.store = store
        self.limits = limits
        self.now = now
        self.logger = logger
    }

    public struct CreateRequest: Sendable {
        public var reference: String
        public var currency: String
        public var metadata: [String: String]
        public var allowNegative: Bool

        public init(reference: String, currency: String, metadata: [String: String] = [:], allowNegative: Bool = false) {
            self.reference = reference
            self.currency = currency
            self.metadata = metadata
            self.allowNegative = allowNegative
        }
    }

    public func create(_ request: CreateRequest, caller: Caller, idempotency: IdempotencyScope?) async throws(SettleError) -> Wallet {
        try Self.validate(reference: request.reference, param: "reference")
        guard let currency = Currency.lookup(request.currency.uppercased()), request.currency.uppercased() == request.currency else {
            throw SettleError.invalid("currency", "currency must be an upper-case ISO 4217 code Settle knows, such as COP or THB.", code: .currencyInvalid)
        }
        try PaymentService.validate(metadata: request.metadata)
        let at = now()
        let wallet = Wallet(
            id: Identifier.make("wal"), mode: caller.mode, reference: request.reference, currency: currency, allowNegative: request.allowNegative,
            metadata: request.metadata, createdAt: at, updatedAt: at
        )
        try await store.perform({ tx in
            try await tx.insertWallet(wallet)
            try await tx.appendAudit(
                AuditRecord(
                    actorKind: caller.actorKind, actorID: caller.apiKeyID, action: .walletCreated, targetType: .wallet, targetID: wallet.id,
                    after: .object([
                        ("reference", .string(wallet.reference)), ("currency", .string(currency.code)), ("allow_negative", .bool(wallet.allowNegative)),
                    ]),
                    requestID: caller.requestID, at: at
                )
            )
            if let idempotency { try await tx.completeIdempotencyKey(idempotency, status: 201, body: wallet.apiObject.bytes()) }
        }, logger: logger)
        return wallet
    }

    public func wallet(id: String, mode: Mode) async throws(SettleError) -> Wallet {
        let found = try await store.fetch({ try await store.wallet(id: id, mode: mode) }, logger: logger)
        guard let found else { throw SettleError.notFound(.wallet, id: id) }
        return found
    }

    public func list(mode: Mode, reference: String?, limit: Int, startingAfter: String?) async throws(SettleError) -> (wallets: [Wallet], hasMore: Bool) {
        try await store.fetch({ try await store.wallets(mode: mode, reference: reference, limit: limit, startingAfter: startingAfter) }, logger: logger)
    }

    public func entries(walletID: String, mode: Mode, limit: Int, startingAfter: String?) async throws(SettleError)
        -> (entries: [LedgerEntry], hasMore: Bool)
    {
        _ = try await wallet(id: walletID, mode: mode)
        return try await store.fetch({ try await store.ledgerEntries(accountID: walletID, limit: limit, startingAfter: startingAfter) }, logger: logger)
    }

    public func transfer(id: String, mode: Mode) async throws(SettleError) -> LedgerTransfer {
        let found = try await store.fetch({ try await store.ledgerTransfer(id: id, mode: mode) }, logger: logger)
        guard let found else { throw SettleError.notFound(.transfer, id: id) }
        return found
    }

    public struct MoveRequest: Sendable {
        public var amount: Int64
        public var reference: String
        public var description: String?
        public var metadata: [String: String]

        public init(amount: Int64, reference: String, description: String? = nil, metadata: [String: String] = [:]) {
            self.amount = amount
            self.reference = reference
            self.description = description
            self.metadata = metadata
        }
    }

    /// Spends from a wallet: refused with `402 insufficient_funds`, naming the balance, when it would go below zero.
    public func debit(walletID: String, _ request: MoveRequest, caller: Caller, idempotency: IdempotencyScope?) async throws(SettleError)
        -> LedgerTransfer
    {
        try validate(request)
        let at = now()
        return try await store.perform({ tx in
            guard let wallet = try await tx.wallet(id: walletID, mode: caller.mode) else { throw SettleError.notFound(.wallet, id: walletID) }
            let spent = SystemAccount.spent(mode: wallet.mode, currency: wallet.currency)
            try await tx.ensureSystemAccount(spent, mode: wallet.mode, kind: "spent", currency: wallet.currency, provider: nil, at: at)
            let transfer = LedgerTransfer(
                id: Identifier.make("tr"), mode: wallet.mode, kind: .debit, amount: Money(minorUnits: request.amount, currency: wallet.currency),
                from: wallet.id, to: spent, reference: request.reference, description: request.description, metadata: request.metadata, createdAt: at
            )
            try await Self.record(transfer, event: .walletDebited, actor: caller.actor, requestID: caller.requestID, in: tx)
            if let idempotency { try await tx.completeIdempotencyKey(idempotency, status: 201, body: transfer.apiObject.bytes()) }
            return transfer
        }, logger: logger)
    }

    /// Moves money between two wallets of one currency and mode.
    public func transfer(from: String, to: String, _ request: MoveRequest, caller: Caller, idempotency: IdempotencyScope?) async throws(SettleError)
        -> LedgerTransfer
    {
        try validate(request)
        guard from != to else { throw SettleError(.sameWallet, "from and to are the same wallet; a transfer moves money between two.", param: "to") }
        let at = now()
        return try await store.perform({ tx in
            guard let source = try await tx.wallet(id: from, mode: caller.mode) else {
                throw SettleError(.walletNotFound, "No wallet with id \(Text.echo(from, limit: 64)).", param: "from")
            }
            guard let target = try await tx.wallet(id: to, mode: caller.mode) else {
                throw SettleError(.walletNotFound, "No wallet with id \(Text.echo(to, limit: 64)).", param: "to")
            }
            guard source.currency == target.currency else {
                throw SettleError(
                    .walletCurrency, "Wallet \(source.id) holds \(source.currency.code) and wallet \(target.id) holds \(target.currency.code); a transfer stays in one currency.",
                    param: "to"
                )
            }
            let transfer = LedgerTransfer(
                id: Identifier.make("tr"), mode: source.mode, kind: .transfer, amount: Money(minorUnits: request.amount, currency: source.currency),
                from: source.id, to: target.id, reference: request.reference, description: request.description, metadata: request.metadata,
                createdAt: at
            )
            try await Self.record(transfer, event: .transferCreated, actor: caller.actor, requestID: caller.requestID, in: tx)
            if let idempotency { try await tx.completeIdempotencyKey(idempotency, status: 201, body: transfer.apiObject.bytes()) }
            return transfer
        }, logger: logger)
    }

    func validate(_ request: MoveRequest) throws(SettleError) {
        guard request.amount > 0 else { throw SettleError.invalid("amount", "amount must be a positive integer in minor units.", code: .amountInvalid) }
        guard request.amount <= limits.maximumAmount else {
            throw SettleError.invalid("amount", "amount must be at most \(limits.maximumAmount) minor units.", code: .amountTooLarge)
        }
        try Self.validate(reference: request.reference, param: "reference")
        if let description = request.description, description.utf8.count > 500 || Text.hasControlCharacters(description) {
            throw SettleError.invalid("description", "description must be at most 500 bytes of text.")
        }
        try PaymentService.validate(metadata: request.metadata)
    }

    static func validate(reference: String, param: String) throws(SettleError) {
        guard !reference.isEmpty, reference.utf8.count <= 200, !Text.hasControlCharacters(reference) else {
            throw SettleError.invalid(param, "\(param) must be 1 to 200 bytes of text.")
        }
    }

    // MARK: - Inside other use cases' transactions

    /// Writes a transfer with its event and audit entry, turning the ledger's refusals into the merchant's errors.
    /// `nil` when it was a second credit of one top-up (nothing written).
    @discardableResult
    static func record(
        _ transfer: LedgerTransfer, event: EventType, actor: PaymentLedger.Actor, requestID: String?, force: Bool = false, in tx: StoreTransaction
    ) async throws -> (from: Int64, to: Int64)? {
        let balances: (from: Int64, to: Int64)?
        do {
            balances = try await tx.post(transfer, force: force)
        } catch LedgerRefusal.insufficientFunds(let account, let balance) {
            let money = Money(minorUnits: balance, currency: transfer.amount.currency)
            throw SettleError(
                .insufficientFunds,
                "Wallet \(account) holds \(balance) (\(money.formatted())), less than \(transfer.amount.minorUnits) (\(transfer.amount.formatted())); nothing was moved.",
                param: "amount"
            )
        } catch LedgerRefusal.currencyMismatch {
            throw SettleError(.walletCurrency, "The wallet holds another currency than \(transfer.amount.currency.code).", param: "currency")
        } catch LedgerRefusal.unknownAccount(let account) {
            throw SettleError(.walletNotFound, "No wallet with id \(Text.echo(account, limit: 64)).", param: "wallet")
        }
        guard let balances else { return nil }
        let eventID = try await tx.insertEvent(type: event, transfer: transfer, at: transfer.createdAt)
        try await tx.appendAudit(
            AuditRecord(
                actorKind: actor.kind, actorID: actor.id, action: .ledgerTransfer(transfer.kind), targetType: .transfer, targetID: transfer.id,
                after: .object([
                    ("from", .string(transfer.from)), ("to", .string(transfer.to)), ("amount", .int(transfer.amount.minorUnits)),
                    ("currency", .string(transfer.amount.currency.code)), ("from_balance", .int(balances.from)), ("to_balance", .int(balances.to)),
                    ("payment", .string(transfer.paymentID)), ("refund", .string(transfer.refundID)), ("event", .string(eventID)),
                ]),
                requestID: requestID, at: transfer.createdAt
            )
        )
        return balances
    }

    /// Credits a succeeded top-up's wallet, once: called by the payment's transition to `succeeded`, in its transaction.
    static func creditTopUp(_ payment: Payment, actor: PaymentLedger.Actor, requestID: String?, at: Date, in tx: StoreTransaction) async throws {
        guard let walletID = payment.walletID else { return }
        let received = SystemAccount.received(mode: payment.mode, provider: payment.provider, currency: payment.amount.currency)
        try await tx.ensureSystemAccount(received, mode: payment.mode, kind: "received", currency: payment.amount.currency, provider: payment.provider, at: at)
        let transfer = LedgerTransfer(
            id: Identifier.make("tr"), mode: payment.mode, kind: .topUp, amount: payment.amount, from: received, to: walletID, paymentID: payment.id,
            reference: payment.reference, description: payment.description, createdAt: at
        )
        try await record(transfer, event: .walletCredited, actor: actor, requestID: requestID, in: tx)
    }

    /// Takes a refund of a top-up back out of its wallet, before the provider is asked: refused when the balance no
    /// longer covers it, unless `allowNegative` (or `force`: the provider already returned the money).
    static func debitForRefund(
        _ refund: Refund, of payment: Payment, allowNegative: Bool, force: Bool = false, actor: PaymentLedger.Actor, requestID: String?, at: Date,
        in tx: StoreTransaction
    ) async throws {
        guard let walletID = payment.walletID, try await tx.topUpTransfer(paymentID: payment.id) != nil else { return }
        let refunded = SystemAccount.refunded(mode: payment.mode, provider: payment.provider, currency: payment.amount.currency)
        try await tx.ensureSystemAccount(refunded, mode: payment.mode, kind: "refunded", currency: payment.amount.currency, provider: payment.provider, at: at)
        let transfer = LedgerTransfer(
            id: Identifier.make("tr"), mode: payment.mode, kind: .refund, amount: refund.amount, from: walletID, to: refunded, paymentID: payment.id,
            refundID: refund.id, reference: payment.reference, description: "refund \(refund.id) of top-up \(payment.id)", createdAt: at
        )
        do {
            try await record(transfer, event: .walletDebited, actor: actor, requestID: requestID, force: force || allowNegative, in: tx)
        } catch let error as SettleError where error.code == .insufficientFunds {
            throw SettleError(
                .insufficientFunds,
                "Payment \(payment.id) topped up wallet \(walletID), whose balance no longer covers this refund; nothing was refunded. \(error.message) Send allow_negative: true to refund anyway, leaving the wallet negative.",
                param: "amount"
            )
        }
    }

    /// Gives a wallet back what a refund of its top-up took, when that refund failed or was canceled.
    static func reverseRefund(_ refund: Refund, actor: PaymentLedger.Actor, requestID: String?, at: Date, in tx: StoreTransaction) async throws {
        guard let taken = try await tx.refundTransfer(refundID: refund.id, kind: .refund),
            try await tx.refundTransfer(refundID: refund.id, kind: .refundReversal) == nil
        else { return }
        let transfer = LedgerTransfer(
            id: Identifier.make("tr"), mode: taken.mode, kind: .refundReversal, amount: taken.amount, from: taken.to, to: taken.from,
            paymentID: taken.paymentID, refundID: refund.id, reference: taken.reference, description: "refund \(refund.id) did not happen", createdAt: at
        )
        try await record(transfer, event: .walletCredited, actor: actor, requestID: requestID, force: true, in: tx)
    }
}
