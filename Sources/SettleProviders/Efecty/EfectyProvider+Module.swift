import SettleCore

extension EfectyProvider: ProviderModule {
    public static let name = "efecty"
    public static let summary = "Efecty cash vouchers under the merchant's own agreement: Settle issues the voucher, settlement files or an operator confirm it, COP"
    public static let settings = [
        ProviderSetting("agreement", summary: "the collection agreement (convenio) number; unset disables Efecty"),
        ProviderSetting("reference_prefix", summary: "digits every voucher reference starts with (at most 6)", default: ""),
        ProviderSetting("voucher_hours", summary: "how long a voucher can be paid, 1 to 720 hours", default: "72"),
        ProviderSetting("min_amount", summary: "the smallest voucher, COP minor units", default: "2000000 (20.000 pesos)"),
        ProviderSetting("max_amount", summary: "the largest voucher, COP minor units", default: "600000000 (6.000.000 pesos)"),
        ProviderSetting("inbox", summary: "a folder Settle watches for settlement files (imported ones move to processed/ or rejected/)"),
        ProviderSetting("import_interval", summary: "seconds between looks at the inbox", default: "1800"),
        ProviderSetting("inbox_mode", summary: "the payments the inbox's files settle: live, or test for the counter emulator's files", default: "live"),
    ]
    public static let paymentMethods = [
        PaymentMethodSpec("cash", summary: "a voucher the buyer pays in cash at an Efecty counter before it expires")
    ]

    public static func make(settings: ProviderSettings, context: ProviderContext) -> EfectyProvider {
        EfectyProvider(
            configuration: EfectyConfiguration(
                agreement: settings["agreement"], referencePrefix: settings["reference_prefix"], voucherHours: settings["voucher_hours"],
                minimumAmount: settings["min_amount"], maximumAmount: settings["max_amount"], inbox: settings["inbox"],
                importInterval: settings["import_interval"], inboxMode: settings["inbox_mode"]
            ),
            context: context
        )
    }
}
