import Foundation
import Logging
import SettleCore
import SettleProviders
import SettleStore

/// Money back: refunds of succeeded payments, through each provider's refund API, or an operator where there is none.
///
/// A refund is asked for in one transaction that locks its payment and checks, against every refund that holds part of
/// the amount (pending, succeeded, waiting for an operator), that it fits: so concurrent requests on several
/// instances never together exceed the payment. Then the provider is called, outside any transaction, with the
/// refund's idempotency key; its answer is applied through ``RefundStateMachine`` in a second transaction, with the
/// refund's event, audit entry and outbound message, and the payment's `amount_refunded`. A provider that refuses
/// fails the refund; one that cannot be reached leaves it pending. Notifications about a refund (the sandbox's, a
/// provider confirming a pending one) go through ``apply(_:to:actor:failure:at:in:)``, the same path.
public struct RefundService: Sendable {
    let store: Store
    let providers: ProviderRegistry
    let now: @Sendable () -> Date
    let logger: Logger

    public init(store: Store, providers: ProviderRegistry, now: @escaping @Sendable () -> Date = { Date() }, logger: Logger) {
        self.store = store
        self.providers = providers
        self.now = now
        self.logger = logger
    }

    public struct CreateRequest: Sendable {
        public var paymentID: String
        /// Minor units; `nil`: all that remains.
        public var amount: Int64?
        public var reason: String?
        public var metadata: [String: String]
        /// For a top-up: refund even when its wallet's balance no longer covers it (the wallet goes negative).
        public var allowNegative: Bool

        public init(paymentID: String, amount: Int64? = nil, reason: String? = nil, metadata: [String: String] = [:], allowNegative: Bool = false) {
            self.paymentID = paymentID
            self.amount = amount
            self.reason = reason
            self.metadata = metadata
            self.allowNegative = allowNegative
        }
    }

    public func create(_ request: CreateRequest, caller: Caller, idempotency: IdempotencyScope?) async throws(SettleError) -> (status: Int, refund: Refund) {
        let reason = request.reason ?? "requested_by_customer"
        guard Refund.reasons.contains(reason) else {
            throw SettleError.invalid("reason", "reason must be one of \(Refund.reasons.joined(separator: ", ")).")
        }
        try PaymentService.validate(metadata: request.metadata)
        if let amount = request.amount, amount <= 0 {
            throw SettleError.invalid("amount", "amount must be a positive integer in minor units.", code: .amountInvalid)
        }
        let at = now()
        let id = Identifier.make("re")
        let logger = self.logger
        let stored = try await store.fetch({ try await store.payment(id: request.paymentID) }, logger: logger)
        guard let stored, stored.mode == caller.mode else { throw SettleError.notFound(.payment, id: request.paymentID) }
        guard let provider = providers.provider(named: stored.provider), provider.availability.isEnabled else {
            throw SettleError(.providerDisabled, "The \(stored.provider) provider is disabled; nothing was refunded.", status: 400)
        }
        if stored.status == .succeeded,
            let refusal = provider.refundRefusal(for: stored, amount: request.amount ?? stored.amount.minorUnits - stored.amountRefunded)
        {
            throw SettleError(.refundNotSupported, refusal, param: request.amount == nil ? nil : "amount")
        }
        let (payment, pending) = try await store.perform({ tx -> (Payment, Refund) in
            guard let payment = try await tx.lockPayment(id: request.paymentID), payment.mode == caller.mode else {
                throw SettleError.notFound(.payment, id: request.paymentID)
            }
            guard payment.status == .succeeded, payment.amountRefunded < payment.amount.minorUnits else {
                throw SettleError(
                    .paymentNotRefundable,
                    "Payment \(payment.id) is \(payment.amountRefunded >= payment.amount.minorUnits && payment.status == .succeeded ? "fully refunded" : payment.status.rawValue); only a succeeded payment with something left to refund can be refunded."
                )
            }
            let held = try await tx.heldRefundAmount(paymentID: payment.id)
            let remaining = payment.amount.minorUnits - held
            let amount = request.amount ?? remaining
            guard remaining > 0, amount <= remaining else {
                throw SettleError(
                    .amountTooLarge,
                    "amount \(amount) is more than what remains to refund of payment \(payment.id): \(max(0, remaining)) (\(Money(minorUnits: max(0, remaining), currency: payment.amount.currency).formatted())).",
                    param: "amount"
                )
            }
            let refund = Refund(
                id: id, mode: payment.mode, paymentID: payment.id, amount: Money(minorUnits: amount, currency: payment.amount.currency),
                status: .pending, reason: reason, metadata: request.metadata, createdAt: at, updatedAt: at
            )
            try await tx.insertRefund(refund)
            // A top-up's refund leaves its wallet first: refused here, before the provider is asked, if it no longer fits.
            try await WalletService.debitForRefund(
                refund, of: payment, allowNegative: request.allowNegative, actor: caller.actor, requestID: caller.requestID, at: at, in: tx
            )
            let eventID = try await tx.insertEvent(type: .refundCreated, refund: refund, at: at)
            try await tx.appendAudit(
                AuditRecord(
                    actorKind: caller.actorKind, actorID: caller.apiKeyID, action: .refundCreated, targetType: .refund, targetID: id,
                    after: .object([("payment", .string(payment.id)), ("amount", .int(amount)), ("reason", .string(reason)), ("event", .string(eventID))]),
                    requestID: caller.requestID, at: at
                )
            )
            // The key is done from here: a retry, even if what follows fails, answers this refund and never asks the
            // provider for a second one. It is completed again below with the refund's outcome.
            if let idempotency { try await tx.completeIdempotencyKey(idempotency, status: 201, body: refund.apiObject.bytes()) }
            return (payment, refund)
        }, logger: logger)
        let refund = try await ask(provider, about: pending, of: payment, requestID: caller.requestID, idempotency: idempotency)
        return (201, refund)
    }

