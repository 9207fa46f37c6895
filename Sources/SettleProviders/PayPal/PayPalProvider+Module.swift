import SettleCore

extension PayPalProvider: ProviderModule {
    public static let name = "paypal"
    public static let summary = "PayPal (Orders v2): the buyer approves on PayPal's page, Settle captures once; webhooks verified offline with PayPal's certificate"
    public static let settings = [
        ProviderSetting("client_id", summary: "the REST app's client id"),
        ProviderSetting("client_secret", secret: true, summary: "the REST app's secret: buys OAuth tokens"),
        ProviderSetting("webhook_id", summary: "the id of the webhook that delivers to Settle: part of what PayPal signs"),
        ProviderSetting("mode", summary: "sandbox (test mode) or live", default: "sandbox"),
        ProviderSetting("api_base", summary: "PayPal's API, or the emulator's (default: from the mode)"),
        ProviderSetting("cert_hosts", summary: "the hosts a PAYPAL-CERT-URL may name (https only)", default: PayPalConfiguration.defaultCertHosts),
        ProviderSetting("ca_file", summary: "extra trust anchors (PEM) for webhook certificates, e.g. the emulator's CA"),
    ]
    public static let paymentMethods = [
        PaymentMethodSpec(PaymentMethod.checkoutType, summary: "PayPal's approval page (PayPal balance, cards through PayPal)")
    ]

    public static func make(settings: ProviderSettings, context: ProviderContext) -> PayPalProvider {
        PayPalProvider(
            configuration: PayPalConfiguration(
                clientID: settings["client_id"], clientSecret: settings["client_secret"], webhookID: settings["webhook_id"], mode: settings["mode"],
                apiBase: settings["api_base"], certHosts: settings["cert_hosts"], caFile: settings["ca_file"]
            ),
            context: context
        )
    }
}
