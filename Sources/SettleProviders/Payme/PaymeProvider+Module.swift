import Foundation
import SettleCore

extension PaymeProvider: ProviderModule {
    public static let name = "payme"
    public static let summary = "Payme (Uzbekistan): checkout links and Subscribe API receipts, finalized through Payme's Merchant API"
    public static let settings = [
        ProviderSetting("merchant_id", summary: "the cash desk's id (the m= of checkout links)"),
        ProviderSetting("key", secret: true, summary: "the cash-desk key; once Payme's ChangePassword replaced it, the stored key wins"),
        ProviderSetting("account_field", summary: "the account field set in Payme's cabinet; its value is Settle's payment id", default: "order_id"),
        ProviderSetting("mode", summary: "test (Payme's sandbox cash desk, test-mode payments) or live", default: "test"),
        ProviderSetting("checkout_base", summary: "the checkout host, or the emulator's", default: "https://test.paycom.uz / https://checkout.paycom.uz by mode"),
        ProviderSetting("api_base", summary: "the Subscribe API, or the emulator's /api", default: "https://checkout.test.paycom.uz/api / https://checkout.paycom.uz/api by mode"),
    ]
    public static let paymentMethods = [
        PaymentMethodSpec.checkout,
        PaymentMethodSpec("receipt", summary: "a Subscribe API receipt; the sweep checks it until paid or cancelled"),
    ]
    public static let parameterAliases = [ParameterAlias(name: "payme_mode", types: ["checkout": "checkout", "receipt": "receipt"])]

    public static func make(settings: ProviderSettings, context: ProviderContext) -> PaymeProvider {
        let mode = Mode(rawValue: settings["mode"] ?? "test")
        var configuration = PaymeConfiguration(
            merchantID: settings["merchant_id"], key: settings["key"], accountField: settings["account_field"] ?? "order_id",
            mode: mode ?? .test, checkoutBase: settings["checkout_base"], apiBase: settings["api_base"]
        )
        if mode == nil { configuration.invalid = "SETTLE_PAYME_MODE must be test or live" }
        return PaymeProvider(configuration: configuration, context: context)
    }

    /// Payme keeps its Merchant API transactions in Settle.
    public var keepsTransactions: Bool { true }

    /// A created transaction may still be performed until its 12 hours (by Payme's clock) are up: the payment stays
    /// open until then, even past its own expiry.
    public func expiryHold(for payment: Payment, transactions: [ProviderTransaction], now: Date) -> Date? {
        let open = transactions.filter { $0.provider == name && $0.paymeState == .created }
            .map { $0.providerTime + PaymeMerchantAPI.timeout }
        guard let until = open.max(), until > UnixTime.milliseconds(now) else { return nil }
        return UnixTime.date(milliseconds: until)
    }
}