    /// Asks the provider to make a pending refund (with the refund's own idempotency key, so asking again never
    /// refunds twice) and applies its answer. A provider that cannot be reached leaves the refund pending.
    func ask(_ provider: any PaymentProvider, about pending: Refund, of payment: Payment, requestID: String?, idempotency: IdempotencyScope?)
        async throws(SettleError) -> Refund
    {
        let id = pending.id
        let input: RefundStateMachine.Input
        var providerRefundID: String?
        var failure: PaymentFailure?
        do {
            switch try await provider.refund(
                ProviderRefundRequest(payment: payment, refundID: id, amount: pending.amount, reason: pending.reason, idempotencyKey: "settle_\(id)")
            ) {
            case .succeeded(let refundID):
                (input, providerRefundID) = (.providerSucceeded, refundID)
            case .pending(let refundID):
                (input, providerRefundID) = (.providerPending, refundID)
            case .requiresAction(let why):
                input = .noRefundAPI
                failure = PaymentFailure(code: "no_refund_api", message: why)
            }
        } catch where error.code == .rejected || error.code == .unsupported {
            input = .providerFailed
            failure = PaymentFailure(code: error.providerCode ?? error.code.description, message: error.message)
        } catch {
            // The provider could not be asked: whether it refunded is unknown, so the refund stays pending (the sweep
            // asks again, with the same key).
            logger.notice("refund left pending: the provider could not be asked", metadata: ["refund": "\(id)", "code": "\(error.code)"])
            input = .providerPending
        }
        let changedAt = now()
        let actor = PaymentLedger.Actor(kind: .provider, id: provider.name)
        let (learnt, failed) = (providerRefundID, failure)
        return try await store.perform({ tx -> Refund in
            guard let payment = try await tx.lockPayment(id: payment.id), let current = try await tx.lockRefund(id: id) else {
                throw SettleError.storageUnavailable
            }
            var refund = current
            if let learnt, refund.providerRefundID == nil {
                try await tx.updateRefund(id: id, status: refund.status, providerRefundID: learnt, failure: nil, at: changedAt)
                refund.providerRefundID = learnt
            } else if input == .providerPending, refund.status == .pending {
                // Asked and not reached: the next try waits ``retryAfter`` from now.
                try await tx.updateRefund(id: id, status: .pending, providerRefundID: nil, failure: nil, at: changedAt)
            }
            refund = try await Self.apply(input, to: refund, payment: payment, actor: actor, failure: failed, requestID: requestID, at: changedAt, in: tx)
            if let idempotency { try await tx.completeIdempotencyKey(idempotency, status: 201, body: refund.apiObject.bytes()) }
            return refund
        }, logger: logger)
    }

