import Foundation

/// One reconciliation: a provider's records for a window of payment creation times, compared with Settle's.
public struct ReconciliationRun: Sendable, Hashable {
    public enum Status: String, Sendable, Hashable, CaseIterable, Codable {
        /// Waiting for an instance to take it.
        case queued
        case running
        case succeeded
        /// The provider could not be asked (or the run broke); `failure` says why. Nothing it found is applied twice
        /// when it is run again.
        case failed
    }

    public var id: String
    public var mode: Mode
    public var provider: String
    /// Payments created at or after `from` and before `to`, with all their refunds.
    public var from: Date
    public var to: Date
    public var apply: Bool
    public var status: Status
    /// `api`, `cli` or `schedule`.
    public var trigger: String
    public var counts: [ReconciliationClass: Int]
    /// How many differences were applied.
    public var applied: Int
    /// Payments of Settle's compared so far, and the provider's records read so far.
    public var paymentsChecked: Int
    public var providerRecords: Int
    public var failure: String?
    public var createdAt: Date
    public var startedAt: Date?
    public var completedAt: Date?

    public init(
        id: String, mode: Mode, provider: String, from: Date, to: Date, apply: Bool, status: Status, trigger: String,
        counts: [ReconciliationClass: Int] = [:], applied: Int = 0, paymentsChecked: Int = 0, providerRecords: Int = 0,
        failure: String? = nil, createdAt: Date, startedAt: Date? = nil, completedAt: Date? = nil
    ) {
        self.id = id
        self.mode = mode
        self.provider = provider
        self.from = from
        self.to = to
        self.apply = apply
        self.status = status
        self.trigger = trigger
        self.counts = counts
        self.applied = applied
        self.paymentsChecked = paymentsChecked
        self.providerRecords = providerRecords
        self.failure = failure
        self.createdAt = createdAt
        self.startedAt = startedAt
        self.completedAt = completedAt
    }

    public var apiObject: JSONValue {
        .object([
            ("id", .string(id)), ("object", .string("reconciliation")), ("livemode", .bool(mode.isLive)),
            ("provider", .string(provider)), ("from", .int(UnixTime.seconds(from))), ("to", .int(UnixTime.seconds(to))),
            ("apply", .bool(apply)), ("status", .string(status.rawValue)), ("trigger", .string(trigger)),
            ("counts", .object(ReconciliationClass.allCases.map { ($0.rawValue, .int(Int64(counts[$0] ?? 0))) })),
            ("applied", .int(Int64(applied))),
            ("progress", .object([
                ("payments_checked", .int(Int64(paymentsChecked))), ("provider_records", .int(Int64(providerRecords))),
            ])),
            ("failure", .string(failure)), ("created_at", .int(UnixTime.seconds(createdAt))),
            ("started_at", .int(startedAt.map(UnixTime.seconds))), ("completed_at", .int(completedAt.map(UnixTime.seconds))),
        ])
    }
}

/// What a reconciliation found for one payment or refund.
public struct ReconciliationItem: Sendable, Hashable {
    /// `rci_…`, once stored.
    public var id: String?
    public var runID: String
    public var kind: ReconciliationClass
    public var object: ReconciledObject
    /// Settle's payment (for a refund, the payment it returns), when Settle knows it.
    public var paymentID: String?
    /// Settle's refund, for a refund Settle knows.
    public var refundID: String?
    /// The provider's id of the payment or refund, when the provider has it.
    public var providerID: String?
    public var settle: ReconciledSide?
    public var provider: ReconciledSide?
    /// The provider's fee and what it pays out, in minor units of the currency, where it says.
    public var fee: Int64?
    public var net: Int64?
    /// What applying the provider's state did (`applied:succeeded`, `unchanged:under_review`), when it was applied.
    public var applied: String?

    public init(
        runID: String, kind: ReconciliationClass, object: ReconciledObject, paymentID: String?, refundID: String? = nil,
        providerID: String?, settle: ReconciledSide?, provider: ReconciledSide?, fee: Int64? = nil, net: Int64? = nil,
        applied: String? = nil
    ) {
        self.runID = runID
        self.kind = kind
        self.object = object
        self.paymentID = paymentID
        self.refundID = refundID
        self.providerID = providerID
        self.settle = settle
        self.provider = provider
        self.fee = fee
        self.net = net
        self.applied = applied
    }

    public var apiObject: JSONValue {
        func side(_ side: ReconciledSide?) -> JSONValue {
            guard let side else { return .null }
            return .object([("status", .string(side.status.rawValue)), ("amount", .int(side.amount)), ("currency", .string(side.currency))])
        }
        return .object([
            ("id", .string(id)), ("object", .string("reconciliation_item")), ("reconciliation", .string(runID)), ("class", .string(kind.rawValue)),
            ("type", .string(object.rawValue)), ("payment", .string(paymentID)), ("refund", .string(refundID)),
            ("provider_id", .string(providerID)), ("settle", side(settle)), ("provider", side(provider)), ("fee", .int(fee)),
            ("net", .int(net)), ("applied", .string(applied)),
        ])
    }

    /// The CSV columns, in order.
    public static let csvHeader = [
        "class", "type", "payment", "refund", "provider_id", "settle_status", "settle_amount", "settle_currency", "provider_status",
        "provider_amount", "provider_currency", "fee", "net", "applied",
    ]

    public var csvFields: [String] {
        [
            kind.rawValue, object.rawValue, paymentID ?? "", refundID ?? "", providerID ?? "", settle?.status.rawValue ?? "",
            settle?.amount.map(String.init) ?? "", settle?.currency ?? "", provider?.status.rawValue ?? "",
            provider?.amount.map(String.init) ?? "", provider?.currency ?? "", fee.map(String.init) ?? "", net.map(String.init) ?? "",
            applied ?? "",
        ]
    }
}
