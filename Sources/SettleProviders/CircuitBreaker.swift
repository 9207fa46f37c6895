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

    public init(threshold: Int = 5, cooldown: Duration = .seconds(30)) {
        self.threshold = threshold
        let (seconds, attoseconds) = cooldown.components
        self.cooldown = TimeInterval(seconds) + TimeInterval(attoseconds) / 1e18
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

    /// A call that ended without an answer either way (cancelled): a half-open trial gives its turn back, so the
    /// next call is the trial; otherwise nothing changes.
    public mutating func abandonTrial(at now: Date) {
        if case .halfOpen = phase { phase = .open(until: now) }
    }

    public mutating func recordFailure(at now: Date) {
        switch phase {
        case .closed(let failures):
            phase = failures + 1 >= threshold ? .open(until: now.addingTimeInterval(cooldown)) : .closed(failures: failures + 1)
        case .halfOpen, .open:
            phase = .open(until: now.addingTimeInterval(cooldown))
        }
    }
}

/// One provider's breaker, shared by every call to it.
public final class CircuitBreaker: Sendable {
    private let state: Mutex<CircuitBreakerState>

    public init(threshold: Int = 5, cooldown: Duration = .seconds(30)) {
        state = Mutex(CircuitBreakerState(threshold: threshold, cooldown: cooldown))
    }

    public func allow(at now: Date = Date()) -> Bool { state.withLock { $0.allow(at: now) } }
    public func recordSuccess() { state.withLock { $0.recordSuccess() } }
    public func recordFailure(at now: Date = Date()) { state.withLock { $0.recordFailure(at: now) } }
    public func abandonTrial(at now: Date = Date()) { state.withLock { $0.abandonTrial(at: now) } }
    public var phase: CircuitBreakerState.Phase { state.withLock { $0.phase } }
    /// Whether calls go through (closed), rather than being refused or tried one at a time.
    public var isClosed: Bool {
        if case .closed = phase { return true }
        return false
    }
}