    /// Refunds left pending because their provider could not be asked (no provider id recorded) for at least
    /// ``retryAfter``: asked again, with the same idempotency key. Returns how many were asked.
    @discardableResult
    public func retryPending(limit: Int = 100) async throws(SettleError) -> Int {
        let before = now().addingTimeInterval(-Self.retryAfter)
        let waiting = try await store.fetch({ try await store.unaskedPendingRefunds(updatedBefore: before, limit: limit) }, logger: logger)
        var asked = 0
        for refund in waiting {
            guard let payment = try await store.fetch({ try await store.payment(id: refund.paymentID) }, logger: logger),
                let provider = providers.provider(named: payment.provider), provider.availability.isEnabled
            else { continue }
            _ = try await ask(provider, about: refund, of: payment, requestID: nil, idempotency: nil)
            asked += 1
        }
        return asked + (try await askAboutPending(limit: limit))
    }

    /// How often a provider is asked about a refund it holds as pending.
    public static let pendingAskEvery: TimeInterval = 600

    /// Pending refunds the provider accepted (it gave an id) at least ``retryAfter`` ago: the provider is asked where
    /// each stands (``PaymentProvider/refundOutcome(providerRefundID:of:)``, every ``pendingAskEvery``), and a decision is
    /// applied through the refund state machine, as a notification would be. Returns how many were asked.
    @discardableResult
    public func askAboutPending(limit: Int = 100) async throws(SettleError) -> Int {
        let at = now()
        let waiting = try await store.fetch(
            {
                try await store.pendingRefundsToAsk(
                    createdBefore: at.addingTimeInterval(-Self.retryAfter), polledBefore: at.addingTimeInterval(-Self.pendingAskEvery), limit: limit
                )
            }, logger: logger
        )
        var asked: [String] = []
        for refund in waiting {
            guard let providerRefundID = refund.providerRefundID,
                let payment = try await store.fetch({ try await store.payment(id: refund.paymentID) }, logger: logger),
                let provider = providers.provider(named: payment.provider), provider.availability.isEnabled
            else { continue }
            asked.append(refund.id)
            let outcome: RefundStatus?
            do {
                outcome = try await provider.refundOutcome(providerRefundID: providerRefundID, of: payment)
            } catch {
                logger.notice("could not ask the provider about a pending refund", metadata: ["refund": "\(refund.id)", "provider": "\(payment.provider)"])
                continue
            }
            guard let outcome, outcome == .succeeded || outcome == .failed else { continue }
            let (id, paymentID, providerName) = (refund.id, payment.id, payment.provider)
            try await store.perform({ tx in
                guard let payment = try await tx.lockPayment(id: paymentID), let locked = try await tx.lockRefund(id: id), locked.status == .pending else { return }
                let failure = outcome == .failed ? PaymentFailure(code: "refund_failed", message: "The provider reported the refund failed.") : nil
                _ = try await Self.apply(
                    outcome == .succeeded ? .providerSucceeded : .providerFailed, to: locked, payment: payment,
                    actor: .init(kind: .provider, id: providerName), failure: failure, requestID: nil, at: at, in: tx
                )
            }, logger: logger)
        }
        let polled = asked
        try await store.fetch({ try await store.markRefundsPolled(polled, at: at) }, logger: logger)
        return asked.count
    }

    /// How long a refund the provider could not be asked about waits before it is asked again.
    public static let retryAfter: TimeInterval = 300

