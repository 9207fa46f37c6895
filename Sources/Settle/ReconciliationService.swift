import Foundation
import Logging
import Synchronization
import SettleCore
import SettleProviders
import SettleStore

/// Reconciliation: for one provider and a window of payment creation times, every payment Settle holds (and each of
/// its refunds) is compared with the provider's own record, and each is classified (``Reconciler``).
///
/// A run is queued in the database and taken by exactly one instance under a lease it renews after every page (an
/// instance that stops is replaced once its lease lapses; the run then starts again). The provider is read outside any
/// transaction; what a page found is stored in one transaction, together with, when the run was asked to `apply`, the
/// provider's final states applied through the same exactly-once path as a notification (audited as the run's).
/// Amounts never change: a success for another amount sends an open payment to review, and a final payment is left
/// for an operator.
public struct ReconciliationService: Sendable {
    let store: Store
    let providers: ProviderRegistry
    let logger: Logger
    let now: @Sendable () -> Date
    /// This instance, as the runs' lease owner.
    public let owner: String
    /// Set when this instance queued a run, so its runner looks now rather than at its next poll.
    let queued = Wakeup()

    /// A flag the runner polls between its sleeps.
    final class Wakeup: Sendable {
        let flag = Atomic<Bool>(false)
    }

    /// Waits until this instance queues a run, or `timeout` passes.
    public func waitForWork(timeout: Duration) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if queued.flag.exchange(false, ordering: .relaxed) { return }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    let metrics: SettleMetrics

    public init(
        store: Store, providers: ProviderRegistry, logger: Logger, now: @escaping @Sendable () -> Date = { Date() }, owner: String = Identifier.make("inst"),
        metrics: SettleMetrics = .none
    ) {
        self.metrics = metrics
        self.store = store
        self.providers = providers
        self.logger = logger
        self.now = now
        self.owner = owner
    }

    /// How long a run's lease lasts without renewal.
    public static let lease: TimeInterval = 120
    /// The longest window one run covers.
    public static let maximumWindow: TimeInterval = 93 * 86_400
    /// Settle's payments read per page (and per transaction of findings).
    static let pageSize = 500
    /// Concurrent questions to a per-payment provider.
    static let concurrency = 8
    /// Findings stored (and applied) per transaction.
    static let findingsPerTransaction = 50
    /// The most records one run reads from a listing provider (they are held to be matched).
    public static let maximumListedRecords = 2_000_000

    public struct CreateRequest: Sendable {
        public var provider: String
        public var from: Date
        public var to: Date
        public var apply: Bool
        public var trigger: String

        public init(provider: String, from: Date, to: Date, apply: Bool = false, trigger: String = "api") {
            self.provider = provider
            self.from = from
            self.to = to
            self.apply = apply
            self.trigger = trigger
        }
    }

    /// Queues a run (an instance's runner takes it); audited, and with `idempotency` its answer is stored in the same
    /// transaction, so a retry replays it instead of queueing a second run. `queue: false` (the CLI) creates it held by
    /// this process, for ``createAndRun(_:caller:started:progress:)``.
    public func create(
        _ request: CreateRequest, caller: Caller, queue: Bool = true, idempotency: IdempotencyScope? = nil
    ) async throws(SettleError) -> ReconciliationRun {
        try validate(provider: request.provider, mode: caller.mode)
        guard request.from < request.to else { throw SettleError.invalid("to", "to must be after from.") }
        guard request.to.timeIntervalSince(request.from) <= Self.maximumWindow else {
            throw SettleError.invalid("to", "A reconciliation covers at most 93 days; split the window.")
        }
        let at = now()
        guard request.from <= at else { throw SettleError.invalid("from", "from is in the future.") }
        let run = ReconciliationRun(
            id: Identifier.make("rec"), mode: caller.mode, provider: request.provider, from: request.from, to: request.to, apply: request.apply,
            status: .queued, trigger: request.trigger, createdAt: at
        )
        let actor = caller.actor
        let (owner, leaseUntil) = (self.owner, at.addingTimeInterval(Self.lease))
        try await store.perform({ tx in
            _ = try await tx.insertReconciliationRun(run, heldBy: queue ? nil : (owner, leaseUntil))
            try await tx.appendAudit(
                AuditRecord(
                    actorKind: actor.kind, actorID: actor.id, action: .reconciliationCreated, targetType: .reconciliation, targetID: run.id,
                    after: run.apiObject, requestID: caller.requestID, at: at
                )
            )
            if let idempotency { try await tx.completeIdempotencyKey(idempotency, status: 202, body: run.apiObject.bytes()) }
        }, logger: logger)
        if queue { queued.flag.store(true, ordering: .relaxed) }
        return run
    }

