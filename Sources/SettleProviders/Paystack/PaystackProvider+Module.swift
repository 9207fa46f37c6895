import SettleCore

extension PaystackProvider: ProviderModule {
    public static let name = "paystack"
    public static let summary = "Paystack (Nigeria, Ghana, South Africa, Kenya): Paystack's checkout; every notification and return confirmed with verify"
    public static let settings = [
        ProviderSetting("secret_key", secret: true, summary: "sk_test_… (test mode) or sk_live_… (live mode): calls the API and checks x-paystack-signature"),
        ProviderSetting("api_base", summary: "Paystack's API, or the emulator's", default: PaystackConfiguration.defaultAPIBase),
    ]
    public static let paymentMethods = [
        PaymentMethodSpec(PaymentMethod.checkoutType, summary: "Paystack's checkout page (card, bank, USSD, transfer, mobile money as the account allows)")
    ]

    public static func make(settings: ProviderSettings, context: ProviderContext) -> PaystackProvider {
        PaystackProvider(configuration: PaystackConfiguration(secretKey: settings["secret_key"], apiBase: settings["api_base"]), context: context)
    }
}
