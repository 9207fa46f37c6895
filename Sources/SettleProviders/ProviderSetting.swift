import SettleCore
import Synchronization

/// One setting of a provider: `SETTLE_<PROVIDER>_<KEY>` in the environment (or `.env`).
public struct ProviderSetting: Sendable, Hashable {
    /// Values Settle makes itself on first start and keeps in its database when the setting is not configured.
    public enum Generator: Sendable, Hashable {
        /// `whsec_` + base64 of 32 random bytes.
        case standardWebhookSecret
    }

    /// Lower-case with underscores: `secret_key` → `SETTLE_STRIPE_SECRET_KEY`.
    public var key: String
    /// Credentials and signing secrets: never printed, never logged, masked by `settle providers`.
    public var isSecret: Bool
    /// One line for `settle providers` and the docs.
    public var summary: String
    /// The default in words (`test`, `https://api.stripe.com`); `nil` when unset means the provider is disabled.
    public var defaultValue: String?
    public var generator: Generator?

    public init(_ key: String, secret: Bool = false, summary: String, default defaultValue: String? = nil, generator: Generator? = nil) {
        self.key = key
        self.isSecret = secret
        self.summary = summary
        self.defaultValue = defaultValue
        self.generator = generator
    }

    public static func environmentName(provider: String, key: String) -> String {
        "SETTLE_\(provider)_\(key)".uppercased()
    }

    /// The key swift-configuration reads it under (`settle.stripe.secret.key`).
    public static func configurationKey(provider: String, key: String) -> String {
        "settle.\(provider).\(key.split(separator: "_").joined(separator: "."))"
    }

    /// The name of the database setting that holds a generated value (`sandbox.webhook_secret`).
    public static func storedName(provider: String, key: String) -> String { "\(provider).\(key)" }

    /// A new value for a generated setting.
    public func generate() -> String? {
        switch generator {
        case .standardWebhookSecret: StandardWebhookSecret.generate().serialized
        case nil: nil
        }
    }
}

/// The values of one provider's settings: those configured, and those generated and stored on first start (filled in
/// once the database is open). Printing it never shows a value.
public struct ProviderSettings: Sendable, CustomStringConvertible, CustomReflectable, ExpressibleByDictionaryLiteral {
    /// Values generated on first start, shared by every copy of these settings.
    final class Generated: Sendable {
        let values = Mutex<[String: String]>([:])
    }

    private var configured: [String: String]
    private let generated = Generated()

    public init(_ configured: [String: String] = [:]) {
        self.configured = configured
    }

    public init(dictionaryLiteral elements: (String, String)...) {
        self.init(Dictionary(elements, uniquingKeysWith: { _, last in last }))
    }

    /// The value in force: configured, else generated.
    public subscript(_ key: String) -> String? {
        get { configured[key] ?? generated.values.withLock { $0[key] } }
        set { configured[key] = newValue }
    }

    /// Whether `key` was configured (not generated).
    public func isConfigured(_ key: String) -> Bool { configured[key] != nil }

    /// A value as a ``Secret``.
    public func secret(_ key: String) -> Secret? { self[key].map { Secret($0) } }

    /// Records a generated value (Settle does this before serving).
    public func setGenerated(_ key: String, value: String) {
        generated.values.withLock { $0[key] = value }
    }

    public var description: String { "ProviderSettings(\(configured.keys.sorted().joined(separator: ", ")))" }
    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .struct) }
}