    func validate(provider name: String, mode: Mode) throws(SettleError) {
        guard let provider = providers.provider(named: name) else {
            throw SettleError(.providerUnknown, "No provider named \(Text.echo(name, limit: 40)).", param: "provider")
        }
        guard provider.availability.isEnabled else {
            throw SettleError(.providerDisabled, "The \(name) provider is disabled; its records cannot be read.", param: "provider", status: 400)
        }
        if case .unsupported(let reason) = provider.reconciliationSource {
            throw SettleError(.reconciliationNotSupported, reason, param: "provider")
        }
        guard provider.modes.contains(mode) else {
            throw SettleError(.providerModeUnsupported, "The \(name) provider does not serve \(mode.rawValue) mode.", param: "provider")
        }
    }

    /// A run; while it runs, its counts so far.
    public func run(id: String, mode: Mode) async throws(SettleError) -> ReconciliationRun {
        let found = try await store.fetch({ try await store.reconciliationRun(id: id) }, logger: logger)
        guard var run = found, run.mode == mode else { throw SettleError.notFound(.reconciliation, id: id) }
        if run.status == .running {
            run.counts = try await store.fetch({ try await store.reconciliationCounts(runID: id) }, logger: logger)
        }
        return run
    }

    public func list(mode: Mode, limit: Int, startingAfter: String?) async throws(SettleError) -> (runs: [ReconciliationRun], hasMore: Bool) {
        if let startingAfter, (try await store.fetch({ try await store.reconciliationRun(id: startingAfter) }, logger: logger))?.mode != mode {
            throw SettleError.invalid("starting_after", "starting_after names no reconciliation.")
        }
        return try await store.fetch({ try await store.reconciliationRuns(mode: mode, limit: limit, startingAfter: startingAfter) }, logger: logger)
    }

    public func items(runID: String, mode: Mode, kind: ReconciliationClass?, limit: Int, startingAfter: String?) async throws(SettleError)
        -> (items: [ReconciliationItem], hasMore: Bool)
    {
        _ = try await run(id: runID, mode: mode)
        if let startingAfter, !(try await store.fetch({ try await store.reconciliationItemExists(runID: runID, id: startingAfter) }, logger: logger)) {
            throw SettleError.invalid("starting_after", "starting_after names no item of this reconciliation.")
        }
        let page = try await store.fetch(
            { try await store.reconciliationItems(runID: runID, kind: kind, limit: limit, startingAfter: startingAfter) }, logger: logger
        )
        return (page.items.map { entry in
            var item = entry.item
            item.id = entry.id
            return item
        }, page.hasMore)
    }

    /// Every item of a run (of one class), as CSV with a header line, handed to `write` a page at a time (a run of
    /// millions of items is never held whole). The run is checked first, so a missing one throws before anything is
    /// written.
    public func csv(runID: String, mode: Mode, kind: ReconciliationClass?) async throws(SettleError) -> CSVExport {
        _ = try await run(id: runID, mode: mode)
        return CSVExport(service: self, runID: runID, mode: mode, kind: kind)
    }

    /// A run's items as CSV, page by page.
    public struct CSVExport: Sendable {
        let service: ReconciliationService
        let runID: String
        let mode: Mode
        let kind: ReconciliationClass?

