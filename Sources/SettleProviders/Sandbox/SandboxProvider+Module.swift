import SettleCore

extension SandboxProvider: ProviderModule {
    public static let name = "sandbox"
    public static let summary = "Settle's built-in test provider: a hosted page whose buttons send signed notifications (test mode only)"
    public static let settings = [
        ProviderSetting(
            "webhook_secret", secret: true, summary: "whsec_ + base64 of 24 to 64 bytes: the key the sandbox signs its notifications with",
            default: "generated and stored on first start", generator: .standardWebhookSecret
        )
    ]
    public static let paymentMethods = [PaymentMethodSpec.checkout]

    public static func make(settings: ProviderSettings, context: ProviderContext) -> SandboxProvider {
        SandboxProvider(settings: settings, records: context.sandboxRecords)
    }
}
