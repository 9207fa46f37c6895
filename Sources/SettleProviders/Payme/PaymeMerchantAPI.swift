import Crypto
import Foundation
import SettleCore

/// Payme's Merchant API, answered by Settle: Payme calls `CheckPerformTransaction`, `CreateTransaction`,
/// `PerformTransaction`, `CancelTransaction`, `CheckTransaction`, `GetStatement`, `ChangePassword` and
/// `SetFiscalData`, and reads the JSON-RPC answer as the protocol. Every answer is HTTP 200, with the call's `id`.
///
/// Each authenticated call is one ledger transaction, stored raw with its outcome. Changes to a payment's Payme
/// transactions happen only under the payment's row lock, so repeated and concurrent calls get the same answer and a
/// payment is finalized once.
struct PaymeMerchantAPI: Sendable {
    /// A created (state 1) transaction older than this, by Payme's `time`, can no longer be performed.
    static let timeout: Int64 = 43_200_000
    /// The stored credential `ChangePassword` writes; it wins over the configured key.
    static let keyCredential = "key"

    let name: String
    let configuration: PaymeConfiguration
    let credentials: StoredCredentials

    /// A refusal tied to a payment, so the stored call names it.
    struct Refusal: Error {
        let error: PaymeError
        let paymentID: String?
    }

    enum Credential {
        case valid
        case invalid
        case unavailable
    }

    func answer(_ call: InboundNotification, ledger: any ProviderLedger) async -> ProviderAnswer {
        guard call.method == "POST" else {
            await ledger.reject(reason: "wrong_http_method")
            return PaymeRPC.error(.wrongHTTPMethod, id: .null)
        }
        let parsed: PaymeCall
        do {
            parsed = try PaymeCall(body: call.body)
        } catch {
            await ledger.reject(reason: "unparsable_json")
            return PaymeRPC.error(.unparsable, id: .null)
        }
        let id = parsed.id
        switch await authenticate(call) {
        case .valid: break
        case .invalid:
            await ledger.reject(reason: "invalid_credentials")
            return PaymeRPC.error(.insufficientPrivilege, id: id)
        case .unavailable:
            return PaymeRPC.error(.internalError, id: id)
        }
        let eventType = parsed.eventType
        let params = parsed.params
        let now = UnixTime.milliseconds(call.receivedAt)
        let redacted = parsed.method == "ChangePassword" ? Self.redactingPassword(parsed.request) : nil
        do {
            // Every authenticated call is stored, whatever its answer.
            let outcome = try await ledger.transact(eventType: eventType) { tx in
                do {
                    let method = try parsed.validMethod()
                    let (result, paymentID) = try await self.perform(method, params: params, now: now, in: tx)
                    return LedgerOutcome(
                        answer: PaymeRPC.result(result, id: id), paymentID: paymentID, outcome: "result", redactedBody: redacted
                    )
                } catch let refusal as Refusal {
                    return Self.outcome(refusal.error, id: id, paymentID: refusal.paymentID, redacted: redacted)
                } catch let error as PaymeError {
                    return Self.outcome(error, id: id, paymentID: nil, redacted: redacted)
                }
            }
            return outcome.answer
        } catch {
            // Not stored, so not answered as done: Payme retries on an internal error.
            return PaymeRPC.error(.internalError, id: id)
        }
    }

    static func outcome(_ error: PaymeError, id: JSONValue, paymentID: String?, redacted: [UInt8]?) -> LedgerOutcome {
        LedgerOutcome(
            answer: PaymeRPC.error(error, id: id), paymentID: paymentID, outcome: "error:\(error.code)", detail: error.en,
            redactedBody: redacted
        )
    }

    /// `Authorization: Basic base64("Paycom:<key>")`, the whole string compared in constant time (as digests, so the
    /// comparison does not reveal the key's length either).
    func authenticate(_ call: InboundNotification) async -> Credential {
        let stored: String?
        do {
            stored = try await credentials.value(Self.keyCredential)
        } catch {
            return .unavailable
        }
        guard let key = stored ?? configuration.key?.value, !key.isEmpty else { return .invalid }
        guard let header = call.header("authorization"), header.utf8.count <= 1024 else { return .invalid }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "basic",
            let presented = Data(base64Encoded: parts[1].trimmingCharacters(in: .whitespaces))
        else { return .invalid }
        let expected = Data("Paycom:\(key)".utf8)
        return ConstantTime.equals(Array(SHA256.hash(data: presented)), Array(SHA256.hash(data: expected))) ? .valid : .invalid
    }

