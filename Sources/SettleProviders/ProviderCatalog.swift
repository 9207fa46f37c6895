/// Every provider Settle ships. A provider is its folder
/// (`Sources/SettleProviders/<Name>/`, `Sources/SettleEmulators/<Name>/`, `docs/providers/<name>.md`) plus one line
/// here; configuration, registration, `GET /v1/providers`, `settle providers` and `settle emulate` read this list.
public enum ProviderCatalog {
    public static let all: [any ProviderModule.Type] = [
        SandboxProvider.self,
        StripeProvider.self,
        PaymeProvider.self,
        WompiProvider.self,
        PayUProvider.self,
        EfectyProvider.self,
        OmiseProvider.self,
        PayPalProvider.self,
        PaystackProvider.self,
    ]

    /// The module named `name`.
    public static func module(named name: String) -> (any ProviderModule.Type)? {
        all.first { $0.name == name }
    }
}
