import Crypto
import Foundation

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

    public init(id: String, mode: Mode, name: String, display: String, createdAt: Date, revokedAt: Date? = nil) {
        self.id = id
        self.mode = mode
        self.name = name
        self.display = display
        self.createdAt = createdAt
        self.revokedAt = revokedAt
    }
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
