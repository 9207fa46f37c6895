import SettleCore

extension OmiseProvider: ProviderModule {
    public static let name = "omise"
    public static let summary = "Omise (Thailand, Japan, Singapore, Malaysia): cards on Settle's page tokenized by Omise's vault, PromptPay QR"
    public static let settings = [
        ProviderSetting("secret_key", secret: true, summary: "skey_test_… (test mode) or skey_… (live mode)"),
        ProviderSetting("public_key", summary: "pkey_test_… or pkey_…, of the same environment: the buyer's browser tokenizes cards with it"),
        ProviderSetting("webhook_secret", secret: true, summary: "the webhook secret as the dashboard shows it (base64): checks Omise-Signature"),
        ProviderSetting("api_base", summary: "Omise's API, or the emulator's", default: OmiseConfiguration.defaultAPIBase),
        ProviderSetting("vault_base", summary: "Omise's vault (card tokens), or the emulator's", default: OmiseConfiguration.defaultVaultBase),
    ]
    public static let paymentMethods = [
        PaymentMethodSpec(PaymentMethod.checkoutType, summary: "a card on Settle's card page (tokenized by Omise's vault; 3-D Secure when the card needs it)"),
        PaymentMethodSpec("card", summary: "the same card page"),
        PaymentMethodSpec("promptpay", summary: "PromptPay (THB): Settle's page shows the QR the buyer scans with a banking app"),
    ]

    public static func make(settings: ProviderSettings, context: ProviderContext) -> OmiseProvider {
        OmiseProvider(
            configuration: OmiseConfiguration(
                secretKey: settings["secret_key"], publicKey: settings["public_key"], webhookSecret: settings["webhook_secret"],
                apiBase: settings["api_base"], vaultBase: settings["vault_base"]
            ),
            context: context
        )
    }
}
