import Crypto
import Foundation
import SettleCore

/// A merchant API key as stored: only its SHA-256, never the key.
public struct APIKey: Sendable, Hashable {
    public var id: String
    public var mode: Mode
    public var name: String
    /// Safe to show: `sk_test_…` plus the last four characters.
    public var display: String
    public var createdAt: Date
    public var revokedAt: Date?

    public var isActive: Bool { revokedAt == nil }
}

/// Creating and hashing API keys.
public enum APIKeys {
    /// A new secret key (`sk_test_…` / `sk_live_…`, 32 base-62 characters of randomness) and its record.
    public static func generate(mode: Mode, name: String, at: Date) -> (secret: String, key: APIKey) {
        let secret = "sk_\(mode.rawValue)_\(Identifier.randomToken(length: 32))"
        let key = APIKey(
            id: Identifier.make("key", length: 16), mode: mode, name: name,
            display: "sk_\(mode.rawValue)_…\(secret.suffix(4))", createdAt: at, revokedAt: nil
        )
        return (secret, key)
    }

    /// Keys are long random strings, so a plain SHA-256 is a sound, fast lookup hash.
    public static func hash(_ secret: String) -> String {
        Hex.encode(SHA256.hash(data: Array(secret.utf8)))
    }
}

extension StoreTransaction {
    public func insertAPIKey(_ key: APIKey, secret: String) async throws {
        try await query(
            """
            INSERT INTO api_keys (id, mode, name, display, key_hash, created_at, revoked_at)
            VALUES (\(key.id), \(key.mode.rawValue), \(key.name), \(key.display), \(APIKeys.hash(secret)),
                \(UnixTime.milliseconds(key.createdAt)), \(nil as Int64?))
            """
        )
    }

    /// Revokes a key; returns the key as it was, or nil if unknown.
    public func revokeAPIKey(id: String, at: Date) async throws -> APIKey? {
        guard let row = try await query("SELECT * FROM api_keys WHERE id = \(id)\(raw: forUpdate)").first else { return nil }
        let key = try APIKey(row: row)
        if key.isActive {
            try await query("UPDATE api_keys SET revoked_at = \(UnixTime.milliseconds(at)) WHERE id = \(id)")
        }
        return key
    }

    public func apiKeyCount() async throws -> Int64 {
        try await query("SELECT COUNT(*) AS n FROM api_keys").first?.int("n") ?? 0
    }
}

extension Store {
    /// The active key with this secret, if any.
    public func activeAPIKey(secret: String) async throws -> APIKey? {
        try await read { connection in
            try await connection.query(
                "SELECT * FROM api_keys WHERE key_hash = \(APIKeys.hash(secret)) AND revoked_at IS NULL"
            ).first.map(APIKey.init(row:))
        }
    }

    public func apiKeys() async throws -> [APIKey] {
        try await read { connection in
            try await connection.query("SELECT * FROM api_keys ORDER BY created_at, id").map(APIKey.init(row:))
        }
    }
}

extension APIKey {
    init(row: SQLRow) throws {
        guard let mode = Mode(rawValue: try row.string("mode")) else { throw StoreError(.decoding, "Unknown key mode.") }
        self.init(
            id: try row.string("id"), mode: mode, name: try row.string("name"), display: try row.string("display"),
            createdAt: UnixTime.date(milliseconds: try row.int("created_at")),
            revokedAt: try row.optionalInt("revoked_at").map(UnixTime.date(milliseconds:))
        )
    }
}
