import Foundation
import Logging
import SettleCore
import SettleProviders
import SettleStore

extension ReconciliationService {
    /// A run's reason to stop, in words for the merchant.
    struct Failure: Error {
        var message: String
    }

    /// Another instance took the run over (this one stopped renewing its lease in time): stop without writing.
    struct LeaseLost: Error {}

    /// What a page found, with the differences to apply in the same transaction.
    struct Finding: Sendable {
        var item: ReconciliationItem
        var record: ProviderRecord?
    }

    /// One run, from its claim to its end.
    struct Execution {
        let service: ReconciliationService
        var run: ReconciliationRun
        let progress: (@Sendable (ReconciliationRun) -> Void)?
        var paymentsChecked = 0
        var providerRecords = 0
        var applied = 0

        init(service: ReconciliationService, run: ReconciliationRun, progress: (@Sendable (ReconciliationRun) -> Void)?) {
            self.service = service
            self.run = run
            self.progress = progress
        }

        var store: Store { service.store }

        mutating func execute() async {
            let logger = service.logger
            // The lease is extended every third of its length while the run works, however long a page takes.
            let (store, id, owner) = (service.store, run.id, service.owner)
            let now = service.now
            let heartbeat = Task {
                while !Task.isCancelled {
                    try? await Task.sleep(for: .seconds(Int(ReconciliationService.lease / 3)))
                    if Task.isCancelled { return }
                    let until = now().addingTimeInterval(ReconciliationService.lease)
                    let held = try? await store.write { tx in try await tx.extendReconciliationLease(id: id, owner: owner, until: until) }
                    if held == false { return }
                }
            }
            defer { heartbeat.cancel() }
            do {
                guard let provider = service.providers.provider(named: run.provider), provider.availability.isEnabled else {
                    throw Failure(message: "The \(run.provider) provider is disabled; its records cannot be read.")
                }
                switch provider.reconciliationSource {
                case .unsupported(let reason): throw Failure(message: reason)
                case .listing: try await listing(provider)
                case .perPayment(let refunds): try await perPayment(provider, coversRefunds: refunds)
                }
                try await finish(.succeeded, failure: nil)
                logger.info(
                    "reconciliation finished",
                    metadata: ["reconciliation": "\(run.id)", "provider": "\(run.provider)", "payments": "\(paymentsChecked)", "applied": "\(applied)"]
                )
            } catch is LeaseLost {
                logger.warning("reconciliation taken over by another instance", metadata: ["reconciliation": "\(run.id)"])
            } catch where Task.isCancelled || error is CancellationError {
                // Shutting down: back in the queue, for another instance (or this one, once it is back) to run again.
                let (id, owner) = (run.id, service.owner)
                try? await store.write { tx in try await tx.releaseReconciliation(id: id, owner: owner) }
                logger.notice("reconciliation put back in the queue at shutdown", metadata: ["reconciliation": "\(run.id)"])
            } catch {
                let message: String =
                    switch error {
                    case let failure as Failure: failure.message
                    case let error as ProviderError: "\(run.provider) could not be asked for its records: \(error.message)"
                    default: "The reconciliation stopped: Settle's database could not be read or written."
                    }
                logger.warning("reconciliation failed", metadata: ["reconciliation": "\(run.id)", "reason": "\(message)"])
                try? await finish(.failed, failure: message)
            }
        }

        // MARK: Listing providers

