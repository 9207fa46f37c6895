import Foundation
import SettleCore

/// Settings for the PayU Latam adapter, read from `SETTLE_PAYU_*` (see ``PayUProvider/settings``).
///
/// PayU gives a merchant a merchant id, one account id per country (Colombia's serves COP), an ApiKey (signs every
/// form, order and confirmation) and an ApiLogin (authenticates API calls with the ApiKey). The mode picks PayU's
/// sandbox or production URLs and the `test` flag sent with every payment; one configuration serves one mode.
public struct PayUConfiguration: Sendable {
    public static let sandboxCheckoutBase = "https://sandbox.checkout.payulatam.com/ppp-web-gateway-payu/"
    public static let productionCheckoutBase = "https://checkout.payulatam.com/ppp-web-gateway-payu/"
    public static let sandboxAPIBase = "https://sandbox.api.payulatam.com/payments-api/4.0/service.cgi"
    public static let productionAPIBase = "https://api.payulatam.com/payments-api/4.0/service.cgi"
    public static let sandboxReportsBase = "https://sandbox.api.payulatam.com/reports-api/4.0/service.cgi"
    public static let productionReportsBase = "https://api.payulatam.com/reports-api/4.0/service.cgi"
    /// PayU's public sandbox merchant (its documentation's test credentials): never a live merchant.
    public static let publicSandboxMerchantID = "508029"

    public var merchantID: String?
    public var accountID: String?
    public var apiKey: Secret?
    public var apiLogin: Secret?
    /// The key of HMAC-SHA256 signatures when the merchant's panel configures one; the ApiKey otherwise.
    public var hmacKey: Secret?
    /// `test` or `live`, as set; ``mode`` is `nil` for anything else.
    public var modeSetting: String
    /// `md5`, `sha1`, `sha256` or `hmac-sha256`, as set; ``algorithm`` is `nil` for anything else.
    public var signatureSetting: String
    var checkoutBaseOverride: String?
    var apiBaseOverride: String?
    var reportsBaseOverride: String?

    public init(
        merchantID: String? = nil, accountID: String? = nil, apiKey: String? = nil, apiLogin: String? = nil, hmacKey: String? = nil,
        mode: String? = nil, signature: String? = nil, checkoutBase: String? = nil, apiBase: String? = nil, reportsBase: String? = nil
    ) {
        self.merchantID = merchantID
        self.accountID = accountID
        self.apiKey = apiKey.map { Secret($0) }
        self.apiLogin = apiLogin.map { Secret($0) }
        self.hmacKey = hmacKey.map { Secret($0) }
        self.modeSetting = mode ?? "test"
        self.signatureSetting = signature ?? "md5"
        self.checkoutBaseOverride = checkoutBase
        self.apiBaseOverride = apiBase
        self.reportsBaseOverride = reportsBase
    }

    public var mode: Mode? {
        switch modeSetting {
        case "test": .test
        case "live": .live
        default: nil
        }
    }

    public var algorithm: PayUSignature.Algorithm? { PayUSignature.Algorithm(rawValue: signatureSetting) }

    static func variable(_ key: String) -> String { ProviderSetting.environmentName(provider: "payu", key: key) }

    /// Why the provider cannot be used, naming the variable (never a value); `nil` when it can.
    var problem: String? {
        for (key, value) in [("merchant_id", merchantID), ("account_id", accountID)] {
            guard let value, !value.isEmpty else { return "\(Self.variable(key)) is not set" }
            guard value.utf8.count <= 12, value.utf8.allSatisfy({ (0x30...0x39).contains($0) }) else {
                return "\(Self.variable(key)) must be PayU's numeric id"
            }
        }
        for (key, value) in [("api_key", apiKey), ("api_login", apiLogin)] {
            guard let value = value?.value, !value.isEmpty else { return "\(Self.variable(key)) is not set" }
            guard value.utf8.count <= 128, !value.contains("~"), !Text.hasControlCharacters(value) else {
                return "\(Self.variable(key)) is not a PayU credential"
            }
        }
        guard mode != nil else { return "\(Self.variable("mode")) must be test or live" }
        guard algorithm != nil else {
            return "\(Self.variable("signature")) must be one of \(PayUSignature.Algorithm.allCases.map(\.rawValue).joined(separator: ", "))"
        }
        if algorithm == .hmacSHA256, (hmacKey?.value ?? "").isEmpty {
            return "\(Self.variable("hmac_key")) is not set (PayU's HMAC-SHA256 signatures use the key set in its panel)"
        }
        return nil
    }

    /// A live configuration that still points at PayU's sandbox: refused at startup.
    var startupRefusal: String? {
        guard mode == .live else { return nil }
        if merchantID == Self.publicSandboxMerchantID {
            return "\(Self.variable("mode")) is live but \(Self.variable("merchant_id")) is PayU's public sandbox merchant"
        }
        for (key, value) in [("checkout_base", checkoutBaseOverride), ("api_base", apiBaseOverride), ("reports_base", reportsBaseOverride)] {
            if let value, value.contains("sandbox.") {
                return "\(Self.variable("mode")) is live but \(Self.variable(key)) is PayU's sandbox"
            }
        }
        return nil
    }

    public var checkoutBase: String { checkoutBaseOverride ?? (mode == .live ? Self.productionCheckoutBase : Self.sandboxCheckoutBase) }
    public var apiBase: String { apiBaseOverride ?? (mode == .live ? Self.productionAPIBase : Self.sandboxAPIBase) }
    public var reportsBase: String { reportsBaseOverride ?? (mode == .live ? Self.productionReportsBase : Self.sandboxReportsBase) }
}
