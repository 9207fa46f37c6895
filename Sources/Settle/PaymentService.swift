import Foundation
import Logging
import SettleCore
import SettleProviders
import SettleStore

/// What a merchant asks for when creating a payment, already decoded from JSON.
public struct CreatePaymentRequest: Sendable, Hashable {
    public var amount: Int64
    public var currency: String
    public var provider: String
    public var reference: String
    public var description: String?
    public var customer: Customer?
    public var returnURL: String?
    public var cancelURL: String?
    public var metadata: [String: String]
    public var expiresIn: Int64?
    /// How the buyer pays (`nil`: the provider's default, its hosted page).
    public var paymentMethod: PaymentMethod?
    /// Parameters providers accept as aliases of `payment_method` (`payme_mode`), by name.
    public var aliases: [String: String]
    /// The wallet this payment tops up (`wal_…`, same mode and currency).
    public var wallet: String?

    public init(
        amount: Int64, currency: String, provider: String, reference: String, description: String? = nil,
        customer: Customer? = nil, returnURL: String? = nil, cancelURL: String? = nil, metadata: [String: String] = [:],
        expiresIn: Int64? = nil, paymentMethod: PaymentMethod? = nil, aliases: [String: String] = [:], wallet: String? = nil
    ) {
        self.amount = amount
        self.currency = currency
        self.provider = provider
        self.reference = reference
        self.description = description
        self.customer = customer
        self.returnURL = returnURL
        self.cancelURL = cancelURL
        self.metadata = metadata
        self.expiresIn = expiresIn
        self.paymentMethod = paymentMethod
        self.aliases = aliases
        self.wallet = wallet
    }
}

/// Who is asking, for the audit trail and for mode scoping.
public struct Caller: Sendable, Hashable {
    /// The API key's id, or the operator's name.
    public var apiKeyID: String
    public var mode: Mode
    public var requestID: String?
    public var actorKind: ActorKind

    public init(apiKeyID: String, mode: Mode, requestID: String?, actorKind: ActorKind = .apiKey) {
        self.apiKeyID = apiKeyID
        self.mode = mode
        self.requestID = requestID
        self.actorKind = actorKind
    }

    /// An operator at the command line.
    public static func `operator`(_ name: String, mode: Mode) -> Caller {
        Caller(apiKeyID: name, mode: mode, requestID: nil, actorKind: .operator)
    }

    var actor: PaymentLedger.Actor { .init(kind: actorKind, id: apiKeyID) }
}

extension Logger {
    /// This logger tagged with the request it works for.
    func forRequest(_ requestID: String?) -> Logger {
        guard let requestID else { return self }
        var logger = self
        logger[metadataKey: "request_id"] = .string(requestID)
        return logger
    }
}

/// Limits on what a merchant may send.
public struct PaymentLimits: Sendable, Hashable {
    /// The largest amount in minor units.
    public var maximumAmount: Int64 = 99_999_999_999
    public var defaultExpiry: Int64 = 86_400
    public var expiryRange: ClosedRange<Int64> = 60...2_592_000

    public init(maximumAmount: Int64 = 99_999_999_999) {
        self.maximumAmount = maximumAmount
    }
}

/// Creating, reading and cancelling payments.
public struct PaymentService: Sendable {
    let store: Store
    let providers: ProviderRegistry
    let publicURL: @Sendable () -> String
    let pages: PageTokens
    let limits: PaymentLimits
    let now: @Sendable () -> Date
    let logger: Logger

    public init(
        store: Store, providers: ProviderRegistry, publicURL: @escaping @Sendable () -> String, pages: PageTokens,
        limits: PaymentLimits = .init(), now: @escaping @Sendable () -> Date = { Date() }, logger: Logger
    ) {
        self.store = store
        self.providers = providers
        self.publicURL = publicURL
        self.pages = pages
        self.limits = limits
        self.now = now
        self.logger = logger
    }

