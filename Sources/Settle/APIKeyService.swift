import Foundation
import Logging
import SettleCore
import SettleStore

/// Merchant API keys: authenticating requests, and creating, listing and revoking keys (by the CLI, and the first
/// key on an empty database). Only a key's SHA-256 is stored; the secret is shown once, when it is created.
public struct APIKeyService: Sendable {
    /// A key just created: its only copy of the secret.
    public struct CreatedKey: Sendable {
        public var secret: Secret
        public var key: APIKey
    }

    let store: Store
    let now: @Sendable () -> Date
    let logger: Logger

    public init(store: Store, now: @escaping @Sendable () -> Date = { Date() }, logger: Logger) {
        self.store = store
        self.now = now
        self.logger = logger
    }

    /// The caller behind `Authorization: Bearer sk_…`.
    public func authenticate(authorization header: String?, requestID: String?) async throws(SettleError) -> Caller {
        guard let header, header.hasPrefix("Bearer ") else {
            throw SettleError(.apiKeyMissing, "Send your secret key as Authorization: Bearer sk_….")
        }
        let secret = String(header.dropFirst("Bearer ".count)).trimmingCharacters(in: .whitespaces)
        guard secret.hasPrefix("sk_test_") || secret.hasPrefix("sk_live_"), secret.utf8.count <= 128 else {
            throw SettleError(.apiKeyInvalid, "The API key is not a Settle secret key.")
        }
        let key = try await store.fetch({ try await store.activeAPIKey(secret: secret) }, logger: logger.forRequest(requestID))
        guard let key else { throw SettleError(.apiKeyInvalid, "The API key is unknown or revoked.") }
        return Caller(apiKeyID: key.id, mode: key.mode, requestID: requestID)
    }

    /// Creates a key and records who did it.
    public func create(mode: Mode, name: String, actor: Caller) async throws(SettleError) -> CreatedKey {
        try PaymentService.text(name, param: "name", max: 100, required: true)
        let created = Self.generate(mode: mode, name: name, at: now())
        try await store.perform({ tx in try await Self.insert(created, actor: actor, in: tx) }, logger: logger)
        return created
    }

    /// Creates a test-mode key if the database has none (first start); `nil` when one exists.
    public func ensureFirstKey() async throws(SettleError) -> CreatedKey? {
        let created = Self.generate(mode: .test, name: "first key", at: now())
        let inserted = try await store.perform(
            { tx -> Bool in
                guard try await tx.apiKeyCount() == 0 else { return false }
                try await Self.insert(created, actor: Caller(apiKeyID: "bootstrap", mode: .test, requestID: nil, actorKind: .system), in: tx)
                return true
            }, logger: logger
        )
        return inserted ? created : nil
    }

    public func list() async throws(SettleError) -> [APIKey] {
        try await store.fetch({ try await store.apiKeys() }, logger: logger)
    }

    /// Revokes a key; returns it as it was (`isActive` true when this call revoked it).
    public func revoke(id: String, actor: Caller) async throws(SettleError) -> APIKey {
        let at = now()
        let key = try await store.perform(
            { tx -> APIKey? in
                guard let key = try await tx.revokeAPIKey(id: id, at: at) else { return nil }
                if key.isActive {
                    try await tx.appendAudit(
                        AuditRecord(
                            actorKind: actor.actorKind, actorID: actor.apiKeyID, action: .apiKeyRevoked, targetType: .apiKey, targetID: id,
                            before: .object([("state", .string("active"))]), after: .object([("state", .string("revoked"))]),
                            requestID: actor.requestID, at: at
                        )
                    )
                }
                return key
            }, logger: logger
        )
        guard let key else { throw SettleError(.parameterInvalid, "No key with id \(Text.echo(id, limit: 64)).", param: "id") }
        return key
    }

    static func generate(mode: Mode, name: String, at: Date) -> CreatedKey {
        let (secret, key) = APIKeys.generate(mode: mode, name: name, at: at)
        return CreatedKey(secret: Secret(secret), key: key)
    }

    static func insert(_ created: CreatedKey, actor: Caller, in tx: StoreTransaction) async throws {
        try await tx.insertAPIKey(created.key, secret: created.secret.value)
        try await tx.appendAudit(
            AuditRecord(
                actorKind: actor.actorKind, actorID: actor.apiKeyID, action: .apiKeyCreated, targetType: .apiKey, targetID: created.key.id,
                after: .object([("mode", .string(created.key.mode.rawValue)), ("display", .string(created.key.display))]),
                requestID: actor.requestID, at: created.key.createdAt
            )
        )
    }
}