    /// The call with `params.password` replaced, for storage: the new key is kept only in the credential store.
    static func redactingPassword(_ request: JSONValue) -> [UInt8] {
        guard case .object(let members) = request else { return request.bytes() }
        return JSONValue.object(
            members.map { key, value in
                guard key == "params", case .object(let params) = value else { return (key, value) }
                return (key, .object(params.map { $0.0 == "password" ? ($0.0, .string("[redacted]")) : $0 }))
            }
        ).bytes()
    }

    func perform(_ method: String, params: PaymeParams, now: Int64, in tx: any ProviderLedgerTransaction) async throws
        -> (JSONValue, String?)
    {
        switch method {
        case "CheckPerformTransaction": try await checkPerform(params, in: tx)
        case "CreateTransaction": try await create(params, now: now, in: tx)
        case "PerformTransaction": try await performTransaction(params, now: now, in: tx)
        case "CancelTransaction": try await cancel(params, now: now, in: tx)
        case "CheckTransaction": try await check(params, in: tx)
        case "GetStatement": try await statement(params, in: tx)
        case "ChangePassword": try await changePassword(params, in: tx)
        case "SetFiscalData": try await setFiscalData(params, in: tx)
        default: throw PaymeError.methodNotFound
        }
    }

    // MARK: - Orders

    var field: String { configuration.accountField }

    /// The payment the account names, locked: one of ours, for this provider and this cash desk's mode.
    func order(_ account: [String: String], in tx: any ProviderLedgerTransaction) async throws -> Payment {
        guard let value = account[field], let payment = try await tx.lockPayment(id: value), payment.provider == name,
            payment.mode == configuration.mode
        else { throw PaymeError.orderNotFound(field) }
        return payment
    }

    /// Refuses an order that cannot take this payment: closed, or a different amount.
    func requirePayable(_ payment: Payment, amount: Int64) throws(Refusal) {
        guard payment.status == .requiresAction || payment.status == .processing else {
            throw Refusal(error: .orderNotPayable(field), paymentID: payment.id)
        }
        guard payment.amount.currency.code == "UZS", payment.amount.minorUnits == amount else {
            throw Refusal(error: .wrongAmount, paymentID: payment.id)
        }
    }

    /// Locks the payment of a known transaction, then reads the transaction again under that lock.
    func lockedTransaction(_ params: PaymeParams, in tx: any ProviderLedgerTransaction) async throws
        -> (ProviderTransaction, Payment)
    {
        let id = try params.string("id")
        guard let known = try await tx.transaction(providerTransactionID: id) else { throw PaymeError.transactionNotFound }
        guard let payment = try await tx.lockPayment(id: known.paymentID),
            let transaction = try await tx.transaction(providerTransactionID: id)
        else { throw PaymeLedgerError.inconsistent }
        return (transaction, payment)
    }

    // MARK: - Methods

    func checkPerform(_ params: PaymeParams, in tx: any ProviderLedgerTransaction) async throws -> (JSONValue, String?) {
        let amount = try params.amount()
        let payment = try await order(try params.account(), in: tx)
        try requirePayable(payment, amount: amount)
        return (.object([("allow", .bool(true))]), payment.id)
    }