    /// Creates a payment: validate, store it as `requires_action`, call the provider outside any transaction,
    /// then attach the provider's ids (or fail the payment with the provider's error, through the state machine).
    /// When `idempotency` is given, the response is stored in the same transaction as the last change, so a retry
    /// replays it exactly. Returns the HTTP status and the payment.
    public func create(_ request: CreatePaymentRequest, caller: Caller, idempotency: IdempotencyScope?) async throws(SettleError)
        -> (status: Int, payment: Payment)
    {
        let logger = self.logger.forRequest(caller.requestID)
        let (payment, provider) = try validate(request, caller: caller)
        let publicURL = self.publicURL()
        try await write(logger) { tx in
            if let walletID = payment.walletID {
                guard let wallet = try await tx.wallet(id: walletID, mode: payment.mode) else {
                    throw SettleError(.walletNotFound, "No wallet with id \(Text.echo(walletID, limit: 64)).", param: "wallet", status: 400)
                }
                guard wallet.currency == payment.amount.currency else {
                    throw SettleError(
                        .walletCurrency, "Wallet \(wallet.id) holds \(wallet.currency.code); a top-up must be in that currency, not \(payment.amount.currency.code).",
                        param: "wallet"
                    )
                }
            }
            try await tx.insertPayment(payment)
            try await tx.insertEvent(type: .paymentCreated, payment: payment, at: payment.createdAt)
            try await tx.appendAudit(
                AuditRecord(
                    actorKind: caller.actorKind, actorID: caller.apiKeyID, action: .paymentCreated, targetType: .payment,
                    targetID: payment.id, after: payment.apiObject, requestID: caller.requestID, at: payment.createdAt
                )
            )
        }
        let providerRequest = ProviderPaymentRequest(
            payment: payment, idempotencyKey: "settle_\(payment.id)", notificationURL: "\(publicURL)/v1/webhooks/\(provider.name)",
            publicURL: publicURL, returnPageURL: BuyerPages.returnPageURL(publicURL: publicURL, paymentID: payment.id, tokens: pages),
            formPageURL: BuyerPages.formPageURL(publicURL: publicURL, paymentID: payment.id, tokens: pages),
            expiryRequested: request.expiresIn != nil
        )
        // A voucher's reference must be unique: a collision under the constraint asks the provider for another.
        for _ in 0..<Self.voucherAttempts {
            let created: ProviderPaymentCreation
            do {
                created = try await provider.createPayment(providerRequest)
            } catch {
                return try await refused(payment, by: provider, error: error, caller: caller, idempotency: idempotency, at: now(), logger: logger)
            }
            let at = now()
            let attached = try await write(logger) { tx -> (Int, Payment)? in
                if let voucher = created.voucher {
                    guard try await tx.reserveVoucherReference(provider: provider.name, reference: voucher.reference, paymentID: payment.id, at: at)
                    else { return nil }
                }
                let expiresAt = created.voucher?.expiresAt
                try await tx.attachProvider(
                    paymentID: payment.id, providerPaymentID: created.providerPaymentID, checkoutURL: created.checkoutURL,
                    voucher: created.voucher, expiresAt: expiresAt, at: at
                )
                var attached = payment
                attached.providerPaymentID = created.providerPaymentID
                attached.checkoutURL = created.checkoutURL
                attached.voucher = created.voucher
                if let expiresAt { attached.expiresAt = expiresAt }
                attached.updatedAt = at
                try await tx.appendAudit(
                    AuditRecord(
                        actorKind: .provider, actorID: provider.name, action: .paymentProviderCreated, targetType: .payment,
                        targetID: payment.id, after: .object([("provider_payment_id", .string(created.providerPaymentID))]),
                        requestID: caller.requestID, at: at
                    )
                )
                if let idempotency {
                    try await tx.completeIdempotencyKey(idempotency, status: 201, body: attached.apiObject.bytes())
                }
                return (201, attached)
            }
            if let attached { return attached }
            logger.notice("a voucher reference collided; asking the provider for another", metadata: ["provider": "\(provider.name)"])
        }
        let exhausted = ProviderError(.unavailable, "No unique voucher reference could be found; retry.")
        return try await refused(payment, by: provider, error: exhausted, caller: caller, idempotency: idempotency, at: now(), logger: logger)
    }

    /// How many references a voucher provider may propose before the creation fails.
    static let voucherAttempts = 5

    /// The provider refused (or could not be reached, or no unique reference was found): the payment fails through
    /// the state machine, and the error is what the merchant gets, replayed for the same idempotency key.
    private func refused(
        _ payment: Payment, by provider: any PaymentProvider, error: ProviderError, caller: Caller, idempotency: IdempotencyScope?, at: Date,
        logger: Logger
    ) async throws(SettleError) -> (status: Int, payment: Payment) {
        logger.notice("provider refused payment", metadata: ["provider": "\(provider.name)", "code": "\(error.code)"])
        let failure = PaymentFailure(code: error.providerCode ?? error.code.description, message: error.message)
        let settleError = SettleError.provider(error, paymentID: payment.id)
        _ = try await write(logger) { tx -> Payment in
            guard case .move(let to, let reason) = PaymentStateMachine.next(from: payment.status, on: .providerRefusedCreation)
            else { return payment }
            let failed = try await PaymentLedger.move(
                payment, to: to, reason: reason, actor: .init(kind: .provider, id: provider.name), failure: failure,
                requestID: caller.requestID, at: at, in: tx
            )
            if let idempotency {
                try await tx.completeIdempotencyKey(
                    idempotency, status: settleError.httpStatus, body: APIErrorBody.render(settleError, requestID: caller.requestID).bytes()
                )
            }
            return failed
        }
        throw settleError
    }