    /// Applies an input to a locked refund of a locked payment: the state machine's answer, the refund's new status,
    /// its event (`refund.succeeded`, `refund.failed`) and audit entry, and for a success the payment's
    /// `amount_refunded` (with `payment.refunded` once all of it is back). Returns the refund as it now is.
    static func apply(
        _ input: RefundStateMachine.Input, to refund: Refund, payment: Payment, actor: PaymentLedger.Actor, failure: PaymentFailure?,
        note: String? = nil, requestID: String?, at: Date, in tx: StoreTransaction
    ) async throws -> Refund {
        guard case .move(let to, let reason) = RefundStateMachine.next(from: refund.status, on: input) else { return refund }
        var moved = refund
        moved.status = to
        moved.updatedAt = at
        if to == .failed || to == .requiresAction { moved.failure = failure }
        if to == .succeeded {
            // Money that left after the refund was closed must still fit the payment; anything else is never applied.
            let others = try await tx.heldRefundAmount(paymentID: payment.id) - (refund.status.holdsAmount ? refund.amount.minorUnits : 0)
            guard others + refund.amount.minorUnits <= payment.amount.minorUnits else {
                try await tx.appendAudit(
                    AuditRecord(
                        actorKind: actor.kind, actorID: actor.id, action: .refundStatus(refund.status), targetType: .refund, targetID: refund.id,
                        after: .object([
                            ("unapplied", .string("the provider reported this refund succeeded, but it would take the refunds past the payment; review it")),
                        ]),
                        requestID: requestID, at: at
                    )
                )
                return refund
            }
        }
        try await tx.updateRefund(id: refund.id, status: to, providerRefundID: nil, failure: moved.failure, at: at)
        var eventID: String?
        switch to {
        case .succeeded:
            try await tx.addRefunded(paymentID: payment.id, amount: refund.amount.minorUnits, at: at)
            eventID = try await tx.insertEvent(type: .refundSucceeded, refund: moved, at: at)
            var refunded = payment
            refunded.amountRefunded += refund.amount.minorUnits
            refunded.updatedAt = at
            if refunded.amountRefunded >= payment.amount.minorUnits {
                try await tx.insertEvent(type: .paymentRefunded, payment: refunded, at: at)
            }
        case .failed:
            eventID = try await tx.insertEvent(type: .refundFailed, refund: moved, at: at)
        default:
            break
        }
        // A refund of a top-up that will not happen gives its wallet back what it took.
        if to == .failed || to == .canceled { try await WalletService.reverseRefund(moved, actor: actor, requestID: requestID, at: at, in: tx) }
        var after: [(String, JSONValue)] = [("status", .string(to.rawValue)), ("reason", .string(reason.rawValue))]
        if let eventID { after.append(("event", .string(eventID))) }
        if let failure = moved.failure, to != .succeeded { after.append(("failure", .string(failure.message))) }
        if let note { after.append(("note", .string(note))) }
        try await tx.appendAudit(
            AuditRecord(
                actorKind: actor.kind, actorID: actor.id, action: .refundStatus(to), targetType: .refund, targetID: refund.id,
                before: .object([("status", .string(refund.status.rawValue))]), after: .object(after), requestID: requestID, at: at
            )
        )
        return moved
    }

    /// An operator paid the buyer back by other means (cash, a bank transfer) for a refund the provider cannot make.
    public func confirm(refundID: String, note: String, caller: Caller) async throws(SettleError) -> Refund {
        try PaymentService.text(note, param: "note", max: 500, required: true, allowLineBreaks: true)
        let at = now()
        return try await store.perform({ tx -> Refund in
            guard let found = try await store.refundForUpdate(id: refundID, in: tx), found.refund.mode == caller.mode else {
                throw SettleError.notFound(.refund, id: refundID)
            }
            let (payment, refund) = (found.payment, found.refund)
            guard case .move = RefundStateMachine.next(from: refund.status, on: .operatorConfirmed) else {
                throw SettleError(.refundNotConfirmable, "Refund \(refundID) is \(refund.status.rawValue); only a refund waiting for an operator (requires_action) can be confirmed.")
            }
            return try await Self.apply(.operatorConfirmed, to: refund, payment: payment, actor: caller.actor, failure: nil, note: note, requestID: caller.requestID, at: at, in: tx)
        }, logger: logger)
    }

    public func refund(id: String, mode: Mode) async throws(SettleError) -> Refund {
        let found = try await store.fetch({ try await store.refund(id: id) }, logger: logger)
        guard let found, found.mode == mode else { throw SettleError.notFound(.refund, id: id) }
        return found
    }

    public func list(_ filter: RefundFilter) async throws(SettleError) -> (refunds: [Refund], hasMore: Bool) {
        try await store.fetch({ try await store.refunds(filter) }, logger: logger)
    }
}

extension Store {
    /// A refund and its payment, both locked (the payment first, as every writer locks them).
    func refundForUpdate(id: String, in tx: StoreTransaction) async throws -> (payment: Payment, refund: Refund)? {
        guard let unlocked = try await tx.readRefund(id: id), let payment = try await tx.lockPayment(id: unlocked.paymentID),
            let refund = try await tx.lockRefund(id: id)
        else { return nil }
        return (payment, refund)
    }
}