        /// Reads every record the provider lists for the window, then walks Settle's payments matching them by Settle's
        /// id or the provider's; a payment the listing missed is asked about on its own. What is left of the listing is
        /// money Settle never heard of (or a payment just outside Settle's window, compared all the same).
        mutating func listing(_ provider: any PaymentProvider) async throws {
            var payments: [ProviderRecord] = []
            var refunds: [ProviderRecord] = []
            var cursor: String?
            var pages = 0
            repeat {
                let page = try await provider.reconciliationRecords(mode: run.mode, from: run.from, to: run.to, cursor: cursor)
                for record in page.records {
                    if record.object == .payment { payments.append(record) } else { refunds.append(record) }
                }
                providerRecords += page.records.count
                cursor = page.nextCursor
                pages += 1
                guard pages <= 100_000, providerRecords <= ReconciliationService.maximumListedRecords else {
                    throw Failure(message: "\(run.provider) listed more than \(ReconciliationService.maximumListedRecords) records; narrow the window.")
                }
                try await renew()
            } while cursor != nil

            var paymentIndex = RecordIndex(payments)
            var refundIndex = RecordIndex(refunds)
            // Every id a payment of this run goes by (Settle's, the provider's, Stripe's payment intent) → Settle's id.
            var aliases: [String: String] = [:]
            var after: (createdAt: Date, id: String)?
            while true {
                let page = try await store.paymentsCreated(
                    provider: run.provider, mode: run.mode, from: run.from, to: run.to, after: after, limit: ReconciliationService.pageSize
                )
                if page.isEmpty { break }
                let settleRefunds = Dictionary(grouping: try await store.refunds(paymentIDs: page.map(\.id)), by: \.paymentID)
                var findings: [Finding] = []
                for payment in page {
                    var record = paymentIndex.take(payment.id) ?? payment.providerPaymentID.flatMap { paymentIndex.take($0) }
                    if record == nil {
                        let subject = ReconciliationSubject(payment: payment, refunds: settleRefunds[payment.id] ?? [])
                        record = try await provider.reconciliationRecords(for: subject).first { $0.object == .payment }
                    }
                    aliases[payment.id] = payment.id
                    for alias in [payment.providerPaymentID, record?.providerID, record?.providerPaymentID].compactMap({ $0 }) {
                        aliases[alias] = payment.id
                    }
                    findings.append(paymentFinding(payment, record))
                    for refund in settleRefunds[payment.id] ?? [] where Self.reachedProvider(refund) {
                        let found = refund.providerRefundID.flatMap { refundIndex.take($0) } ?? refundIndex.take(refund.id)
                        findings.append(refundFinding(refund, found, paymentID: payment.id))
                    }
                }
                paymentsChecked += page.count
                try await save(findings)
                guard page.count == ReconciliationService.pageSize, let last = page.last else { break }
                after = (last.createdAt, last.id)
            }

            // What the listing holds that no payment of the window claimed.
            var findings: [Finding] = []
            for record in paymentIndex.remaining {
                var payment: Payment?
                if let id = record.paymentID { payment = try await store.payment(id: id) }
                if payment == nil { payment = try await store.payment(provider: run.provider, providerPaymentID: record.providerID) }
                if let known = payment, known.provider != run.provider || known.mode != run.mode { payment = nil }
                // A payment just outside Settle's window is compared all the same; its refunds belong to its own window's
                // run (no alias: the listing's refunds of it are left alone).
                if payment != nil { paymentsChecked += 1 }
                findings.append(paymentFinding(payment, record))
                if findings.count >= ReconciliationService.pageSize {
                    try await save(findings)
                    findings = []
                }
            }
            for record in refundIndex.remaining {
                // A refund of a payment outside this run belongs to that payment's window.
                guard let paymentID = record.paymentID.flatMap({ aliases[$0] }) ?? record.providerPaymentID.flatMap({ aliases[$0] }) else { continue }
                findings.append(refundFinding(nil, record, paymentID: paymentID))
            }
            try await save(findings)
        }

        // MARK: Per-payment providers

        /// Asks the provider about each of Settle's payments in the window (a few at a time), with its refunds and the
        /// provider's own transactions when it keeps them in Settle.
        mutating func perPayment(_ provider: any PaymentProvider, coversRefunds: Bool) async throws {
            var after: (createdAt: Date, id: String)?
            while true {
                let page = try await store.paymentsCreated(
                    provider: run.provider, mode: run.mode, from: run.from, to: run.to, after: after, limit: ReconciliationService.pageSize
                )
                if page.isEmpty { break }
                let settleRefunds = Dictionary(grouping: try await store.refunds(paymentIDs: page.map(\.id)), by: \.paymentID)
                var subjects: [ReconciliationSubject] = []
                for payment in page {
                    let transactions = provider.keepsTransactions ? try await store.providerTransactions(paymentID: payment.id) : []
                    subjects.append(ReconciliationSubject(payment: payment, refunds: settleRefunds[payment.id] ?? [], transactions: transactions))
                }
                let answers = try await Self.ask(provider, about: subjects)
                var findings: [Finding] = []
                for (subject, records) in zip(subjects, answers) {
                    let payment = subject.payment
                    providerRecords += records.count
                    findings.append(paymentFinding(payment, records.first { $0.object == .payment }))
                    guard coversRefunds else { continue }
                    var index = RecordIndex(records.filter { $0.object == .refund })
                    for refund in subject.refunds where Self.reachedProvider(refund) {
                        let found = refund.providerRefundID.flatMap { index.take($0) } ?? index.take(refund.id)
                        findings.append(refundFinding(refund, found, paymentID: payment.id))
                    }
                    for record in index.remaining { findings.append(refundFinding(nil, record, paymentID: payment.id)) }
                }
                paymentsChecked += page.count
                try await save(findings)
                guard page.count == ReconciliationService.pageSize, let last = page.last else { break }
                after = (last.createdAt, last.id)
            }
        }

