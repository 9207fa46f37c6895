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
        if store.dialect == .sqlite {
            // SQLite serves one instance: deliveries in flight when it last stopped are due again at once.
            let released = try await store.write { tx in try await tx.releaseAllLeases(at: Date()) }
            if released > 0 { logger.info("webhook deliveries interrupted by the last stop are due again", metadata: ["count": "\(released)"]) }
        }
        try await pages.load(store: store)
        switch try await store.auditAnchorStatus() {
        case .noKey, .anchored:
            break
        case .unanchored(let sequence) where sequence == 0:
            try await store.anchorEmptyChain()
        case .unanchored:
            // A head Settle cannot vouch for is never signed silently: the operator verifies, then anchors.
            logger.warning("the audit chain's head is not anchored under SETTLE_AUDIT_KEY: run settle audit anchor to verify the trail and sign its head")
        case .mismatch:
            logger.critical(
                "the audit chain's anchor does not match its head: run settle audit verify (the trail may have been truncated or rewritten, extended without the key, or the key changed); settle audit anchor signs it again once verified"
            )
        }
        return try await keys.ensureFirstKey()
    }
}