        public func write(_ sink: (String) async throws -> Void) async throws {
            try await sink(ReconciliationItem.csvHeader.joined(separator: ",") + "\r\n")
            var after: String?
            while true {
                // The run was checked once, before the first line: each page is one read of its items alone.
                let page = try await service.store.reconciliationItems(runID: runID, kind: kind, limit: 1000, startingAfter: after)
                var text = ""
                for entry in page.items { text += entry.item.csvFields.map(CSV.field).joined(separator: ",") + "\r\n" }
                try await sink(text)
                guard page.hasMore, let last = page.items.last?.id else { return }
                after = last
            }
        }
    }

    // MARK: - Running

    /// Takes the oldest queued run (or one whose instance stopped) and runs it to the end. Returns it, or `nil` when
    /// there was none.
    @discardableResult
    public func runNext(progress: (@Sendable (ReconciliationRun) -> Void)? = nil) async -> ReconciliationRun? {
        await runClaimed(id: nil, progress: progress)
    }

    /// Creates a run already held by this process and runs it to the end (the CLI): no server instance can take it
    /// first. Returns it as it ended.
    public func createAndRun(
        _ request: CreateRequest, caller: Caller, started: @Sendable (ReconciliationRun) async -> Void = { _ in },
        progress: (@Sendable (ReconciliationRun) -> Void)? = nil
    ) async throws(SettleError) -> ReconciliationRun {
        var claimed = try await create(request, caller: caller, queue: false)
        claimed.status = .running
        claimed.startedAt = claimed.createdAt
        await started(claimed)
        var execution = Execution(service: self, run: claimed, progress: progress)
        await execution.execute()
        return try await run(id: claimed.id, mode: claimed.mode)
    }

    private func runClaimed(id: String?, progress: (@Sendable (ReconciliationRun) -> Void)?) async -> ReconciliationRun? {
        let at = now()
        let claimed: ReconciliationRun?
        do {
            claimed = try await store.claimReconciliationRun(id: id, owner: owner, now: at, leaseUntil: at.addingTimeInterval(Self.lease))
        } catch is CancellationError {
            return nil
        } catch {
            logger.warning("could not claim a reconciliation", metadata: ["error": "\(error)"])
            return nil
        }
        guard let claimed else { return nil }
        var execution = Execution(service: self, run: claimed, progress: progress)
        await execution.execute()
        return try? await store.reconciliationRun(id: claimed.id)
    }

    /// Queues the runs a schedule has due at `at` (each provider that can be reconciled, in each mode it serves),
    /// once: a run's key is unique, so instances sharing the database create it once, and one of them runs it.
    /// Returns the runs this call created.
    @discardableResult
    public func scheduleDue(_ schedule: ReconciliationSchedule, at: Date) async -> [ReconciliationRun] {
        var created: [ReconciliationRun] = []
        // The latest due day and the two before it: days missed while no instance ran are caught up.
        for daysBack in 0..<3 {
            guard let (from, to) = schedule.window(at: at.addingTimeInterval(-86_400 * Double(daysBack))) else { continue }
            for entry in providers.allEntries where entry.provider.availability.isEnabled {
                if case .unsupported = entry.provider.reconciliationSource { continue }
                for mode in entry.provider.modes.sorted(by: { $0.rawValue < $1.rawValue }) {
                    let run = ReconciliationRun(
                        id: Identifier.make("rec"), mode: mode, provider: entry.provider.name, from: from, to: to, apply: schedule.apply,
                        status: .queued, trigger: "schedule", createdAt: at
                    )
                    let key = "\(run.provider):\(mode.rawValue):\(UnixTime.seconds(from))"
                    do {
                        let inserted = try await store.write { tx -> Bool in
                            guard try await tx.insertReconciliationRun(run, scheduleKey: key) else {
                                // Made already; one that failed (the provider was down) is queued again, a few times.
                                try await tx.requeueFailedScheduledRun(scheduleKey: key, maximumAttempts: Self.maximumAttempts, failedBefore: at.addingTimeInterval(-900))
                                return false
                            }
                            try await tx.appendAudit(
                                AuditRecord(
                                    actorKind: .system, actorID: "schedule", action: .reconciliationCreated, targetType: .reconciliation, targetID: run.id,
                                    after: run.apiObject, at: at
                                )
                            )
                            return true
                        }
                        if inserted { created.append(run) }
                    } catch {
                        logger.warning("could not queue a scheduled reconciliation", metadata: ["provider": "\(run.provider)", "error": "\(error)"])
                    }
                }
            }
        }
        if !created.isEmpty { queued.flag.store(true, ordering: .relaxed) }
        return created
    }

