import Synchronization

/// A rate limit per key (an API key, a source address): `rate` requests a second on average, bursts of `burst`. The
/// generic cell rate algorithm, on integer nanoseconds: each key keeps only the time its next request is due in
/// theory, so a key costs a few bytes and its state never drifts. At most `maximumKeys` keys are kept; past that the
/// ones whose credit is full are forgotten first (they would be allowed anyway). Per instance: several instances
/// each allow the rate.
final class RateLimiter: Sendable {
    let interval: Int64
    let tolerance: Int64
    let maximumKeys: Int
    private let due = Mutex<[String: Int64]>([:])
    private let clock: @Sendable () -> Int64

    /// `rate` requests a second; 0 allows everything.
    init(rate: Int, burst: Int, maximumKeys: Int = 100_000, clock: @escaping @Sendable () -> Int64 = RateLimiter.monotonicNanoseconds) {
        self.interval = rate > 0 ? 1_000_000_000 / Int64(rate) : 0
        self.tolerance = Int64(max(burst, 1) - 1) * (rate > 0 ? 1_000_000_000 / Int64(rate) : 0)
        self.maximumKeys = maximumKeys
        self.clock = clock
    }

    var isEnabled: Bool { interval > 0 }

    /// `nil` when `key` may go ahead now (and its credit is spent); otherwise how long until it may, in nanoseconds.
    func take(_ key: String) -> Int64? {
        guard isEnabled else { return nil }
        let now = clock()
        return due.withLock { due -> Int64? in
            let theoretical = max(due[key] ?? now, now)
            let allowedAt = theoretical - tolerance
            guard now >= allowedAt else { return allowedAt - now }
            if due[key] == nil && due.count >= maximumKeys {
                due = due.filter { $0.value > now }  // keys whose credit is full are indistinguishable from new ones
                if due.count >= maximumKeys { due.removeAll(keepingCapacity: true) }
            }
            due[key] = theoretical + interval
            return nil
        }
    }

    static let monotonicNanoseconds: @Sendable () -> Int64 = {
        let (seconds, attoseconds) = (ContinuousClock.now - ContinuousClock.Instant.epoch).components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}

extension ContinuousClock.Instant {
    /// A fixed origin for turning instants into integers.
    static let epoch = ContinuousClock.now
}
