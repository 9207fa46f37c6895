import SettleCore

/// Settings for Payme (one cash desk: a test cash desk serves test-mode payments, a production one live-mode), read
/// from `SETTLE_PAYME_*` (see ``PaymeProvider/settings``).
public struct PaymeConfiguration: Sendable {
    public static let testCheckoutBase = "https://test.paycom.uz"
    public static let liveCheckoutBase = "https://checkout.paycom.uz"
    public static let testAPIBase = "https://checkout.test.paycom.uz/api"
    public static let liveAPIBase = "https://checkout.paycom.uz/api"

    /// The cash desk's merchant id (`SETTLE_PAYME_MERCHANT_ID`), the `m=` of checkout links.
    public var merchantID: String?
    /// The cash-desk key (`SETTLE_PAYME_KEY`). A key stored by Payme's `ChangePassword` wins over it.
    public var key: Secret?
    /// The account field set in Payme's cabinet (`SETTLE_PAYME_ACCOUNT_FIELD`); its value is Settle's payment id.
    public var accountField: String = "order_id"
    /// `test` (Payme's sandbox cash desk) or `live` (`SETTLE_PAYME_MODE`).
    public var mode: Mode = .test
    /// Where checkout links point (`SETTLE_PAYME_CHECKOUT_BASE`); Payme's host for the mode by default.
    public var checkoutBase: String
    /// The Subscribe API's URL (`SETTLE_PAYME_API_BASE`); Payme's for the mode by default.
    public var apiBase: String
    /// The language of Payme's checkout page (`ru`, `uz` or `en`).
    public var language: String = "ru"
    /// A setting whose value cannot be used, with the reason (the provider is then disabled).
    public var invalid: String?

    public init(
        merchantID: String? = nil, key: String? = nil, accountField: String = "order_id", mode: Mode = .test,
        checkoutBase: String? = nil, apiBase: String? = nil
    ) {
        self.merchantID = merchantID
        self.key = key.map { Secret($0) }
        self.accountField = accountField
        self.mode = mode
        self.checkoutBase = Self.trimmed(checkoutBase ?? (mode.isLive ? Self.liveCheckoutBase : Self.testCheckoutBase))
        self.apiBase = Self.trimmed(apiBase ?? (mode.isLive ? Self.liveAPIBase : Self.testAPIBase))
    }

    static func trimmed(_ url: String) -> String { url.hasSuffix("/") ? String(url.dropLast()) : url }
}
