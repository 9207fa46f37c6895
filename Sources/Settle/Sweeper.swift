import Foundation
import Logging
import SettleCore
import SettleProviders
import SettleStore

/// Sweeps payments whose `expires_at` has passed before reaching a final state. Each is first re-checked with its
/// provider (a missed or lost webhook must not turn a paid payment into an expired one): an authoritative answer is
/// applied through the same path as a notification; otherwise the payment expires. A provider that may still complete
/// a payment (Payme's 12-hour transactions) holds it open through ``PaymentProvider/expiryHold(for:transactions:now:)``.
public struct Sweeper: Sendable {
    public let store: Store
    let providers: ProviderRegistry
    public let logger: Logger
    let now: @Sendable () -> Date

    public init(store: Store, providers: ProviderRegistry, logger: Logger, now: @escaping @Sendable () -> Date = { Date() }) {
        self.store = store
        self.providers = providers
        self.logger = logger
        self.now = now
    }

    /// Waits until the schema is ready.
    public func waitUntilReady() async throws { try await store.waitUntilMigrated() }

    /// One pass; returns how many payments expired. A provider may hold an overdue payment open (a cash voucher paid
    /// at the last minute is reported later) (``PaymentProvider/expiryHold(for:transactions:now:)``); held payments wait.
    @discardableResult
    public func expireDue(limit: Int = 500) async throws -> Int {
        let at = now()
        var expired = 0
        // Held payments (vouchers waiting for their settlement file) are paged past, so however many there are, the
        // others still expire on time.
        var due: [Payment] = []
        var after: (expiresAt: Date, id: String)?
        for _ in 0..<Self.maximumPages where due.count < limit {
            let page = try await store.overduePayments(at: at, limit: limit, after: after)
            for payment in page {
                if let provider = providers.provider(named: payment.provider) {
                    let transactions = provider.keepsTransactions ? try await store.providerTransactions(paymentID: payment.id) : []
                    if let hold = provider.expiryHold(for: payment, transactions: transactions, now: at), hold > at { continue }
                }
                due.append(payment)
            }
            guard page.count == limit, let last = page.last, let expiresAt = last.expiresAt else { break }
            after = (expiresAt, last.id)
        }
        for payment in due.prefix(limit) {
            if try await recheckWithProvider(paymentID: payment.id, at: at) { continue }
            let id = payment.id
            let moved = try await store.write { tx -> Bool in
                guard let payment = try await tx.lockPayment(id: id) else { return false }
                guard case .move(let to, let reason) = PaymentStateMachine.next(from: payment.status, on: .clockExpiry) else {
                    return false
                }
                _ = try await PaymentLedger.move(
                    payment, to: to, reason: reason, actor: .init(kind: .system, id: "sweeper"), failure: nil,
                    requestID: nil, at: at, in: tx
                )
                return true
            }
            if moved { expired += 1 }
        }
        if expired > 0 { logger.info("expired payments", metadata: ["count": "\(expired)"]) }
        return expired
    }

    /// How many pages of overdue payments one pass of ``expireDue(limit:)`` reads at most.
    static let maximumPages = 20

    /// Asks polled providers (``PaymentProvider/openPaymentPolling``) about their open payments that have been quiet
    /// long enough, those asked longest ago first, and applies definite answers. Returns how many were asked.
    @discardableResult
    public func pollOpen(limit: Int = 100) async throws -> Int {
        let at = now()
        var asked = 0
        for provider in providers.all where provider.availability.isEnabled {
            guard let polling = provider.openPaymentPolling else { continue }
            let ids = try await store.pollablePaymentIDs(
                provider: provider.name, now: at, quietBefore: at.addingTimeInterval(-Self.seconds(polling.quiet)),
                polledBefore: at.addingTimeInterval(-Self.seconds(polling.every)), limit: limit
            )
            for id in ids {
                _ = try await recheckWithProvider(paymentID: id, at: at)
                asked += 1
            }
            try await store.markPolled(ids, at: at)
        }
        return asked
    }

    static func seconds(_ duration: Duration) -> TimeInterval {
        let (seconds, attoseconds) = duration.components
        return TimeInterval(seconds) + TimeInterval(attoseconds) / 1e18
    }

    /// Asks the payment's provider for its state; applies a definite answer. Returns true when the payment was
    /// settled that way (or the provider could not be asked and the payment must wait for the next sweep).
    func recheckWithProvider(paymentID: String, at: Date) async throws -> Bool {
        guard let payment = try await store.payment(id: paymentID), let provider = providers.provider(named: payment.provider),
            provider.availability.isEnabled
        else { return false }
        let providerName = payment.provider
        let state: ProviderPaymentState?
        do {
            state = try await provider.fetchPayment(for: payment)
        } catch {
            logger.notice("sweep could not ask the provider; will retry", metadata: ["payment": "\(paymentID)", "provider": "\(providerName)"])
            return true
        }
        guard let state, let outcome = state.outcome, outcome != .processing else { return false }
        _ = try await store.write { tx in
            try await NotificationIngestor.applyFetched(state, outcome: outcome, source: "sweep", payment: payment, at: at, in: tx)
        }
        return true
    }
}
