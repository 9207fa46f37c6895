import Foundation
import Logging
import SettleCore
import SettleStore

/// Expires payments whose `expires_at` has passed while the buyer never finished, through the same state
/// machine and ledger as every other change.
public struct Sweeper: Sendable {
    public let store: Store
    public let logger: Logger
    let now: @Sendable () -> Date

    public init(store: Store, logger: Logger, now: @escaping @Sendable () -> Date = { Date() }) {
        self.store = store
        self.logger = logger
        self.now = now
    }

    /// One pass; returns how many payments expired.
    @discardableResult
    public func expireDue(limit: Int = 500) async throws -> Int {
        let at = now()
        let due = try await store.read { connection in
            try await connection.query(
                """
                SELECT id FROM payments WHERE status IN ('requires_action', 'processing')
                AND expires_at IS NOT NULL AND expires_at <= \(UnixTime.milliseconds(at)) ORDER BY expires_at LIMIT \(limit)
                """
            ).map { try $0.string("id") }
        }
        var expired = 0
        for id in due {
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
}