        /// The provider's answers for each subject, in order, `concurrency` questions at a time.
        static func ask(_ provider: any PaymentProvider, about subjects: [ReconciliationSubject]) async throws -> [[ProviderRecord]] {
            var answers = [[ProviderRecord]](repeating: [], count: subjects.count)
            try await withThrowingTaskGroup(of: (Int, [ProviderRecord]).self) { group in
                var next = 0
                func start() {
                    let index = next
                    let subject = subjects[index]
                    group.addTask { (index, try await provider.reconciliationRecords(for: subject)) }
                    next += 1
                }
                while next < min(ReconciliationService.concurrency, subjects.count) { start() }
                while let (index, records) = try await group.next() {
                    answers[index] = records
                    if next < subjects.count { start() }
                }
            }
            return answers
        }

        // MARK: Findings

        func paymentFinding(_ payment: Payment?, _ record: ProviderRecord?) -> Finding {
            let settle = payment.map { ReconciledSide(status: ReconciledStatus($0.status), amount: $0.amount.minorUnits, currency: $0.amount.currency.code) }
            let kind = Reconciler.classify(settle: settle, provider: record?.side, reachedProvider: payment.map(Self.reachedProvider) ?? true)
            return Finding(
                item: ReconciliationItem(
                    runID: run.id, kind: kind, object: .payment, paymentID: payment?.id ?? record?.paymentID,
                    providerID: record?.providerID ?? payment?.providerPaymentID, settle: settle, provider: record?.side, fee: record?.fee,
                    net: record?.net
                ),
                record: record
            )
        }

        /// Whether the provider should know the payment: it named it, or money moved.
        static func reachedProvider(_ payment: Payment) -> Bool {
            payment.providerPaymentID != nil || payment.status == .succeeded || payment.status == .requiresReview
        }

        /// Whether the provider should know the refund: it named it, or Settle asked and is waiting for the answer (a
        /// refund an operator paid back by other means never went to the provider).
        static func reachedProvider(_ refund: Refund) -> Bool {
            refund.providerRefundID != nil || refund.status == .pending
        }

        func refundFinding(_ refund: Refund?, _ record: ProviderRecord?, paymentID: String) -> Finding {
            let settle = refund.map { ReconciledSide(status: ReconciledStatus($0.status), amount: $0.amount.minorUnits, currency: $0.amount.currency.code) }
            return Finding(
                item: ReconciliationItem(
                    runID: run.id, kind: Reconciler.classify(settle: settle, provider: record?.side), object: .refund, paymentID: paymentID,
                    refundID: refund?.id ?? record?.refundID, providerID: record?.providerID ?? refund?.providerRefundID, settle: settle,
                    provider: record?.side, fee: record?.fee, net: record?.net
                ),
                record: record
            )
        }

        /// Stores a page's findings and, for a run that applies, applies what may be in the same transaction; then renews
        /// the lease with the progress.
        mutating func save(_ findings: [Finding]) async throws {
            guard !findings.isEmpty else { return }
            let run = self.run
            let owner = service.owner
            // A few dozen to a transaction: applying writes an event, an audit entry and a message for each, and on
            // SQLite other writers wait for the one writer.
            for start in stride(from: 0, to: findings.count, by: ReconciliationService.findingsPerTransaction) {
                let chunk = Array(findings[start..<min(start + ReconciliationService.findingsPerTransaction, findings.count)])
                let at = service.now()
                let count = try await store.write { tx -> Int in
                    // Still this instance's run: nothing is written for a run another instance took over.
                    guard try await tx.holdsReconciliation(id: run.id, owner: owner) else { throw LeaseLost() }
                    var items: [ReconciliationItem] = []
                    var count = 0
                    for finding in chunk {
                        var item = finding.item
                        if run.apply, let record = finding.record, let paymentID = item.paymentID,
                            Reconciler.isApplicable(item.kind, object: item.object, provider: item.provider)
                        {
                            let outcome = try await Self.apply(record, paymentID: paymentID, run: run, at: at, in: tx)
                            item.applied = outcome.text
                            if outcome.changed { count += 1 }
                        }
                        items.append(item)
                    }
                    try await tx.insertReconciliationItems(items)
                    return count
                }
                applied += count
            }
            try await renew()
        }