    /// Cancels a payment that has not reached a final state.
    /// Withdraws it at the provider first (a Payme receipt), so the buyer cannot pay what Settle has cancelled.
    public func cancel(id: String, caller: Caller) async throws(SettleError) -> Payment {
        let logger = self.logger.forRequest(caller.requestID)
        let current = try await payment(id: id, mode: caller.mode)
        if !current.status.isFinal, let providerPaymentID = current.providerPaymentID,
            let provider = providers.provider(named: current.provider)
        {
            do {
                try await provider.cancelPayment(providerPaymentID: providerPaymentID)
            } catch where error.code == .rejected {
                throw SettleError(
                    .paymentNotCancelable, "Payment \(id) is being paid at \(provider.name) and can no longer be canceled."
                )
            } catch {
                throw SettleError.provider(error, paymentID: id, action: "cancel")
            }
        }
        let at = now()
        return try await write(logger) { tx in
            guard let payment = try await tx.lockPayment(id: id), payment.mode == caller.mode else {
                throw SettleError.notFound(.payment, id: id)
            }
            switch PaymentStateMachine.next(from: payment.status, on: .merchantCancel) {
            case .move(let to, let reason):
                return try await PaymentLedger.move(
                    payment, to: to, reason: reason, actor: caller.actor, failure: nil, requestID: caller.requestID, at: at, in: tx
                )
            case .unchanged, .refuse:
                throw SettleError(.paymentNotCancelable, "Payment \(id) is \(payment.status.rawValue) and can no longer be canceled.")
            }
        }
    }

    /// An operator decides a payment under review (`requires_review`): `succeeded` or `failed`, with a note saying why,
    /// through the state machine, with its event, outbound message and audit entry (the note in it). A failed payment's
    /// money, if any was taken, goes back to the buyer by other means.
    public func resolve(id: String, succeeded: Bool, note: String, caller: Caller) async throws(SettleError) -> Payment {
        try Self.text(note, param: "note", max: 500, required: true, allowLineBreaks: true)
        let at = now()
        return try await write(logger.forRequest(caller.requestID)) { tx in
            guard let payment = try await tx.lockPayment(id: id), payment.mode == caller.mode else {
                throw SettleError.notFound(.payment, id: id)
            }
            switch PaymentStateMachine.next(from: payment.status, on: .operatorResolution(succeeded: succeeded)) {
            case .move(let to, let reason):
                let failure = to == .failed ? PaymentFailure(code: "resolved_failed", message: "An operator resolved the review as failed.") : nil
                return try await PaymentLedger.move(
                    payment, to: to, reason: reason, actor: caller.actor, failure: failure, note: note, requestID: caller.requestID, at: at, in: tx
                )
            case .unchanged, .refuse:
                throw SettleError(
                    .paymentNotResolvable, "Payment \(id) is \(payment.status.rawValue); only a payment in requires_review can be resolved."
                )
            }
        }
    }

    /// Marks a succeeded payment's order fulfilled (goods delivered): from then on a provider's request to reverse
    /// it is refused (Payme's `-31007`). Repeating it changes nothing.
    public func fulfill(id: String, caller: Caller) async throws(SettleError) -> Payment {
        let at = now()
        return try await write(logger.forRequest(caller.requestID)) { tx in
            guard var payment = try await tx.lockPayment(id: id), payment.mode == caller.mode else {
                throw SettleError.notFound(.payment, id: id)
            }
            guard payment.status == .succeeded, payment.amountRefunded == 0 else {
                throw SettleError(
                    .paymentNotFulfillable,
                    "Payment \(id) is \(payment.status.rawValue)\(payment.amountRefunded > 0 ? " and refunded" : ""); only a succeeded, unrefunded payment can be marked fulfilled."
                )
            }
            guard payment.fulfilledAt == nil else { return payment }
            try await tx.markFulfilled(paymentID: id, at: at)
            payment.fulfilledAt = at
            payment.updatedAt = at
            let eventID = try await tx.insertEvent(type: .paymentFulfilled, payment: payment, at: at)
            try await tx.appendAudit(
                AuditRecord(
                    actorKind: caller.actorKind, actorID: caller.apiKeyID, action: .paymentFulfilled, targetType: .payment,
                    targetID: id, after: .object([("fulfilled_at", .int(UnixTime.seconds(at))), ("event", .string(eventID))]),
                    requestID: caller.requestID, at: at
                )
            )
            return payment
        }
    }

    public func payment(id: String, mode: Mode) async throws(SettleError) -> Payment {
        let found = try await read { try await store.payment(id: id, mode: mode) }
        guard let found else { throw SettleError.notFound(.payment, id: id) }
        return found
    }

    public func list(_ filter: PaymentFilter) async throws(SettleError) -> (payments: [Payment], hasMore: Bool) {
        if let cursor = filter.startingAfter {
            guard try await read({ try await store.paymentExists(id: cursor, mode: filter.mode) }) else {
                throw SettleError.invalid("starting_after", "No payment with id \(Text.echo(cursor, limit: 64)) to continue after.")
            }
        }
        return try await read { try await store.payments(filter) }
    }

    public func timeline(id: String, mode: Mode) async throws(SettleError) -> [TimelineEntry] {
        _ = try await payment(id: id, mode: mode)
        return try await read { try await store.timeline(paymentID: id) }
    }

    func write<T: Sendable>(_ logger: Logger, _ work: @escaping @Sendable (StoreTransaction) async throws -> T) async throws(SettleError)
        -> T
    {
        try await store.perform(work, logger: logger)
    }

    func read<T: Sendable>(_ body: () async throws -> T) async throws(SettleError) -> T {
        try await store.fetch(body, logger: logger)
    }
}
