import SettleCore

extension StripeProvider: ProviderModule {
    public static let name = "stripe"
    public static let summary = "Stripe Checkout Sessions: cards and the methods enabled in the Stripe dashboard"
    public static let settings = [
        ProviderSetting("secret_key", secret: true, summary: "sk_test_… or sk_live_… (a test key serves test mode, a live key live mode)"),
        ProviderSetting("webhook_secret", secret: true, summary: "the webhook endpoint's whsec_… signing secret"),
        ProviderSetting("api_base", summary: "Stripe's API, or the emulator's", default: StripeConfiguration.defaultAPIBase),
    ]
    public static let paymentMethods = [PaymentMethodSpec.checkout]

    public static func make(settings: ProviderSettings, context: ProviderContext) -> StripeProvider {
        StripeProvider(
            configuration: StripeConfiguration(
                secretKey: settings["secret_key"], webhookSecret: settings["webhook_secret"],
                apiBase: settings["api_base"] ?? StripeConfiguration.defaultAPIBase
            ),
            context: context
        )
    }
}