        /// Applies the provider's final state of one record through the notification path, as the run.
        static func apply(_ record: ProviderRecord, paymentID: String, run: ReconciliationRun, at: Date, in tx: StoreTransaction) async throws
            -> (text: String, changed: Bool)
        {
            guard let outcome = record.status.finalOutcome else { return ("not_final", false) }
            let event: ProviderEvent
            if record.object == .payment {
                event = ProviderEvent(
                    eventID: "reconciliation:\(paymentID):\(outcome.rawValue):\(record.amount.map(String.init) ?? "?"):\(record.currency ?? "?")",
                    type: "reconciliation.\(outcome.rawValue)", target: .payment(id: paymentID), outcome: outcome,
                    // An amount with no exact equivalent never matches: the payment goes to review.
                    amountMinorUnits: record.amount ?? -1, currencyCode: record.currency,
                    failure: outcome == .failed ? PaymentFailure(code: "provider_records", message: "The provider's records show the payment failed.") : nil
                )
            } else {
                event = ProviderEvent(
                    eventID: "reconciliation:\(record.providerID):\(outcome.rawValue)", type: "reconciliation.refund_\(outcome.rawValue)",
                    target: .payment(id: paymentID), outcome: nil, amountMinorUnits: record.amount, currencyCode: record.currency,
                    refund: ProviderRefund(
                        providerRefundID: record.providerID, reason: "reconciliation", outcome: outcome == .succeeded ? .succeeded : .failed,
                        refundID: record.refundID
                    )
                )
            }
            let raw = InboundNotification(
                provider: run.provider, method: "GET", contentType: "application/json", headers: [:],
                body: JSONValue.object([
                    ("source", .string("reconciliation")), ("reconciliation", .string(run.id)), ("type", .string(record.object.rawValue)),
                    ("provider_id", .string(record.providerID)), ("status", .string(record.status.rawValue)), ("amount", .int(record.amount)),
                    ("currency", .string(record.currency)),
                ]).bytes(),
                receivedAt: at
            )
            let result = try await NotificationIngestor.apply(
                event, provider: run.provider, raw: raw, requestID: nil, actor: .init(kind: .system, id: "reconciliation:\(run.id)"), in: tx
            )
            switch result {
            case .applied(_, let status): return ("applied:\(status.rawValue)", true)
            case .refunded: return ("applied:refunded", true)
            case .unchanged(_, let reason): return ("unchanged:\(reason)", false)
            case .duplicate: return ("already_applied", false)
            case .unmatched: return ("unmatched", false)
            case .ignored: return ("ignored", false)
            }
        }

        mutating func renew() async throws {
            let (id, owner, checked, records, applied) = (run.id, service.owner, paymentsChecked, providerRecords, self.applied)
            let until = service.now().addingTimeInterval(ReconciliationService.lease)
            let held = try await store.write { tx in
                try await tx.reconciliationProgress(
                    id: id, owner: owner, paymentsChecked: checked, providerRecords: records, applied: applied, leaseUntil: until
                )
            }
            guard held else { throw LeaseLost() }
            run.paymentsChecked = checked
            run.providerRecords = records
            run.applied = applied
            progress?(run)
        }

        mutating func finish(_ status: ReconciliationRun.Status, failure: String?) async throws {
            let (id, owner, checked, records, applied, at) = (run.id, service.owner, paymentsChecked, providerRecords, self.applied, service.now())
            let done = try await store.write { tx in
                try await tx.finishReconciliation(
                    id: id, owner: owner, status: status, failure: failure, paymentsChecked: checked, providerRecords: records, applied: applied, at: at
                )
            }
            guard done else { throw LeaseLost() }
            let counts = (try? await store.reconciliationCounts(runID: id)) ?? [:]
            service.metrics.reconciliation(
                provider: run.provider, status: status.rawValue, counts: Dictionary(uniqueKeysWithValues: counts.map { ($0.key.rawValue, $0.value) })
            )
        }
    }
}

/// Records by every id they go by (the provider's, Settle's payment or refund id), each taken once.
struct RecordIndex {
    private var records: [ProviderRecord]
    private var byID: [String: [Int]] = [:]
    private var taken: Set<Int> = []

    init(_ records: [ProviderRecord]) {
        self.records = records
        for (index, record) in records.enumerated() {
            let ids = record.object == .payment ? [record.providerID, record.paymentID] : [record.providerID, record.refundID]
            for id in ids.compactMap({ $0 }) { byID[id, default: []].append(index) }
        }
    }

    /// The first record not taken yet that goes by `id`.
    mutating func take(_ id: String) -> ProviderRecord? {
        guard let index = byID[id]?.first(where: { !taken.contains($0) }) else { return nil }
        taken.insert(index)
        return records[index]
    }

    var remaining: [ProviderRecord] { records.indices.filter { !taken.contains($0) }.map { records[$0] } }
}
