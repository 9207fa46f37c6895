import Crypto
import Foundation
import SettleCore

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
