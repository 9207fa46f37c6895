import Foundation
import Logging
import SettleCore
import SettleProviders
import SettleStore

/// The ledger a synchronous provider answers through, for one call: each `transact` is one store transaction that
/// also stores the raw call (credentials stripped) with what it led to, and an audit entry for it.
struct StoreProviderLedger: ProviderLedger {
    let store: Store
    let provider: String
    let call: InboundNotification
    let requestID: String?
    let rejections: RejectionSampler
    let logger: Logger

    func transact(
        eventType: String, _ body: @escaping @Sendable (any ProviderLedgerTransaction) async throws -> LedgerOutcome
    ) async throws -> LedgerOutcome {
        let provider = self.provider
        let call = self.call
        let requestID = self.requestID
        do {
            return try await store.write { tx in
                let ledger = Transaction(tx: tx, provider: provider, at: call.receivedAt, requestID: requestID)
                let result = try await body(ledger)
                let stored = StoredNotification(
                    provider: provider, providerEventID: Identifier.make("call"), eventType: eventType, headers: call.headers,
                    body: result.redactedBody ?? call.body, receivedAt: call.receivedAt
                )
                _ = try await tx.insertNotification(stored, paymentID: result.paymentID, outcome: result.outcome, detail: result.detail)
                try await tx.appendAudit(
                    AuditRecord(
                        actorKind: .provider, actorID: provider, action: .providerCall, targetType: .notification,
                        targetID: stored.id,
                        after: .object([
                            ("method", .string(eventType)), ("outcome", .string(result.outcome)),
                            ("payment", .string(result.paymentID)),
                        ]),
                        requestID: requestID, at: call.receivedAt
                    )
                )
                return result
            }
        } catch {
            logger.warning("provider call not stored", metadata: ["method": "\(eventType)", "error": "\(error)"])
            throw error
        }
    }

    func reject(reason: String) async {
        await rejections.record(call, reason: reason, store: store, logger: logger)
    }

    struct Transaction: ProviderLedgerTransaction {
        let tx: StoreTransaction
        let provider: String
        let at: Date
        let requestID: String?

        var actor: PaymentLedger.Actor { .init(kind: .provider, id: provider) }

        func lockPayment(id: String) async throws -> Payment? {
            try await tx.lockPayment(id: id)
        }

        func transaction(providerTransactionID: String) async throws -> ProviderTransaction? {
            try await tx.providerTransaction(provider: provider, providerTransactionID: providerTransactionID)
        }

        func transactions(paymentID: String) async throws -> [ProviderTransaction] {
            try await tx.providerTransactions(paymentID: paymentID).filter { $0.provider == provider }
        }

        func transactions(providerTimeFrom from: Int64, to: Int64) async throws -> [ProviderTransaction] {
            try await tx.providerTransactions(provider: provider, providerTimeFrom: from, to: to)
        }

        func insert(_ transaction: ProviderTransaction) async throws {
            try await tx.insertProviderTransaction(transaction)
        }

        func update(_ transaction: ProviderTransaction) async throws {
            try await tx.updateProviderTransaction(transaction)
        }

        func finalize(_ payment: Payment, outcome: ProviderOutcome, amountMinorUnits: Int64, currencyCode: String, type: String)
            async throws -> PaymentStatus
        {
            let (action, _) = NotificationIngestor.decide(
                payment, outcome: outcome, amountMinorUnits: amountMinorUnits, currencyCode: currencyCode
            )
            guard case .move(let to, let reason) = action else { return payment.status }
            return try await PaymentLedger.move(
                payment, to: to, reason: reason, actor: actor, failure: nil, requestID: requestID, at: at, in: tx
            ).status
        }

        func refundInFull(_ payment: Payment, providerRefundID: String, reason: String) async throws {
            try await PaymentLedger.refundInFull(
                payment, providerRefundID: providerRefundID, reason: reason, actor: actor, requestID: requestID, at: at, in: tx
            )
        }

        func setCredential(_ name: String, value: String) async throws {
            try await tx.setSetting(ProviderSetting.storedName(provider: provider, key: name), value: value, at: at)
            try await tx.appendAudit(
                AuditRecord(
                    actorKind: .provider, actorID: provider, action: .providerCredentialChanged, targetType: .provider,
                    targetID: provider, after: .object([("credential", .string(name))]), requestID: requestID, at: at
                )
            )
        }

        func audit(change: String, transaction: ProviderTransaction, before: JSONValue, after: JSONValue) async throws {
            try await tx.appendAudit(
                AuditRecord(
                    actorKind: .provider, actorID: provider, action: .providerTransaction(provider: provider, change: change),
                    targetType: .providerTransaction,
                    targetID: transaction.id, before: before, after: after, requestID: requestID, at: at
                )
            )
        }
    }
}