    func create(_ params: PaymeParams, now: Int64, in tx: any ProviderLedgerTransaction) async throws -> (JSONValue, String?) {
        let id = try params.string("id")
        let time = try params.time("time")
        let amount = try params.amount()
        let account = try params.account()
        // Lock the payment first (the one a known transaction belongs to, else the one the account names), then read
        // the transaction under the lock: a concurrent repeat of this call then sees the first one's transaction.
        let payment: Payment
        if let known = try await tx.transaction(providerTransactionID: id) {
            guard let locked = try await tx.lockPayment(id: known.paymentID) else { throw PaymeLedgerError.inconsistent }
            payment = locked
        } else {
            payment = try await order(account, in: tx)
        }
        if var existing = try await tx.transaction(providerTransactionID: id) {
            guard existing.paymeState == .created else { throw Refusal(error: .cannotPerform, paymentID: payment.id) }
            if now - existing.providerTime > Self.timeout {
                try await cancelForTimeout(&existing, now: now, in: tx)
                throw Refusal(error: .cannotPerform, paymentID: payment.id)
            }
            return (Self.created(existing), payment.id)
        }
        try requirePayable(payment, amount: amount)
        for var other in try await tx.transactions(paymentID: payment.id) where other.paymeState == .created {
            if now - other.providerTime > Self.timeout { try await cancelForTimeout(&other, now: now, in: tx) }
        }
        if try await tx.transactions(paymentID: payment.id).contains(where: { $0.paymeState == .created || $0.paymeState == .performed }) {
            throw Refusal(error: .orderBusy(field), paymentID: payment.id)
        }
        var transaction = ProviderTransaction(
            id: Identifier.make("ptx"), provider: name, providerTransactionID: id, paymentID: payment.id, state: PaymeTransactionState.created.rawValue,
            amount: amount, providerTime: time, createTime: now, openUntil: time + Self.timeout, account: account
        )
        if now - time > Self.timeout {
            // Payme's clock says it is already too old to perform: record it cancelled by timeout.
            transaction.paymeState = .cancelled
            transaction.reason = PaymeTransactionState.timeoutReason
            transaction.cancelTime = now
            transaction.openUntil = nil
            try await tx.insert(transaction)
            try await tx.audit(change: "cancelled", transaction: transaction, before: .null, after: Self.summary(transaction))
            throw Refusal(error: .cannotPerform, paymentID: payment.id)
        }
        try await tx.insert(transaction)
        try await tx.audit(change: "created", transaction: transaction, before: .null, after: Self.summary(transaction))
        return (Self.created(transaction), payment.id)
    }

    func performTransaction(_ params: PaymeParams, now: Int64, in tx: any ProviderLedgerTransaction) async throws
        -> (JSONValue, String?)
    {
        var (transaction, payment) = try await lockedTransaction(params, in: tx)
        switch transaction.paymeState {
        case .performed:
            return (Self.performed(transaction), payment.id)
        case .created where now - transaction.providerTime > Self.timeout:
            try await cancelForTimeout(&transaction, now: now, in: tx)
            throw Refusal(error: .cannotPerform, paymentID: payment.id)
        case .created:
            let before = Self.summary(transaction)
            transaction.paymeState = .performed
            transaction.performTime = now
            transaction.openUntil = nil
            try await tx.update(transaction)
            try await tx.audit(change: "performed", transaction: transaction, before: before, after: Self.summary(transaction))
            _ = try await tx.finalize(
                payment, outcome: .succeeded, amountMinorUnits: transaction.amount, currencyCode: "UZS", type: "PerformTransaction"
            )
            return (Self.performed(transaction), payment.id)
        default:
            throw Refusal(error: .cannotPerform, paymentID: payment.id)
        }
    }

    func cancel(_ params: PaymeParams, now: Int64, in tx: any ProviderLedgerTransaction) async throws -> (JSONValue, String?) {
        let reason = Int(clamping: try params.integer("reason"))
        var (transaction, payment) = try await lockedTransaction(params, in: tx)
        let before = Self.summary(transaction)
        switch transaction.paymeState {
        case .created:
            transaction.paymeState = .cancelled
        case .performed:
            guard payment.fulfilledAt == nil else { throw Refusal(error: .cannotCancel, paymentID: payment.id) }
            transaction.paymeState = .cancelledAfterPerform
        case .cancelled, .cancelledAfterPerform:
            return (Self.cancelled(transaction), payment.id)  // already cancelled: the same answer
        }
        transaction.cancelTime = now
        transaction.reason = reason
        transaction.openUntil = nil
        try await tx.update(transaction)
        try await tx.audit(change: "cancelled", transaction: transaction, before: before, after: Self.summary(transaction))
        if transaction.paymeState == .cancelledAfterPerform {
            try await tx.refundInFull(payment, providerRefundID: transaction.providerTransactionID, reason: "payme_cancel_reason_\(reason)")
        }
        return (Self.cancelled(transaction), payment.id)
    }

