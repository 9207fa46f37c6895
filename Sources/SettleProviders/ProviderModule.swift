import AsyncHTTPClient
import Foundation
import Logging
import SettleCore

/// A provider as Settle ships it: its name, its settings, the ways a buyer can pay through it, and how it is built.
/// Everything here lives in the provider's own folder; ``ProviderCatalog`` lists the providers, and configuration,
/// registration, `GET /v1/providers`, `settle providers` and `settle emulate` are all driven by that list.
public protocol ProviderModule: PaymentProvider {
    /// The name in URLs, settings and the API (`stripe` → `SETTLE_STRIPE_…`, `/v1/webhooks/stripe`).
    static var name: String { get }
    /// One line for `settle providers` and the docs.
    static var summary: String { get }
    /// Every setting the provider reads. Credentials must be marked secret.
    static var settings: [ProviderSetting] { get }
    /// The payment-method types the provider accepts; the first is the default.
    static var paymentMethods: [PaymentMethodSpec] { get }
    /// Request parameters kept as aliases of `payment_method` so no merchant breaks (Payme's `payme_mode`).
    static var parameterAliases: [ParameterAlias] { get }
    /// The names of the lists served at `GET /v1/providers/{name}/{resource}` (``PaymentProvider/resource(_:mode:)``).
    static var resources: [String] { get }
    /// Builds the provider from its settings and what every provider shares.
    static func make(settings: ProviderSettings, context: ProviderContext) -> Self
}

extension ProviderModule {
    public var name: String { Self.name }
    public static var parameterAliases: [ParameterAlias] { [] }
    public static var resources: [String] { [] }

    /// The setting declared under `key`.
    public static func setting(_ key: String) -> ProviderSetting? { settings.first { $0.key == key } }

    /// `SETTLE_<NAME>_<KEY>`, for messages that tell the operator what to set.
    public static func environmentName(_ key: String) -> String {
        ProviderSetting.environmentName(provider: name, key: key)
    }
}

/// What every provider is built with.
public struct ProviderContext: Sendable {
    public var httpClient: HTTPClient
    public var logger: Logger
    /// Credentials the provider keeps in Settle's database (a key it rotated through its own protocol).
    public var credentials: StoredCredentials
    public var now: @Sendable () -> Date
    /// Timeouts, retries and the circuit breaker of the provider's API client.
    public var client: ProviderClient.Configuration
    /// The sandbox's books (read through Settle's database), for reconciling the sandbox.
    public var sandboxRecords: SandboxRecords

    public init(
        httpClient: HTTPClient = .shared, logger: Logger, credentials: StoredCredentials = .none,
        now: @escaping @Sendable () -> Date = { Date() }, client: ProviderClient.Configuration = .init(),
        sandboxRecords: SandboxRecords = .none
    ) {
        self.sandboxRecords = sandboxRecords
        self.httpClient = httpClient
        self.logger = logger
        self.credentials = credentials
        self.now = now
        self.client = client
    }

    /// An API client for `provider` (its display name in errors), with its own circuit breaker.
    public func apiClient(_ provider: String) -> ProviderClient {
        ProviderClient(provider: provider, http: httpClient, configuration: client, logger: logger)
    }
}

/// A request parameter that stands for a `payment_method` type, for one provider.
public struct ParameterAlias: Sendable, Hashable {
    /// The parameter's name (`payme_mode`).
    public var name: String
    /// Its values and the payment-method type each means (`receipt` → `receipt`).
    public var types: [String: String]

    public init(name: String, types: [String: String]) {
        self.name = name
        self.types = types
    }
}
