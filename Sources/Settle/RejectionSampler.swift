import Foundation
import Logging
import SettleCore
import SettleProviders
import SettleStore
import Synchronization

/// Records refused provider calls (bad signatures, wrong credentials) so operators can see them, without letting
/// unauthenticated traffic grow the database without bound: at most `perMinute` rows per provider per minute are
/// stored (size, hash and reason, never the content); the rest of that minute is only counted, and logged once when
/// the minute ends. Stored rows are purged after the retention period (``RetentionService``).
public final class RejectionSampler: Sendable {
    private struct Window {
        var minute: Int64 = 0
        var stored = 0
        var dropped = 0
    }

    public let perMinute: Int
    private let windows = Mutex<[String: Window]>([:])

    public init(perMinute: Int = 60) {
        self.perMinute = perMinute
    }

    /// Stores one rejection, or counts it when this minute's share is used.
    public func record(_ call: InboundNotification, reason: String, store: Store, logger: Logger) async {
        let minute = UnixTime.seconds(call.receivedAt) / 60
        let (admit, droppedBefore) = windows.withLock { windows -> (Bool, Int) in
            var window = windows[call.provider] ?? Window()
            var dropped = 0
            if window.minute != minute {
                dropped = window.dropped
                window = Window(minute: minute)
            }
            let admit = window.stored < perMinute
            if admit { window.stored += 1 } else { window.dropped += 1 }
            if windows[call.provider] == nil && windows.count >= 1024 { windows.removeAll() }
            windows[call.provider] = window
            return (admit, dropped)
        }
        if droppedBefore > 0 {
            logger.notice(
                "rejected provider calls not recorded", metadata: ["provider": "\(call.provider)", "count": "\(droppedBefore)", "cap_per_minute": "\(perMinute)"]
            )
        }
        logger.notice("provider call rejected", metadata: ["provider": "\(call.provider)", "reason": "\(reason)"])
        guard admit else { return }
        do {
            try await store.write { tx in
                try await tx.recordRejectedNotification(provider: call.provider, reason: reason, body: call.body, at: call.receivedAt)
            }
        } catch {
            logger.warning("could not record a rejected provider call", metadata: ["error": "\(error)"])
        }
    }

    /// Rejections counted but not stored in the current minute, by provider (tests and metrics).
    public func droppedThisMinute(provider: String) -> Int { windows.withLock { $0[provider]?.dropped ?? 0 } }
}
