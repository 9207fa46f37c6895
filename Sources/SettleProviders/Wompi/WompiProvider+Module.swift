import SettleCore

extension WompiProvider: ProviderModule {
    public static let name = "wompi"
    public static let summary = "Wompi (Colombia): Web Checkout for cards, PSE bank transfers, Nequi and Bancolombia transfers, COP"
    public static let settings = [
        ProviderSetting("public_key", summary: "pub_test_… (test mode) or pub_prod_… (live mode)"),
        ProviderSetting("private_key", secret: true, summary: "prv_test_… or prv_prod_…, of the same environment"),
        ProviderSetting("events_secret", secret: true, summary: "test_events_… or prod_events_…: checks every event's checksum"),
        ProviderSetting("integrity_secret", secret: true, summary: "test_integrity_… or prod_integrity_…: signs every payment"),
        ProviderSetting(
            "api_base", summary: "Wompi's API, or the emulator's",
            default: "\(WompiConfiguration.sandboxAPIBase) for test keys, \(WompiConfiguration.productionAPIBase) for production keys"
        ),
        ProviderSetting("checkout_base", summary: "Wompi's Web Checkout, or the emulator's", default: WompiConfiguration.defaultCheckoutBase),
    ]
    public static let paymentMethods = [
        PaymentMethodSpec(PaymentMethod.checkoutType, summary: "Wompi's Web Checkout: cards and every method enabled in the dashboard"),
        PaymentMethodSpec(
            "pse", summary: "PSE bank transfer: the buyer picks a bank (GET /v1/providers/wompi/pse_banks) and pays at it",
            fields: [
                .init("bank", required: true, .digits(1...10), summary: "the bank's code from pse_banks"),
                .init("user_type", required: true, .oneOf(["natural", "legal"]), summary: "a natural person or a legal entity"),
                .init("legal_id_type", required: true, .oneOf(["CC", "CE", "NIT", "PP", "TI", "DNI"]), summary: "the buyer's document type"),
                .init("legal_id", required: true, .text(maxBytes: 20), summary: "the buyer's document number"),
            ]
        ),
        PaymentMethodSpec(
            "nequi", summary: "Nequi wallet: the buyer approves in the app while Settle's page waits",
            fields: [.init("phone", .digits(10...10), summary: "the Nequi phone number (else the customer's phone)")]
        ),
        PaymentMethodSpec("bancolombia_transfer", summary: "Botón Bancolombia: the buyer pays from their Bancolombia account"),
    ]
    public static let resources = ["pse_banks"]

    public static func make(settings: ProviderSettings, context: ProviderContext) -> WompiProvider {
        WompiProvider(
            configuration: WompiConfiguration(
                publicKey: settings["public_key"], privateKey: settings["private_key"], eventsSecret: settings["events_secret"],
                integritySecret: settings["integrity_secret"], apiBase: settings["api_base"], checkoutBase: settings["checkout_base"]
            ),
            context: context
        )
    }
}
