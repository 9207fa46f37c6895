import Logging
import SettleCore
import Synchronization

/// Groups the writes of concurrent requests into one transaction, so many requests share one disk flush.
///
/// A writer that finds a free leader slot becomes a leader: it takes the oldest queued jobs (up to ``maxBatch``),
/// runs them in one transaction, commits once, and wakes every writer with its own result. If jobs are still
/// queued, it hands its slot to the oldest of them, so no caller works for others indefinitely and no background
/// task is needed. SQLite has one slot; PostgreSQL a few, whose batches queue only to chain their audit entries.
///
/// Jobs first run without savepoints (each costs a statement). If one throws, the transaction is rolled back and
/// the batch re-runs with a savepoint per job, so only the failing job is undone. A failed commit fails every job
/// in the batch, so nobody reports success for something not on disk.
final class GroupCommit: Sendable {
    typealias Work = @Sendable (StoreTransaction) async throws -> any Sendable

    private final class Job: Sendable {
        let work: Work
        let enqueued = ContinuousClock.now
        let signal = Mutex<(pending: [Signal], waiter: CheckedContinuation<Signal, Never>?)>(([], nil))

        init(work: @escaping Work) { self.work = work }

        func send(_ signal: Signal) {
            let waiter = self.signal.withLock { state -> CheckedContinuation<Signal, Never>? in
                if let waiter = state.waiter {
                    state.waiter = nil
                    return waiter
                }
                state.pending.append(signal)
                return nil
            }
            waiter?.resume(returning: signal)
        }

        func wait() async -> Signal {
            await withCheckedContinuation { continuation in
                let ready = self.signal.withLock { state -> Signal? in
                    if !state.pending.isEmpty { return state.pending.removeFirst() }
                    state.waiter = continuation
                    return nil
                }
                if let ready { continuation.resume(returning: ready) }
            }
        }
    }

    private enum Signal: Sendable {
        case lead
        case done(Result<any Sendable, any Error>)
    }

    private struct State {
        /// Jobs waiting for a batch. A job promoted to lead leaves the queue at once, so no other batch can take it.
        var queue: [Job] = []
        /// Batches running or handed to a promoted job (at most `maxConcurrentBatches`).
        var leaders = 0
    }

    let driver: any DatabaseDriver
    /// A job that waited longer than this for its batch is failed without running (`unavailable`): the database is
    /// stalled, and its caller answers 503 now rather than after the stall.
    let timeout: Duration
    let maxBatch: Int
    /// SQLite has one writer; PostgreSQL overlaps a few batches, which queue only to chain their audit entries.
    let maxConcurrentBatches: Int
    let logger: Logger
    private let state = Mutex(State())

    /// Anchors the audit chain's head (``AuditChain/anchor(key:sequence:hash:)``) at every commit, when set.
    let auditKey: Secret?

    let observe: (@Sendable (Int, Duration) -> Void)?

    init(
        driver: any DatabaseDriver, timeout: Duration = .seconds(5), auditKey: Secret? = nil, maxBatch: Int = 256, logger: Logger,
        observe: (@Sendable (Int, Duration) -> Void)? = nil
    ) {
        self.observe = observe
        self.driver = driver
        self.timeout = timeout
        self.auditKey = auditKey
        self.maxBatch = maxBatch
        self.maxConcurrentBatches = driver.dialect == .postgres ? 4 : 1
        self.logger = logger
    }

    /// Writes waiting for a batch.
    var queued: Int { state.withLock { $0.queue.count } }

    /// Runs `work` inside a write transaction shared with concurrent writers; returns once it is committed.
    func write<T: Sendable>(_ work: @escaping @Sendable (StoreTransaction) async throws -> T) async throws -> T {
        let job = Job(work: { try await work($0) })
        let lead = state.withLock { state -> Bool in
            guard state.leaders < maxConcurrentBatches else {
                state.queue.append(job)
                return false
            }
            state.leaders += 1
            return true
        }
        if lead { await runBatch(leading: job) }
        while true {
            switch await job.wait() {
            case .lead: await runBatch(leading: job)
            case .done(let result): return try result.get() as! T
            }
        }
    }

