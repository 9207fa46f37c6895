import SettleCore

extension PayUProvider: ProviderModule {
    public static let name = "payu"
    public static let summary = "PayU Latam (Colombia): WebCheckout for cards, PSE bank transfers, cash vouchers at Efecty and Su Red, COP"
    public static let settings = [
        ProviderSetting("merchant_id", summary: "PayU's merchant id (numeric)"),
        ProviderSetting("account_id", summary: "the account id of the Colombian account (numeric)"),
        ProviderSetting("api_key", secret: true, summary: "the ApiKey: signs every form, order and confirmation"),
        ProviderSetting("api_login", secret: true, summary: "the ApiLogin: authenticates API calls with the ApiKey"),
        ProviderSetting("mode", summary: "test (PayU's sandbox, test payments) or live", default: "test"),
        ProviderSetting("signature", summary: "md5, sha1, sha256 or hmac-sha256: the hash the account signs with", default: "md5"),
        ProviderSetting("hmac_key", secret: true, summary: "the HMAC key set in PayU's panel, for signature hmac-sha256"),
        ProviderSetting(
            "checkout_base", summary: "PayU's WebCheckout, or the emulator's",
            default: "\(PayUConfiguration.sandboxCheckoutBase) in test mode, \(PayUConfiguration.productionCheckoutBase) live"
        ),
        ProviderSetting(
            "api_base", summary: "PayU's Payments API, or the emulator's",
            default: "\(PayUConfiguration.sandboxAPIBase) in test mode, \(PayUConfiguration.productionAPIBase) live"
        ),
        ProviderSetting(
            "reports_base", summary: "PayU's queries API, or the emulator's",
            default: "\(PayUConfiguration.sandboxReportsBase) in test mode, \(PayUConfiguration.productionReportsBase) live"
        ),
    ]
    public static let paymentMethods = [
        PaymentMethodSpec(PaymentMethod.checkoutType, summary: "PayU's WebCheckout: cards and every method the account offers (Settle's page posts the signed form)"),
        PaymentMethodSpec(
            "pse", summary: "PSE bank transfer: the buyer picks a bank (GET /v1/providers/payu/pse_banks) and pays at it",
            fields: [
                .init("bank", required: true, .digits(1...10), summary: "the bank's code from pse_banks"),
                .init("user_type", required: true, .oneOf(["natural", "legal"]), summary: "a natural person or a legal entity"),
                .init("legal_id_type", required: true, .oneOf(["CC", "CE", "NIT", "TI", "PP", "RC", "DE"]), summary: "the buyer's document type"),
                .init("legal_id", required: true, .text(maxBytes: 20), summary: "the buyer's document number"),
                .init("buyer_ip", .text(maxBytes: 45), summary: "the buyer's IP address, for PayU's fraud checks"),
            ]
        ),
        PaymentMethodSpec(
            "cash", summary: "a cash voucher the buyer pays at a counter before it expires (at most 7 days)",
            fields: [.init("network", .oneOf(["efecty", "su_red"]), summary: "the counter network (default efecty)")]
        ),
    ]
    public static let resources = ["pse_banks"]

    public static func make(settings: ProviderSettings, context: ProviderContext) -> PayUProvider {
        PayUProvider(
            configuration: PayUConfiguration(
                merchantID: settings["merchant_id"], accountID: settings["account_id"], apiKey: settings["api_key"],
                apiLogin: settings["api_login"], hmacKey: settings["hmac_key"], mode: settings["mode"], signature: settings["signature"],
                checkoutBase: settings["checkout_base"], apiBase: settings["api_base"], reportsBase: settings["reports_base"]
            ),
            context: context
        )
    }
}
