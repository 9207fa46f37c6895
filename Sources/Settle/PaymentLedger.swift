import Foundation
import SettleCore
import SettleStore

/// The one place a payment's status changes. Every change writes, in the caller's transaction: the status
/// (compare-and-set on the status read under lock), the merchant event, and the audit entry.
enum PaymentLedger {
    struct Actor: Sendable {
        var kind: ActorKind
        var id: String
    }

    static func move(
        _ payment: Payment, to status: PaymentStatus, reason: PaymentStateMachine.Reason, actor: Actor,
        failure: PaymentFailure?, note: String? = nil, requestID: String?, at now: Date, in tx: StoreTransaction
    ) async throws -> Payment {
        guard try await tx.updatePaymentStatus(id: payment.id, from: payment.status, to: status, failure: failure, at: now)
        else {
            // The row is locked, so this means a bug or a concurrent writer outside the lock: refuse loudly.
            throw SettleError(.paymentChanged, "The payment changed concurrently; retry.")
        }
        var updated = payment
        updated.status = status
        updated.updatedAt = now
        if let failure { updated.failure = failure }
        let eventID = try await tx.insertEvent(type: status.eventType, payment: updated, at: now)
        try await tx.appendAudit(
            AuditRecord(
                actorKind: actor.kind, actorID: actor.id, action: .paymentStatus(status), targetType: .payment,
                targetID: payment.id, before: .object([("status", .string(payment.status.rawValue))]),
                after: .object(
                    [("status", .string(status.rawValue)), ("reason", .string(reason.rawValue)), ("event", .string(eventID))]
                        + (note.map { [("note", JSONValue.string($0))] } ?? [])
                ),
                requestID: requestID, at: now
            )
        )
        // A top-up credits its wallet in this same transaction, once per payment (the ledger's unique key decides).
        if status == .succeeded, updated.walletID != nil {
            try await WalletService.creditTopUp(updated, actor: actor, requestID: requestID, at: now, in: tx)
        }
        return updated
    }

    /// Records the full refund of a succeeded payment the provider reports (its refund row, `amount_refunded`, the
    /// `payment.refunded` event and the audit entry), in the caller's transaction. Nothing when already refunded.
    static func refundInFull(
        _ payment: Payment, providerRefundID: String, reason: String, actor: Actor, requestID: String?, at: Date,
        in tx: StoreTransaction
    ) async throws {
        guard payment.amountRefunded < payment.amount.minorUnits else { return }
        // The provider returned everything left: refunds still waiting (pending, for an operator) can no longer be made.
        for open in try await tx.openRefunds(paymentID: payment.id) {
            _ = try await RefundService.apply(.cancel, to: open, payment: payment, actor: actor, failure: nil,
                note: "the provider refunded the payment in full itself", requestID: requestID, at: at, in: tx)
        }
        let refundID = try await tx.insertRefund(payment: payment, reason: reason, providerRefundID: providerRefundID, at: at)
        if let refund = try await tx.lockRefund(id: refundID) {
            try await tx.insertEvent(type: .refundSucceeded, refund: refund, at: at)
            // The money already left through the provider: its top-up's wallet gives it back, even below zero.
            try await WalletService.debitForRefund(
                refund, of: payment, allowNegative: true, force: true, actor: actor, requestID: requestID, at: at, in: tx
            )
        }
        var refunded = payment
        refunded.amountRefunded = payment.amount.minorUnits
        refunded.updatedAt = at
        let eventID = try await tx.insertEvent(type: .paymentRefunded, payment: refunded, at: at)
        try await tx.appendAudit(
            AuditRecord(
                actorKind: actor.kind, actorID: actor.id, action: .paymentRefunded, targetType: .payment,
                targetID: payment.id, before: .object([("amount_refunded", .int(payment.amountRefunded))]),
                after: .object([
                    ("amount_refunded", .int(refunded.amountRefunded)), ("refund", .string(refundID)),
                    ("reason", .string(reason)), ("event", .string(eventID)),
                ]),
                requestID: requestID, at: at
            )
        )
    }

    /// Records a part of a succeeded payment the provider returned on its own (a partial refund made in Stripe's
    /// dashboard): a succeeded refund row, `amount_refunded`, `refund.succeeded` (and `payment.refunded` once all of it is
    /// back), and the audit entry, in the caller's transaction. Returns false, changing nothing, when the part does not
    /// fit what the payment's refunds leave (pending ones included).
    static func providerRefund(
        _ payment: Payment, amount: Int64, providerRefundID: String, reason: String, actor: Actor, requestID: String?, at: Date,
        in tx: StoreTransaction
    ) async throws -> Bool {
        let held = try await tx.heldRefundAmount(paymentID: payment.id)
        guard amount > 0, held + amount <= payment.amount.minorUnits else { return false }
        let refund = Refund(
            id: Identifier.make("re"), mode: payment.mode, paymentID: payment.id, amount: Money(minorUnits: amount, currency: payment.amount.currency),
            status: .succeeded, reason: reason, providerRefundID: providerRefundID, createdAt: at, updatedAt: at
        )
        try await tx.insertRefund(refund)
        try await WalletService.debitForRefund(refund, of: payment, allowNegative: true, force: true, actor: actor, requestID: requestID, at: at, in: tx)
        try await tx.addRefunded(paymentID: payment.id, amount: amount, at: at)
        let eventID = try await tx.insertEvent(type: .refundSucceeded, refund: refund, at: at)
        var refunded = payment
        refunded.amountRefunded += amount
        refunded.updatedAt = at
        if refunded.amountRefunded >= payment.amount.minorUnits {
            try await tx.insertEvent(type: .paymentRefunded, payment: refunded, at: at)
        }
        try await tx.appendAudit(
            AuditRecord(
                actorKind: actor.kind, actorID: actor.id, action: .refundStatus(.succeeded), targetType: .refund, targetID: refund.id,
                after: .object([
                    ("status", .string("succeeded")), ("amount", .int(amount)), ("payment", .string(payment.id)), ("reason", .string(reason)),
                    ("made_at_provider", .string(providerRefundID)), ("event", .string(eventID)),
                ]),
                requestID: requestID, at: at
            )
        )
        return true
    }
}
