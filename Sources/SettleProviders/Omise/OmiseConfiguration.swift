import Foundation
import SettleCore

/// Settings for the Omise adapter, read from `SETTLE_OMISE_*` (see ``OmiseProvider/settings``).
///
/// The secret key (`skey_test_…` test mode, `skey_…` live) authenticates server calls as HTTP Basic's user name; the
/// public key (`pkey_test_…`/`pkey_…`) lets the buyer's browser tokenize a card at the vault; the webhook secret is the
/// base64 text the dashboard shows, decoded to the HMAC key. Keys of two environments together are refused at startup.
public struct OmiseConfiguration: Sendable {
    public static let defaultAPIBase = "https://api.omise.co"
    public static let defaultVaultBase = "https://vault.omise.co"

    public var secretKey: Secret?
    public var publicKey: String?
    public var webhookSecret: Secret?
    public var apiBase: String
    public var vaultBase: String

    public init(secretKey: String?, publicKey: String?, webhookSecret: String?, apiBase: String?, vaultBase: String?) {
        self.secretKey = secretKey.map { Secret($0) }
        self.publicKey = publicKey
        self.webhookSecret = webhookSecret.map { Secret($0) }
        self.apiBase = Self.trimmed(apiBase ?? Self.defaultAPIBase)
        self.vaultBase = Self.trimmed(vaultBase ?? Self.defaultVaultBase)
    }

    static func trimmed(_ url: String) -> String { url.hasSuffix("/") ? String(url.dropLast()) : url }

    /// `test` for a `…_test_` key, `live` otherwise; `nil` for something that is not a key of that kind.
    static func mode(of key: String?, prefix: String) -> Mode? {
        guard let key else { return nil }
        let (rest, mode): (Substring, Mode) =
            key.hasPrefix("\(prefix)_test_") ? (key.dropFirst(prefix.count + 6), .test) : key.hasPrefix("\(prefix)_") ? (key.dropFirst(prefix.count + 1), .live) : ("", .live)
        guard (8...100).contains(rest.utf8.count), rest.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x41...0x5A).contains($0) || (0x61...0x7A).contains($0) || $0 == 0x5F })
        else { return nil }
        return mode
    }

    /// The mode the secret key serves.
    public var mode: Mode? { Self.mode(of: secretKey?.value, prefix: "skey") }

    /// The webhook secret's bytes; `nil` when it is not base64 of at least 16 bytes.
    var webhookKey: [UInt8]? {
        guard let text = webhookSecret?.value, let data = Data(base64Encoded: text), data.count >= 16 else { return nil }
        return Array(data)
    }

    /// Why the provider is disabled, naming the setting, never a value.
    var problem: String? {
        if secretKey == nil { return "SETTLE_OMISE_SECRET_KEY is not set" }
        if mode == nil { return "SETTLE_OMISE_SECRET_KEY is not skey_test_… or skey_…" }
        if publicKey == nil { return "SETTLE_OMISE_PUBLIC_KEY is not set" }
        if Self.mode(of: publicKey, prefix: "pkey") == nil { return "SETTLE_OMISE_PUBLIC_KEY is not pkey_test_… or pkey_…" }
        if webhookSecret == nil { return "SETTLE_OMISE_WEBHOOK_SECRET is not set (notifications could not be verified)" }
        if webhookKey == nil { return "SETTLE_OMISE_WEBHOOK_SECRET is not the base64 secret the dashboard shows" }
        return nil
    }

    /// A test key with a live one.
    var startupRefusal: String? {
        guard let secret = mode, let public_ = Self.mode(of: publicKey, prefix: "pkey"), secret != public_ else { return nil }
        return "SETTLE_OMISE_SECRET_KEY and SETTLE_OMISE_PUBLIC_KEY belong to different environments (one test, one live)"
    }
}