    func check(_ params: PaymeParams, in tx: any ProviderLedgerTransaction) async throws -> (JSONValue, String?) {
        let id = try params.string("id")
        guard let transaction = try await tx.transaction(providerTransactionID: id) else { throw PaymeError.transactionNotFound }
        return (
            .object([
                ("create_time", .int(transaction.createTime)), ("perform_time", .int(transaction.performTime)),
                ("cancel_time", .int(transaction.cancelTime)), ("transaction", .string(transaction.id)),
                ("state", .int(Int64(transaction.paymeState.rawValue))), ("reason", .int(transaction.reason.map(Int64.init))),
            ]),
            transaction.paymentID
        )
    }

    func statement(_ params: PaymeParams, in tx: any ProviderLedgerTransaction) async throws -> (JSONValue, String?) {
        let from = try params.time("from")
        let to = try params.time("to")
        guard from <= to else { throw PaymeError.invalidRequest("to") }
        let transactions = try await tx.transactions(providerTimeFrom: from, to: to)
        return (
            .object([
                (
                    "transactions",
                    .array(
                        transactions.map { transaction in
                            .object([
                                ("id", .string(transaction.providerTransactionID)), ("time", .int(transaction.providerTime)),
                                ("amount", .int(transaction.amount)), ("account", .stringMap(transaction.account)),
                                ("create_time", .int(transaction.createTime)), ("perform_time", .int(transaction.performTime)),
                                ("cancel_time", .int(transaction.cancelTime)), ("transaction", .string(transaction.id)),
                                ("state", .int(Int64(transaction.paymeState.rawValue))), ("reason", .int(transaction.reason.map(Int64.init))),
                                ("receivers", .null),
                            ])
                        }
                    )
                )
            ]),
            nil
        )
    }

    func changePassword(_ params: PaymeParams, in tx: any ProviderLedgerTransaction) async throws -> (JSONValue, String?) {
        let password = try params.string("password")
        try await tx.setCredential(Self.keyCredential, value: password)
        return (.object([("success", .bool(true))]), nil)
    }

    func setFiscalData(_ params: PaymeParams, in tx: any ProviderLedgerTransaction) async throws -> (JSONValue, String?) {
        let type = try params.string("type")
        guard type == "PERFORM" || type == "CANCEL" else { throw PaymeError.invalidRequest("type") }
        let fiscalData = try params.object("fiscal_data")
        var (transaction, payment) = try await lockedTransaction(params, in: tx)
        transaction.fiscalData[type] = fiscalData.serialized()
        try await tx.update(transaction)
        try await tx.audit(
            change: "fiscal_data", transaction: transaction, before: .null, after: .object([("type", .string(type))])
        )
        return (.object([("success", .bool(true))]), payment.id)
    }

    // MARK: - Helpers

    func cancelForTimeout(_ transaction: inout ProviderTransaction, now: Int64, in tx: any ProviderLedgerTransaction) async throws {
        let before = Self.summary(transaction)
        transaction.paymeState = .cancelled
        transaction.reason = PaymeTransactionState.timeoutReason
        transaction.cancelTime = now
        transaction.openUntil = nil
        try await tx.update(transaction)
        try await tx.audit(change: "cancelled", transaction: transaction, before: before, after: Self.summary(transaction))
    }

    static func created(_ t: ProviderTransaction) -> JSONValue {
        .object([("create_time", .int(t.createTime)), ("transaction", .string(t.id)), ("state", .int(Int64(t.paymeState.rawValue)))])
    }

    static func performed(_ t: ProviderTransaction) -> JSONValue {
        .object([("transaction", .string(t.id)), ("perform_time", .int(t.performTime)), ("state", .int(Int64(t.paymeState.rawValue)))])
    }

    static func cancelled(_ t: ProviderTransaction) -> JSONValue {
        .object([("transaction", .string(t.id)), ("cancel_time", .int(t.cancelTime)), ("state", .int(Int64(t.paymeState.rawValue)))])
    }

    static func summary(_ t: ProviderTransaction) -> JSONValue {
        .object([
            ("payme_id", .string(t.providerTransactionID)), ("payment", .string(t.paymentID)), ("state", .int(Int64(t.paymeState.rawValue))),
            ("reason", .int(t.reason.map(Int64.init))),
        ])
    }
}

/// The ledger's data contradicts itself (a transaction whose payment is gone): answered as an internal error.
enum PaymeLedgerError: Error {
    case inconsistent
}
