import Foundation
import SettleCore

/// Settings for the Wompi adapter, read from `SETTLE_WOMPI_*` (see ``WompiProvider/settings``).
///
/// Wompi gives every environment four credentials: the public key (`pub_test_…`/`pub_prod_…`, for the checkout, the
/// merchant's acceptance tokens and the PSE bank list), the private key (`prv_test_…`/`prv_prod_…`, server calls),
/// the events secret (`test_events_…`/`prod_events_…`, the event checksum) and the integrity secret
/// (`test_integrity_…`/`prod_integrity_…`, the integrity signature). A test public key serves test mode only, a
/// production one live mode only; credentials of two environments together are refused at startup.
public struct WompiConfiguration: Sendable {
    public static let sandboxAPIBase = "https://sandbox.wompi.co/v1"
    public static let productionAPIBase = "https://production.wompi.co/v1"
    public static let defaultCheckoutBase = "https://checkout.wompi.co/p/"

    /// Wompi's two environments, as its credentials name them.
    public enum Environment: String, Sendable, Hashable {
        case test
        case production = "prod"
    }

    /// One credential's setting, its prefixes per environment and its name for messages.
    struct Credential: Sendable {
        let key: String
        let prefixes: [Environment: String]
        let example: String

        static let publicKey = Credential(key: "public_key", prefixes: [.test: "pub_test_", .production: "pub_prod_"], example: "pub_test_… or pub_prod_…")
        static let privateKey = Credential(key: "private_key", prefixes: [.test: "prv_test_", .production: "prv_prod_"], example: "prv_test_… or prv_prod_…")
        static let eventsSecret = Credential(key: "events_secret", prefixes: [.test: "test_events_", .production: "prod_events_"], example: "test_events_… or prod_events_…")
        static let integritySecret = Credential(
            key: "integrity_secret", prefixes: [.test: "test_integrity_", .production: "prod_integrity_"], example: "test_integrity_… or prod_integrity_…"
        )
        static let all = [publicKey, privateKey, eventsSecret, integritySecret]

        var variable: String { ProviderSetting.environmentName(provider: "wompi", key: key) }

        /// The environment a value belongs to; `nil` when it has neither prefix or nothing after it.
        func environment(of value: String) -> Environment? {
            for (environment, prefix) in prefixes where value.hasPrefix(prefix) {
                let rest = value.utf8.dropFirst(prefix.utf8.count)
                guard (8...200).contains(rest.count), rest.allSatisfy(Self.isKeyByte) else { return nil }
                return environment
            }
            return nil
        }

        static func isKeyByte(_ byte: UInt8) -> Bool {
            (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte) || byte == 0x5F || byte == 0x2D
        }
    }

    public var publicKey: String?
    public var privateKey: Secret?
    public var eventsSecret: Secret?
    public var integritySecret: Secret?
    /// Wompi's API: the sandbox's for test keys, production's for production keys, unless set (the emulator).
    public var apiBaseOverride: String?
    public var checkoutBase: String

    public init(
        publicKey: String? = nil, privateKey: String? = nil, eventsSecret: String? = nil, integritySecret: String? = nil,
        apiBase: String? = nil, checkoutBase: String? = nil
    ) {
        self.publicKey = publicKey
        self.privateKey = privateKey.map { Secret($0) }
        self.eventsSecret = eventsSecret.map { Secret($0) }
        self.integritySecret = integritySecret.map { Secret($0) }
        self.apiBaseOverride = apiBase.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 }
        self.checkoutBase = checkoutBase ?? Self.defaultCheckoutBase
    }

    func value(_ credential: Credential) -> String? {
        switch credential.key {
        case "public_key": publicKey
        case "private_key": privateKey?.value
        case "events_secret": eventsSecret?.value
        default: integritySecret?.value
        }
    }

    /// Why the credentials cannot be used, naming the variable (never the value); `nil` when all four are present
    /// and well formed.
    var problem: String? {
        for credential in Credential.all {
            guard let value = value(credential), !value.isEmpty else { return "\(credential.variable) is not set" }
            guard credential.environment(of: value) != nil else {
                return "\(credential.variable) is not a Wompi credential (\(credential.example))"
            }
        }
        return nil
    }

    /// The environment of the public key, when it is well formed.
    public var environment: Environment? { publicKey.flatMap { Credential.publicKey.environment(of: $0) } }

    /// Credentials of two environments together: which ones, in words.
    var mixedEnvironments: String? {
        var seen: [(String, Environment)] = []
        for credential in Credential.all {
            if let value = value(credential), let environment = credential.environment(of: value) {
                seen.append((credential.variable, environment))
            }
        }
        guard let first = seen.first, let other = seen.first(where: { $0.1 != first.1 }) else { return nil }
        func words(_ environment: Environment) -> String { environment == .test ? "a test (sandbox) credential" : "a production credential" }
        return "\(first.0) is \(words(first.1)) but \(other.0) is \(words(other.1)); use the four credentials of one environment"
    }

    public var apiBase: String {
        apiBaseOverride ?? (environment == .production ? Self.productionAPIBase : Self.sandboxAPIBase)
    }
}
