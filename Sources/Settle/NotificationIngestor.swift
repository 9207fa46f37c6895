import Foundation
import Logging
import SettleCore
import SettleProviders
import SettleStore

/// What happened to one provider event.
public enum IngestOutcome: Sendable, Hashable {
    /// The payment moved to this status.
    case applied(paymentID: String, status: PaymentStatus)
    /// Stored; the payment did not change (duplicate status, stale or out-of-order report).
    case unchanged(paymentID: String, reason: String)
    /// The same (provider, event id) was stored before: nothing changed.
    case duplicate
    /// Stored and acknowledged, but it names no payment of ours (or one of another provider): flagged.
    case unmatched
    /// Stored and acknowledged; Settle does not act on this event type.
    case ignored
    /// The provider returned the money: the payment is refunded in full.
    case refunded(paymentID: String)
}

extension IngestOutcome {
    /// The outcome's name as a metric label.
    var metricName: String {
        switch self {
        case .applied: "applied"
        case .unchanged: "unchanged"
        case .duplicate: "duplicate"
        case .unmatched: "unmatched"
        case .ignored: "ignored"
        case .refunded: "refunded"
        }
    }
}

/// Receives provider notifications: verify on the raw bytes before any database work, then in one transaction
/// store the raw message under its unique (provider, event id), lock the payment, check the transition and the
/// amount, change the status, and write the event and the audit entry. Answers only after the commit.
public struct NotificationIngestor: Sendable {
    let store: Store
    let providers: ProviderRegistry
    let rejections: RejectionSampler
    let logger: Logger
    let metrics: SettleMetrics

    public init(
        store: Store, providers: ProviderRegistry, rejections: RejectionSampler = RejectionSampler(), metrics: SettleMetrics = .none, logger: Logger
    ) {
        self.metrics = metrics
        self.store = store
        self.providers = providers
        self.rejections = rejections
        self.logger = logger
    }

    /// Handles one inbound message; returns the provider's acknowledgement and what each event led to.
    public func ingest(_ notification: InboundNotification, requestID: String?) async throws(SettleError)
        -> (answer: ProviderAnswer, outcomes: [IngestOutcome])
    {
        let logger = self.logger.forRequest(requestID)
        guard let provider = providers.provider(named: notification.provider) else {
            throw SettleError.notFound(.provider, id: notification.provider)
        }
        if let synchronous = provider as? any SynchronousProvider {
            // The provider reads our answer as its protocol: the adapter answers, through a ledger that stores the
            // raw call in the same transaction as whatever the call changes.
            let ledger = StoreProviderLedger(
                store: store, provider: provider.name, call: notification, requestID: requestID, rejections: rejections, logger: logger
            )
            return (await synchronous.answer(notification, ledger: ledger), [])
        }
        guard notification.method == "POST" else {
            throw SettleError(.methodNotAllowed, "Notifications are accepted with POST only.")
        }
        let started = ContinuousClock.now
        let verified: VerifiedNotification
        do {
            verified = try await provider.verify(notification)
        } catch {
            metrics.notification(provider: provider.name, outcome: "rejected", reason: error.code.description)
            await rejections.record(notification, reason: error.code.description, store: store, logger: logger)
            switch error.code {
            case .invalidSignature:
                throw SettleError(.invalidSignature, error.message)
            case .providerDisabled:
                throw SettleError(.providerDisabled, error.message)
            case .unavailable:
                throw SettleError(.providerUnavailable, error.message)
            default:
                throw SettleError(.malformedNotification, error.message)
            }
        }
        var events: [ProviderEvent] = []
        for var event in verified.events {
            if event.isHint, case .providerPayment(let id) = event.target {
                // The message is only a hint: trust the provider's API, not the message.
                do {
                    let state = try await provider.fetchPayment(providerPaymentID: id)
                    event.outcome = state?.outcome
                    event.amountMinorUnits = state?.amountMinorUnits
                    event.currencyCode = state?.currencyCode
                    event.failure = state?.outcome == .failed ? state?.failure : nil
                    event.isHint = false
                    // The provider's API names Settle's payment: found even when its provider id was never recorded.
                    if let paymentID = state?.paymentID {
                        event.target = .payment(id: paymentID)
                        event.providerPaymentID = state?.providerPaymentID ?? id
                    }
                } catch {
                    throw SettleError(.providerUnavailable, "Could not confirm the event with the provider; retry.")
                }
            }
            events.append(event)
        }
        let raw = notification
        let name = provider.name
        let verifiedEvents = events
        // Never 2xx for something not stored: a storage failure is a 503, and the provider retries.
        let outcomes = try await store.perform({ tx in
            var outcomes: [IngestOutcome] = []
            for event in verifiedEvents {
                outcomes.append(try await Self.apply(event, provider: name, raw: raw, requestID: requestID, in: tx))
            }
            return outcomes
        }, logger: logger)
        logger.debug("notification stored", metadata: ["provider": "\(name)", "outcomes": "\(outcomes)"])
        for outcome in outcomes {
            metrics.notification(provider: name, outcome: outcome.metricName)
            if case .applied(_, let status) = outcome { metrics.transition(provider: name, status: status.rawValue) }
        }
        metrics.notificationIngest(provider: name, ContinuousClock.now - started)
        return (verified.acknowledgement, outcomes)
    }

