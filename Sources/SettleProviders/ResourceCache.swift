import Foundation
import SettleCore
import Synchronization

/// The last copy of a list a provider publishes (its PSE banks): served until `lifetime` has passed, then fetched again;
/// when the provider cannot be reached, the last copy is served marked stale.
public final class ResourceCache: Sendable {
    private let cached = Mutex<(items: [JSONValue], at: Date)?>(nil)

    public init() {}

    public func list(now: Date, lifetime: TimeInterval, fetch: () async throws(ProviderError) -> [JSONValue]) async throws(ProviderError)
        -> ProviderResource
    {
        if let cached = cached.withLock({ $0 }), now.timeIntervalSince(cached.at) < lifetime {
            return ProviderResource(items: cached.items, fetchedAt: cached.at, stale: false)
        }
        do {
            let items = try await fetch()
            cached.withLock { $0 = (items, now) }
            return ProviderResource(items: items, fetchedAt: now, stale: false)
        } catch {
            guard let cached = cached.withLock({ $0 }) else { throw error }
            return ProviderResource(items: cached.items, fetchedAt: cached.at, stale: true)
        }
    }
}
