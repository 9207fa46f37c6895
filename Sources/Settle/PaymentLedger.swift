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
        failure: PaymentFailure?, requestID: String?, at now: Date, in tx: StoreTransaction
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
                after: .object([
                    ("status", .string(status.rawValue)), ("reason", .string(reason.rawValue)), ("event", .string(eventID)),
                ]),
                requestID: requestID, at: now
            )
        )
        return updated
    }
}
