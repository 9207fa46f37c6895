import Foundation
import Logging
import SettleCore
import SettleStore

/// What runs before an instance serves: the schema, the values Settle generates once and keeps in its database (the
/// sandbox's signing secret, the page token key), and a first test-mode key on an empty database.
public enum Bootstrap {
    /// Returns the first key when this start created it (its only copy).
    public static func prepare(
        store: Store, providers: ProviderRegistry, pages: PageTokens, keys: APIKeyService, logger: Logger
    ) async throws -> APIKeyService.CreatedKey? {
        let ran = try await store.migrate()
        if !ran.isEmpty { logger.info("migrated", metadata: ["applied": "\(ran.joined(separator: ", "))"]) }
        try await providers.loadGeneratedSettings(store: store)
        try await pages.load(store: store)
        return try await keys.ensureFirstKey()
    }
}