    /// Applies one verified event inside a write transaction: lock the payment, decide, store the raw
    /// notification with its outcome (a duplicate stops here, having written nothing), then change the status.
    static func apply(
        _ event: ProviderEvent, provider: String, raw: InboundNotification, requestID: String?, actor: PaymentLedger.Actor? = nil,
        in tx: StoreTransaction
    ) async throws -> IngestOutcome {
        let stored = StoredNotification(
            provider: provider, providerEventID: event.eventID, eventType: event.type, headers: raw.headers, body: raw.body,
            receivedAt: raw.receivedAt
        )
        func store(paymentID: String?, outcome: String, detail: String?) async throws -> Bool {
            try await tx.insertNotification(stored, paymentID: paymentID, outcome: outcome, detail: detail)
        }
        let payment: Payment?
        switch event.target {
        case .payment(let id): payment = try await tx.lockPayment(id: id)
        case .providerPayment(let id): payment = try await tx.lockPayment(provider: provider, providerPaymentID: id)
        case nil: payment = nil
        }
        guard let payment, payment.provider == provider else {
            return try await store(paymentID: nil, outcome: "unmatched", detail: "names no payment of this provider")
                ? .unmatched : .duplicate
        }
        if let refund = event.refund {
            return try await applyRefund(
                refund, event: event, payment: payment, provider: provider, actor: actor ?? .init(kind: .provider, id: provider),
                requestID: requestID, at: raw.receivedAt,
                store: { outcome, detail in try await store(paymentID: payment.id, outcome: outcome, detail: detail) }, in: tx
            )
        }
        guard let outcome = event.outcome else {
            return try await store(paymentID: payment.id, outcome: "ignored", detail: "event type not acted on")
                ? .ignored : .duplicate
        }
        if let named = event.providerPaymentID, let known = payment.providerPaymentID, named != known, outcome == .succeeded,
            payment.status == .succeeded
        {
            // A second success at the provider for a payment that already succeeded: the buyer may have paid twice.
            return try await store(
                paymentID: payment.id, outcome: "unchanged",
                detail: "another_provider_payment_succeeded: \(Text.echo(named, limit: 40)) besides \(Text.echo(known, limit: 40)); the buyer may have paid twice"
            ) ? .unchanged(paymentID: payment.id, reason: "another_provider_payment_succeeded") : .duplicate
        }
        if let named = event.providerPaymentID, payment.providerPaymentID == nil {
            try await tx.learnProviderPaymentID(paymentID: payment.id, providerPaymentID: named)
        }
        let (action, mismatch) = Self.decide(
            payment, outcome: outcome, amountMinorUnits: event.amountMinorUnits, currencyCode: event.currencyCode, occurredAt: event.occurredAt
        )
        switch action {
        case .move(let to, let reason):
            let detail = reason == .amountMismatch ? mismatch : reason == .paidAfterExpiry ? "paid after the payment expired" : reason.rawValue
            guard try await store(paymentID: payment.id, outcome: "applied:\(to.rawValue)", detail: detail) else {
                return .duplicate
            }
            _ = try await PaymentLedger.move(
                payment, to: to, reason: reason, actor: actor ?? .init(kind: .provider, id: provider),
                failure: to == .failed ? event.failure : nil, requestID: requestID, at: raw.receivedAt, in: tx
            )
            return .applied(paymentID: payment.id, status: to)
        case .unchanged(let reason), .refuse(let reason):
            return try await store(paymentID: payment.id, outcome: "unchanged", detail: reason.rawValue)
                ? .unchanged(paymentID: payment.id, reason: reason.rawValue) : .duplicate
        }
    }