    /// How many times a run is started before it is failed for good (an instance that keeps dying on it).
    public static let maximumAttempts = 3
}

/// `SETTLE_RECONCILE_SCHEDULE`: `daily@HH:MM` (UTC; `HH:MM` alone means the same), each run covering the previous UTC
/// day; `+apply` after it applies what may be applied. `off` or empty: no schedule.
public struct ReconciliationSchedule: Sendable, Hashable {
    public var minuteOfDay: Int
    public var apply: Bool

    public init(minuteOfDay: Int, apply: Bool = false) {
        self.minuteOfDay = minuteOfDay
        self.apply = apply
    }

    /// `nil` for `off` or empty; throws a message naming the setting for anything else it cannot read.
    public static func parse(_ text: String?) throws(SettleError) -> ReconciliationSchedule? {
        var value = (text ?? "").trimmingCharacters(in: .whitespaces).lowercased()
        if value.isEmpty || value == "off" { return nil }
        var apply = false
        if value.hasSuffix("+apply") {
            apply = true
            value.removeLast("+apply".count)
        }
        if value.hasPrefix("daily@") { value.removeFirst("daily@".count) }
        let parts = value.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, parts.allSatisfy({ $0.count == 2 && $0.allSatisfy(\.isASCII) }), let hour = Int(parts[0]),
            let minute = Int(parts[1]), (0..<24).contains(hour), (0..<60).contains(minute)
        else {
            throw SettleError(.configurationRefused, "SETTLE_RECONCILE_SCHEDULE must be daily@HH:MM (UTC), optionally followed by +apply, or off.")
        }
        return ReconciliationSchedule(minuteOfDay: hour * 60 + minute, apply: apply)
    }

    /// The window of the latest run due at `at`: the UTC day before the day of the latest scheduled time.
    public func window(at: Date) -> (from: Date, to: Date)? {
        let seconds = UnixTime.seconds(at)
        let day = seconds - ((seconds % 86_400) + 86_400) % 86_400
        let scheduledToday = day + Int64(minuteOfDay) * 60
        let runDay = seconds >= scheduledToday ? day : day - 86_400
        return (Date(timeIntervalSince1970: TimeInterval(runDay - 86_400)), Date(timeIntervalSince1970: TimeInterval(runDay)))
    }
}

/// CSV fields: quoted when they hold a separator, a quote or a line break; a text a spreadsheet would read as a
/// formula is prefixed with `'` (a number, negative ones included, is left as it is).
enum CSV {
    static func field(_ value: String) -> String {
        var text = value
        if Int64(text) == nil, let first = text.unicodeScalars.first, "=+-@\t\r".unicodeScalars.contains(first) { text = "'" + text }
        guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}

extension ReconciliationService {
    /// Waits until the schema is ready.
    public func waitUntilReady() async throws { try await store.waitUntilMigrated() }
}

extension ReconciliationService {
    /// An RFC 3339 time (`2026-12-01T00:00:00Z`, with or without fractional seconds) or a date (`2026-12-01`, midnight UTC).
    public static func parseTime(_ text: String) -> Date? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard trimmed.count <= 40 else { return nil }
        if trimmed.count == 10 {
            let formatter = ISO8601DateFormatter()
            formatter.formatOptions = [.withFullDate]
            formatter.timeZone = TimeZone(identifier: "UTC")
            return formatter.date(from: trimmed)
        }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        if let date = formatter.date(from: trimmed) { return date }
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.date(from: trimmed)
    }
}

extension ReconciliationService {
    /// How many of Settle's payments a run compares (for a progress bar).
    public func paymentCount(_ request: CreateRequest, mode: Mode) async throws(SettleError) -> Int {
        try await store.fetch(
            { try await store.countPaymentsCreated(provider: request.provider, mode: mode, from: request.from, to: request.to) }, logger: logger
        )
    }
}
