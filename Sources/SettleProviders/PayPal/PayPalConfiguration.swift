import Foundation
import SettleCore

/// Settings for the PayPal adapter, read from `SETTLE_PAYPAL_*` (see ``PayPalProvider/settings``).
///
/// The client id and secret buy OAuth tokens; the webhook id is the id of the webhook PayPal delivers to (it is part
/// of what PayPal signs, so a delivery meant for another webhook fails); the mode picks PayPal's sandbox or live API.
/// Certificates for webhook signatures are fetched only over https from `cert_hosts`, and must chain to the system's
/// roots or to the CA file's.
public struct PayPalConfiguration: Sendable {
    public static let sandboxAPIBase = "https://api-m.sandbox.paypal.com"
    public static let liveAPIBase = "https://api-m.paypal.com"
    public static let defaultCertHosts = "api.paypal.com,api.sandbox.paypal.com,api-m.paypal.com,api-m.sandbox.paypal.com"

    public var clientID: String?
    public var clientSecret: Secret?
    public var webhookID: String?
    public var mode: Mode?
    public var modeText: String?
    public var apiBase: String
    public var certHosts: Set<String>
    public var caFile: String?

    public init(
        clientID: String?, clientSecret: String?, webhookID: String?, mode: String?, apiBase: String?, certHosts: String?, caFile: String?
    ) {
        self.clientID = clientID
        self.clientSecret = clientSecret.map { Secret($0) }
        self.webhookID = webhookID
        self.modeText = mode
        self.mode =
            switch mode?.lowercased() ?? "sandbox" {
            case "sandbox": .test
            case "live": .live
            default: nil
            }
        let base = apiBase ?? (self.mode == .live ? Self.liveAPIBase : Self.sandboxAPIBase)
        self.apiBase = base.hasSuffix("/") ? String(base.dropLast()) : base
        self.certHosts = Set(
            (certHosts ?? Self.defaultCertHosts).split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }.filter { !$0.isEmpty }
        )
        self.caFile = caFile
    }

    /// Why the provider is disabled, naming the setting, never a value.
    var problem: String? {
        if clientID?.isEmpty ?? true { return "SETTLE_PAYPAL_CLIENT_ID is not set" }
        if clientSecret?.value.isEmpty ?? true { return "SETTLE_PAYPAL_CLIENT_SECRET is not set" }
        if webhookID?.isEmpty ?? true { return "SETTLE_PAYPAL_WEBHOOK_ID is not set (notifications could not be verified)" }
        if mode == nil { return "SETTLE_PAYPAL_MODE is neither sandbox nor live" }
        if certHosts.isEmpty { return "SETTLE_PAYPAL_CERT_HOSTS names no host" }
        return nil
    }

    /// A live mode against PayPal's sandbox, or the other way round.
    var startupRefusal: String? {
        if mode == .live && apiBase == Self.sandboxAPIBase { return "SETTLE_PAYPAL_MODE is live but SETTLE_PAYPAL_API_BASE is PayPal's sandbox" }
        if mode == .test && apiBase == Self.liveAPIBase { return "SETTLE_PAYPAL_MODE is sandbox but SETTLE_PAYPAL_API_BASE is PayPal's live API" }
        return nil
    }
}