    /// A provider's report that it returned the money: the outcome of a refund Settle asked for, or one the provider made
    /// itself (its dashboard) — in full, or a part that fits what the payment's refunds leave — of a succeeded payment
    /// whose amount and currency it names; anything else is stored and flagged, changing nothing.
    static func applyRefund(
        _ refund: ProviderRefund, event: ProviderEvent, payment: Payment, provider: String, actor: PaymentLedger.Actor, requestID: String?, at: Date,
        store: (String, String?) async throws -> Bool, in tx: StoreTransaction
    ) async throws -> IngestOutcome {
        func unchanged(_ reason: String) async throws -> IngestOutcome {
            try await store("unchanged", reason) ? .unchanged(paymentID: payment.id, reason: reason) : .duplicate
        }
        // The outcome of a refund Settle asked for: through the refund state machine.
        // Found by its provider id, or, when the provider answers before Settle recorded that id, the refund of the same
        // amount still waiting for one.
        var known = try await tx.refund(provider: provider, providerRefundID: refund.providerRefundID)
        if known == nil, let refundID = refund.refundID, let named = try await tx.readRefund(id: refundID), named.providerRefundID == nil {
            known = named
        }
        if known == nil, let amount = event.amountMinorUnits {
            known = try await tx.pendingRefundWithoutProviderID(paymentID: payment.id, amount: amount)
        }
        if let known, known.paymentID == payment.id, var locked = try await tx.lockRefund(id: known.id) {
            if locked.providerRefundID == nil {
                try await tx.updateRefund(id: locked.id, status: locked.status, providerRefundID: refund.providerRefundID, failure: nil, at: at)
                locked.providerRefundID = refund.providerRefundID
            }
            let input: RefundStateMachine.Input = refund.outcome == .failed ? .providerFailed : .providerSucceeded
            guard try await store("applied:refund_\(refund.outcome.rawValue)", locked.id) else { return .duplicate }
            let failure = refund.outcome == .failed ? PaymentFailure(code: "refund_failed", message: "The provider reported the refund failed.") : nil
            _ = try await RefundService.apply(
                input, to: locked, payment: payment, actor: actor, failure: failure, requestID: requestID, at: at, in: tx
            )
            return .refunded(paymentID: payment.id)
        }
        guard refund.outcome == .succeeded else { return try await unchanged("a failed refund Settle did not ask for") }
        guard payment.status == .succeeded else { return try await unchanged("refund reported for a payment that is \(payment.status)") }
        guard payment.amountRefunded < payment.amount.minorUnits else { return try await unchanged("already refunded") }
        guard let amount = event.amountMinorUnits, event.currencyCode?.uppercased() == payment.amount.currency.code else {
            return try await unchanged("refund amount or currency differs from the payment's")
        }
        if amount != payment.amount.minorUnits {
            // A part returned at the provider (its dashboard): recorded when it fits what the refunds leave.
            guard amount > 0, amount < payment.amount.minorUnits else { return try await unchanged("refund amount differs from the payment's") }
            // The payment is locked: what its refunds hold cannot change before the refund is recorded.
            guard try await tx.heldRefundAmount(paymentID: payment.id) + amount <= payment.amount.minorUnits else {
                return try await unchanged("the refund would take the refunds past the payment; review it")
            }
            guard try await store("applied:refund_succeeded", refund.reason) else { return .duplicate }
            _ = try await PaymentLedger.providerRefund(
                payment, amount: amount, providerRefundID: refund.providerRefundID, reason: refund.reason, actor: actor, requestID: requestID, at: at, in: tx
            )
            return .refunded(paymentID: payment.id)
        }
        guard try await store("applied:refunded", refund.reason) else { return .duplicate }
        try await PaymentLedger.refundInFull(
            payment, providerRefundID: refund.providerRefundID, reason: refund.reason, actor: actor,
            requestID: requestID, at: at, in: tx
        )
        return .refunded(paymentID: payment.id)
    }

