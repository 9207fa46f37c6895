import Foundation
import SettleCore
import SettleProviders
import SettleStore

/// The sandbox's books over Settle's database (``SandboxRecords``): each sandbox payment in the window as Settle holds
/// it — a payment under review was reported paid — with its refunds, unless `provider_state` recorded another state
/// for it (`missing`: the sandbox has no record); then the records set for payments Settle does not have.
enum SandboxBooks {
    /// Statuses `provider_state` takes: the sandbox's own outcomes, and `missing`.
    static let statuses = ["open", "processing", "succeeded", "failed", "canceled", "expired", "missing"]

    static let pageSize = 500

    static func records(store: Store) -> SandboxRecords {
        SandboxRecords { mode, from, to, cursor in
            if cursor == "orphans" {
                let orphans = try await store.sandboxOrphanRecords(mode: mode, from: from, to: to)
                return ProviderRecordPage(records: orphans.compactMap { record($0, refunds: []) }.flatMap { $0 }, nextCursor: nil)
            }
            let after = cursor.flatMap(Self.parse)
            let rows = try await store.sandboxRecords(mode: mode, from: from, to: to, after: after, limit: pageSize)
            let refunds = Dictionary(grouping: try await store.refunds(paymentIDs: rows.map(\.paymentID)), by: \.paymentID)
            let records = rows.compactMap { record($0, refunds: refunds[$0.paymentID] ?? []) }.flatMap { $0 }
            let next = rows.count == pageSize ? rows.last.map { "\(UnixTime.milliseconds($0.createdAt)):\($0.paymentID)" } : "orphans"
            return ProviderRecordPage(records: records, nextCursor: next)
        }
    }

    static func parse(_ cursor: String) -> (createdAt: Date, id: String)? {
        guard let colon = cursor.firstIndex(of: ":"), let ms = Int64(cursor[..<colon]) else { return nil }
        return (UnixTime.date(milliseconds: ms), String(cursor[cursor.index(after: colon)...]))
    }

    static func record(_ row: SandboxRecordRow, refunds: [Refund]) -> [ProviderRecord]? {
        if row.status == "missing" { return nil }
        let payment = row.payment
        let projected: ReconciledStatus? = payment.map { $0.status == .requiresReview ? .succeeded : ReconciledStatus($0.status) }
        guard let status = row.status.flatMap(ReconciledStatus.init(rawValue:)) ?? projected else { return nil }
        var records = [
            ProviderRecord(
                object: .payment, providerID: payment?.providerPaymentID ?? SandboxProvider.providerID(for: row.paymentID),
                paymentID: row.paymentID, status: status, amount: row.amount ?? payment?.amount.minorUnits,
                currency: row.currency ?? payment?.amount.currency.code
            )
        ]
        for refund in refunds where refund.status != .requiresAction && refund.providerRefundID != nil {
            records.append(
                ProviderRecord(
                    object: .refund, providerID: refund.providerRefundID!, paymentID: refund.paymentID, refundID: refund.id,
                    status: ReconciledStatus(refund.status), amount: refund.amount.minorUnits, currency: refund.amount.currency.code
                )
            )
        }
        return records
    }
}

extension ReconciliationService {
    /// `POST /sandbox/payments/{id}/provider_state`: the sandbox's record of a test payment changes, and Settle is not
    /// told — so a reconciliation has a divergence to find. For a payment Settle does not have, the record is money the
    /// sandbox holds that Settle never heard of (amount and currency required). Test-mode keys only.
    public func setSandboxState(paymentID: String, status: String, amount: Int64?, currency: String?, caller: Caller) async throws(SettleError)
        -> JSONValue
    {
        guard caller.mode == .test else {
            throw SettleError(.providerModeUnsupported, "The sandbox's records change with a test-mode key only.")
        }
        guard SandboxBooks.statuses.contains(status) else {
            throw SettleError.invalid("status", "status must be one of \(SandboxBooks.statuses.joined(separator: ", ")).")
        }
        if let amount, amount <= 0 { throw SettleError.invalid("amount", "amount must be a positive integer in minor units.", code: .amountInvalid) }
        var code: String?
        if let currency {
            guard let known = Currency.lookup(currency) else {
                throw SettleError.invalid("currency", "currency must be an ISO 4217 code.", code: .currencyInvalid)
            }
            code = known.code
        }
        let payment = try await store.fetch({ try await store.payment(id: paymentID) }, logger: logger)
        if let payment {
            guard payment.provider == SandboxProvider.name, payment.mode == .test else { throw SettleError.notFound(.payment, id: paymentID) }
        } else {
            guard paymentID.hasPrefix("pay_"), (5...68).contains(paymentID.count),
                paymentID.dropFirst(4).allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) })
            else {
                throw SettleError.invalid("id", "A payment Settle does not have is named pay_ followed by letters and digits.")
            }
            guard status != "missing", amount != nil, code != nil else {
                throw SettleError.invalid("amount", "A record of a payment Settle does not have needs a status, an amount and a currency.")
            }
        }
        let at = now()
        let currencyCode = code
        let actor = caller.actor
        let record: JSONValue = .object([("status", .string(status)), ("amount", .int(amount)), ("currency", .string(currencyCode))])
        try await store.perform({ tx in
            try await tx.upsertSandboxRecord(paymentID: paymentID, mode: .test, status: status, amount: amount, currency: currencyCode, at: at)
            try await tx.appendAudit(
                AuditRecord(
                    actorKind: actor.kind, actorID: actor.id, action: .sandboxRecordChanged, targetType: .payment, targetID: paymentID,
                    after: record, requestID: caller.requestID, at: at
                )
            )
        }, logger: logger)
        return .object([
            ("object", .string("sandbox_record")), ("payment", .string(paymentID)), ("status", .string(status)),
            ("amount", .int(amount ?? payment?.amount.minorUnits)), ("currency", .string(code ?? payment?.amount.currency.code)),
        ])
    }
}
