import AsyncHTTPClient
import Foundation
import Logging
import SettleCore
import SettleProviders
import SettleStore

/// The providers of this Settle, built from ``ProviderCatalog`` with their settings, by name.
public struct ProviderRegistry: Sendable {
    /// One provider with the module it came from.
    public struct Entry: Sendable {
        public let module: any ProviderModule.Type
        public let provider: any PaymentProvider
        public let settings: ProviderSettings
    }

    let entries: [String: Entry]

    /// Builds every catalog provider from `settings` (by provider name; absent means nothing configured).
    /// `configure` adjusts each provider's shared context (its API client's timeouts and retries).
    public init(
        catalog: [any ProviderModule.Type] = ProviderCatalog.all, settings: [String: ProviderSettings], store: Store,
        httpClient: HTTPClient, logger: Logger, client: @Sendable (String) -> ProviderClient.Configuration = { _ in .init() }
    ) {
        var entries: [String: Entry] = [:]
        for module in catalog {
            let name = module.name
            let values = settings[name] ?? ProviderSettings()
            var providerLogger = logger
            providerLogger[metadataKey: "provider"] = .string(name)
            let context = ProviderContext(
                httpClient: httpClient, logger: providerLogger,
                credentials: StoredCredentials { key in try await store.setting(ProviderSetting.storedName(provider: name, key: key)) },
                client: client(name), sandboxRecords: SandboxBooks.records(store: store)
            )
            entries[name] = Entry(module: module, provider: module.make(settings: values, context: context), settings: values)
        }
        self.entries = entries
    }

    /// Providers built by hand (unit tests of one adapter).
    public init(_ providers: [any ProviderModule]) {
        self.entries = Dictionary(
            providers.map { ($0.name, Entry(module: type(of: $0), provider: $0, settings: ProviderSettings())) },
            uniquingKeysWith: { first, _ in first }
        )
    }

    public func provider(named name: String) -> (any PaymentProvider)? { entries[name]?.provider }

    public func entry(named name: String) -> Entry? { entries[name] }

    /// All providers, in the catalog's order of names (sorted).
    public var all: [any PaymentProvider] { entries.keys.sorted().compactMap { entries[$0]?.provider } }

    /// All entries, sorted by name.
    public var allEntries: [Entry] { entries.keys.sorted().compactMap { entries[$0] } }

    /// Every parameter alias the providers accept (`payme_mode`), with its provider.
    public var parameterAliases: [(provider: String, alias: ParameterAlias)] {
        allEntries.flatMap { entry in entry.module.parameterAliases.map { (entry.module.name, $0) } }
    }

    /// One of a provider's published lists, for `mode`: not found for an unknown provider or list, refused for a
    /// disabled provider or a mode it does not serve, unavailable when the provider cannot be reached and nothing is
    /// cached.
    public func resource(_ name: String, provider providerName: String, mode: Mode) async throws(SettleError) -> ProviderResource {
        guard let entry = entry(named: providerName) else { throw SettleError.notFound(.provider, id: providerName) }
        guard entry.module.resources.contains(name) else {
            throw SettleError(.routeNotFound, "Provider \(providerName) has no list named \(Text.echo(name, limit: 40)).")
        }
        let provider = entry.provider
        if case .disabled(let reason) = provider.availability {
            throw SettleError(.providerDisabled, "The \(providerName) provider is disabled: \(reason).", status: 400)
        }
        guard provider.modes.contains(mode) else {
            throw SettleError(
                .providerModeUnsupported, "The \(providerName) provider's keys do not serve \(mode.rawValue) mode.", param: "mode"
            )
        }
        do {
            guard let found = try await provider.resource(name, mode: mode) else {
                throw SettleError(.routeNotFound, "Provider \(providerName) has no list named \(Text.echo(name, limit: 40)).")
            }
            return found
        } catch let error as SettleError {
            throw error
        } catch let error as ProviderError {
            throw SettleError(.providerUnavailable, "\(providerName) could not be asked for \(name): \(error.message)", status: 503)
        } catch {
            throw SettleError(.internalError, "The list could not be read.")
        }
    }

    /// Configurations Settle must not start with, one line per provider that refuses (``PaymentProvider/startupRefusal``).
    public var startupRefusals: [String] {
        all.compactMap { provider in provider.startupRefusal.map { "\(provider.name): \($0)" } }
    }

    /// Throws when a provider refuses to start with its configuration.
    public func refuseUnsafeConfiguration() throws(SettleError) {
        guard let first = startupRefusals.first else { return }
        throw SettleError(.configurationRefused, "Settle will not start: \(first)")
    }

    /// One line per provider for the startup report: enabled, or disabled and why.
    public var report: [String] {
        all.map { provider in
            switch provider.availability {
            case .enabled: "\(provider.name): enabled (\(provider.modes.map(\.rawValue).sorted().joined(separator: ", ")))"
            case .disabled(let reason): "\(provider.name): DISABLED — \(reason)"
            }
        }
    }

    /// Loads the values of generated settings (the sandbox's signing secret): the one stored in the database, or a
    /// new one stored now. Run once the schema is migrated, before serving; every instance then uses the same value.
    public func loadGeneratedSettings(store: Store, at now: Date = Date()) async throws {
        for entry in allEntries {
            for setting in entry.module.settings where setting.generator != nil && !entry.settings.isConfigured(setting.key) {
                guard let candidate = setting.generate() else { continue }
                let name = ProviderSetting.storedName(provider: entry.module.name, key: setting.key)
                let stored = try await store.write { tx in try await tx.settingInsertIfAbsent(name, value: candidate, at: now) }
                entry.settings.setGenerated(setting.key, value: stored)
            }
        }
    }
}