    /// Applies a state fetched from the provider's API (by the sweep, or on the buyer's return) through the same path
    /// as a notification: stored once per payment, source and outcome (a repeat changes nothing), then the state
    /// machine with the amount check. A provider id the answer names is recorded when the payment had none.
    static func applyFetched(
        _ state: ProviderPaymentState, outcome: ProviderOutcome, source: String, payment: Payment, at: Date, in tx: StoreTransaction
    ) async throws -> IngestOutcome {
        let event = ProviderEvent(
            eventID: "\(source)_\(payment.id)_\(outcome.rawValue)", type: "\(source).\(outcome.rawValue)", target: .payment(id: payment.id),
            outcome: outcome, amountMinorUnits: state.amountMinorUnits, currencyCode: state.currencyCode, failure: state.failure
        )
        let raw = InboundNotification(
            provider: payment.provider, method: "GET", contentType: "application/json", headers: [:],
            body: JSONValue.object([
                ("source", .string(source)), ("outcome", .string(outcome.rawValue)), ("amount", .int(state.amountMinorUnits)),
                ("currency", .string(state.currencyCode)), ("provider_payment_id", .string(state.providerPaymentID)),
            ]).bytes(),
            receivedAt: at
        )
        if let learnt = state.providerPaymentID, payment.providerPaymentID == nil {
            try await tx.learnProviderPaymentID(paymentID: payment.id, providerPaymentID: learnt)
        }
        return try await apply(event, provider: payment.provider, raw: raw, requestID: nil, in: tx)
    }

    /// What a provider's report does to a payment: the state machine's answer, and how the amount differed.
    ///
    /// A success must report both the amount and the currency, and both must be the payment's: a missing one never
    /// counts as a match. Other outcomes may leave them out, but what they report must match.
    static func decide(
        _ payment: Payment, outcome: ProviderOutcome, amountMinorUnits: Int64?, currencyCode: String?, occurredAt: Date? = nil
    ) -> (action: PaymentStateMachine.Action, mismatch: String) {
        let amountAgrees = amountMinorUnits.map { $0 == payment.amount.minorUnits }
        let currencyAgrees = currencyCode.map { $0.uppercased() == payment.amount.currency.code }
        let amountMatches =
            outcome == .succeeded
            ? amountAgrees == true && currencyAgrees == true
            : amountAgrees ?? true && currencyAgrees ?? true
        let mismatch =
            "reported \(amountMinorUnits.map(String.init) ?? "?") \(currencyCode ?? "?"), expected \(payment.amount.minorUnits) \(payment.amount.currency.code)"
        if outcome == .succeeded, let occurredAt, let expiresAt = payment.expiresAt, occurredAt > expiresAt {
            return (PaymentStateMachine.next(from: payment.status, on: .paidAfterExpiry(amountMatches: amountMatches)), mismatch)
        }
        return (PaymentStateMachine.next(from: payment.status, on: .provider(outcome, amountMatches: amountMatches)), mismatch)
    }
}
