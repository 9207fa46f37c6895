import SettleCore
import SettleProviders

/// The configured providers, by name.
public struct ProviderRegistry: Sendable {
    let providers: [String: any PaymentProvider]

    public init(_ providers: [any PaymentProvider]) {
        self.providers = Dictionary(providers.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
    }

    public func provider(named name: String) -> (any PaymentProvider)? { providers[name] }

    /// All providers, sorted by name.
    public var all: [any PaymentProvider] { providers.values.sorted { $0.name < $1.name } }

    /// One line per provider for the startup report: enabled, or disabled and why.
    public var report: [String] {
        all.map { provider in
            switch provider.availability {
            case .enabled: "\(provider.name): enabled (\(provider.modes.map(\.rawValue).sorted().joined(separator: ", ")))"
            case .disabled(let reason): "\(provider.name): DISABLED — \(reason)"
            }
        }
    }
}