    /// Runs the leader's job with the oldest queued ones, then hands the leader slot to the next queued job (or
    /// gives it back). Each slot is held by exactly one job at a time.
    private func runBatch(leading leader: Job) async {
        let taken = [leader] + state.withLock { state -> [Job] in
            let count = min(maxBatch - 1, state.queue.count)
            let taken = Array(state.queue.prefix(count))
            state.queue.removeFirst(count)
            return taken
        }
        let now = ContinuousClock.now
        var batch: [Job] = []
        batch.reserveCapacity(taken.count)
        for job in taken {
            if now - job.enqueued > timeout {
                job.send(.done(.failure(StoreError(.unavailable, "The write waited more than \(timeout) for the database."))))
            } else {
                batch.append(job)
            }
        }
        let started = ContinuousClock.now
        let results = batch.isEmpty ? [] : await execute(batch)
        if !batch.isEmpty { observe?(batch.count, ContinuousClock.now - started) }
        let nextLeader = state.withLock { state -> Job? in
            if !state.queue.isEmpty { return state.queue.removeFirst() }
            state.leaders -= 1
            return nil
        }
        for (job, result) in zip(batch, results) { job.send(.done(result)) }
        nextLeader?.send(.lead)
    }

    private func execute(_ batch: [Job]) async -> [Result<any Sendable, any Error>] {
        var attempt = 0
        // Optimistic first: no savepoints (they cost a statement each, twice per job). If any job throws, the
        // whole transaction is rolled back and the batch re-runs with a savepoint per job, so the failing job is
        // undone alone. Jobs only touch the database, so running one twice is safe once the first run is rolled back.
        var isolated = batch.count == 1
        while true {
            attempt += 1
            do {
                let isolated = isolated
                return try await driver.withWriter { connection in
                    try await self.transaction(batch, on: connection, isolated: isolated)
                }
            } catch is JobFailed {
                isolated = true
                continue
            } catch is RetryableConflict where attempt < 5 {
                logger.debug("write batch hit a deadlock; retrying", metadata: ["attempt": "\(attempt)"])
                continue
            } catch {
                // Each job's caller reports the failure (once, where it answers for it).
                let failure: any Error =
                    (error as? StoreError) ?? StoreError(.unavailable, "The database could not complete the write.")
                return batch.map { _ in .failure(failure) }
            }
        }
    }

    /// A job threw in an optimistic (savepoint-free) batch: roll back and re-run isolated.
    private struct JobFailed: Error {}

    private func transaction(_ batch: [Job], on connection: any SQLConnection, isolated: Bool) async throws
        -> [Result<any Sendable, any Error>]
    {
        try await driver.beginWrite(on: connection)
        do {
            let transaction = StoreTransaction(connection: connection, auditKey: auditKey)
            var results: [Result<any Sendable, any Error>] = []
            results.reserveCapacity(batch.count)
            for job in batch where !isolated {
                do {
                    results.append(.success(try await job.work(transaction)))
                } catch is RetryableConflict {
                    throw RetryableConflict()
                } catch {
                    throw JobFailed()
                }
            }
            for job in batch where isolated {
                try await connection.query("SAVEPOINT job")
                let mark = transaction.mark()
                do {
                    let value = try await job.work(transaction)
                    try await connection.query("RELEASE SAVEPOINT job")
                    results.append(.success(value))
                } catch is RetryableConflict {
                    throw RetryableConflict()
                } catch {
                    // Undo this job alone; if even that fails, the connection is gone and the batch fails.
                    try await connection.query("ROLLBACK TO SAVEPOINT job")
                    try await connection.query("RELEASE SAVEPOINT job")
                    transaction.rewind(to: mark)
                    results.append(.failure(error))
                }
            }
            try await transaction.finish()
            try await connection.query("COMMIT")
            return results
        } catch {
            _ = try? await connection.query("ROLLBACK")
            throw error
        }
    }
}
