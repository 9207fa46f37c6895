import Foundation
import Logging
import SettleCore
import SettleStore

/// First-start work: the schema, a first test-mode key, and the sandbox's webhook secret.
public enum Bootstrap {
    public static let sandboxSecretSetting = "sandbox_webhook_secret"

    /// A key created on first start: shown once, then only its hash remains.
    public struct FirstKey: Sendable {
        public var secret: String
        public var key: APIKey
    }

    /// Creates a test-mode secret key if the database has none.
    public static func ensureFirstKey(store: Store, at now: Date = Date()) async throws -> FirstKey? {
        let generated = APIKeys.generate(mode: .test, name: "first key", at: now)
        let created = try await store.write { tx -> Bool in
            guard try await tx.apiKeyCount() == 0 else { return false }
            try await tx.insertAPIKey(generated.key, secret: generated.secret)
            try await tx.appendAudit(
                AuditRecord(
                    actorKind: .system, actorID: "bootstrap", action: "api_key.created", targetType: "api_key",
                    targetID: generated.key.id, after: .object([("mode", .string("test")), ("display", .string(generated.key.display))]),
                    at: now
                )
            )
            return true
        }
        return created ? FirstKey(secret: generated.secret, key: generated.key) : nil
    }

    /// The sandbox secret: the configured one, else the stored one, else a new one stored for next time.
    public static func sandboxSecret(configured: String?, store: Store, at now: Date = Date()) async throws
        -> StandardWebhookSecret
    {
        if let configured {
            guard let secret = StandardWebhookSecret(configured) else {
                throw SettleError.invalid(
                    "SETTLE_SANDBOX_WEBHOOK_SECRET", "SETTLE_SANDBOX_WEBHOOK_SECRET must be whsec_ followed by base64 of 24 to 64 bytes."
                )
            }
            return secret
        }
        let candidate = StandardWebhookSecret.generate().serialized
        let stored = try await store.write { tx in
            try await tx.settingInsertIfAbsent(sandboxSecretSetting, value: candidate, at: now)
        }
        guard let secret = StandardWebhookSecret(stored) else {
            throw SettleError(.api, status: 500, code: "setting_corrupt", "The stored sandbox secret is not valid.")
        }
        return secret
    }
}
