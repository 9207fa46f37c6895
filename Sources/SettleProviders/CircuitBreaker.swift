import Foundation
import Synchronization

/// A circuit breaker for one provider's API: after `threshold` consecutive failures it opens and fails calls at
/// once for `cooldown`; then one trial call is let through (half-open): success closes it, failure opens it again.
/// The transitions are a pure value type; ``CircuitBreaker`` wraps them in a lock.
public struct CircuitBreakerState: Sendable, Hashable {
    public enum Phase: Sendable, Hashable {
        case closed(failures: Int)
        case open(until: Date)
        case halfOpen
    }

    public private(set) var phase: Phase = .closed(failures: 0)
    public let threshold: Int
    public let cooldown: TimeInterval

    public init(threshold: Int = 5, cooldown: TimeInterval = 30) {
        self.threshold = threshold
        self.cooldown = cooldown
    }

    /// Whether a call may go out now (moving from open to half-open once the cooldown has passed).
    public mutating func allow(at now: Date) -> Bool {
        switch phase {
        case .closed: return true
        case .halfOpen: return false  // one trial at a time
        case .open(let until):
            guard now >= until else { return false }
            phase = .halfOpen
            return true
        }
    }

    public mutating func recordSuccess() { phase = .closed(failures: 0) }

    public mutating func recordFailure(at now: Date) {
        switch phase {
        case .closed(let failures):
            phase = failures + 1 >= threshold ? .open(until: now.addingTimeInterval(cooldown)) : .closed(failures: failures + 1)
        case .halfOpen, .open:
            phase = .open(until: now.addingTimeInterval(cooldown))
        }
    }
}

public final class CircuitBreaker: Sendable {
    private let state: Mutex<CircuitBreakerState>

    public init(threshold: Int = 5, cooldown: TimeInterval = 30) {
        state = Mutex(CircuitBreakerState(threshold: threshold, cooldown: cooldown))
    }

    public func allow(at now: Date = Date()) -> Bool { state.withLock { $0.allow(at: now) } }
    public func recordSuccess() { state.withLock { $0.recordSuccess() } }
    public func recordFailure(at now: Date = Date()) { state.withLock { $0.recordFailure(at: now) } }
    public var phase: CircuitBreakerState.Phase { state.withLock { $0.phase } }
}

/// Exponential backoff with full jitter for provider API calls.
public struct RetryPolicy: Sendable, Hashable {
    public var maxAttempts: Int
    public var baseDelay: Duration
    public var maxDelay: Duration

    public init(maxAttempts: Int = 3, baseDelay: Duration = .milliseconds(200), maxDelay: Duration = .seconds(2)) {
        self.maxAttempts = maxAttempts
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
    }

    /// The pause before retry number `attempt` (1-based): a random duration up to `base × 2^(attempt-1)`, capped.
    public func delay(beforeRetry attempt: Int) -> Duration {
        let ceiling = min(maxDelay, baseDelay * (1 << min(attempt - 1, 20)))
        let milliseconds = ceiling.components.seconds * 1000 + ceiling.components.attoseconds / 1_000_000_000_000_000
        return .milliseconds(Int64.random(in: 0...max(1, milliseconds)))
    }
}
