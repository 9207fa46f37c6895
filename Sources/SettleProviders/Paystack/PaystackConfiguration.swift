import Crypto
import Foundation
import SettleCore

/// Settings for the Paystack adapter, read from `SETTLE_PAYSTACK_*` (see ``PaystackProvider/settings``).
///
/// The secret key (`sk_test_…` test mode, `sk_live_…` live) authenticates every call as a Bearer token and is also the
/// key of the webhooks' HMAC-SHA512: Paystack has no separate webhook secret, so rotating the key rotates both.
public struct PaystackConfiguration: Sendable {
    public static let defaultAPIBase = "https://api.paystack.co"

    public var secretKey: Secret?
    public var apiBase: String

    public init(secretKey: String?, apiBase: String?) {
        self.secretKey = secretKey.map { Secret($0) }
        let base = apiBase ?? Self.defaultAPIBase
        self.apiBase = base.hasSuffix("/") ? String(base.dropLast()) : base
    }

    /// `test` for `sk_test_…`, `live` for `sk_live_…`; `nil` for anything else.
    public var mode: Mode? {
        guard let key = secretKey?.value else { return nil }
        let (rest, mode): (Substring, Mode?) =
            key.hasPrefix("sk_test_") ? (key.dropFirst(8), .test) : key.hasPrefix("sk_live_") ? (key.dropFirst(8), .live) : ("", nil)
        guard let mode, (16...100).contains(rest.utf8.count),
            rest.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x41...0x5A).contains($0) || (0x61...0x7A).contains($0) })
        else { return nil }
        return mode
    }

    /// Why the provider is disabled, naming the setting, never a value.
    var problem: String? {
        if secretKey == nil { return "SETTLE_PAYSTACK_SECRET_KEY is not set (it also checks the webhooks' signature)" }
        if mode == nil { return "SETTLE_PAYSTACK_SECRET_KEY is not sk_test_… or sk_live_…" }
        return nil
    }

    /// A live key sent to a host that is not Paystack's over https.
    var startupRefusal: String? {
        if mode == .live, !apiBase.hasPrefix("https://") { return "SETTLE_PAYSTACK_SECRET_KEY is live but SETTLE_PAYSTACK_API_BASE is not https" }
        return nil
    }
}

/// `x-paystack-signature`: lowercase hex HMAC-SHA512 of the raw body, keyed with the secret key's bytes.
public enum PaystackSignature {
    public static func expected(body: [UInt8], secretKey: String) -> String {
        HMAC<SHA512>.authenticationCode(for: body, using: SymmetricKey(data: Array(secretKey.utf8))).map { String(format: "%02x", $0) }.joined()
    }

    /// Constant time over the hex text; a missing or malformed header is `false`.
    public static func isValid(_ header: String?, body: [UInt8], secretKey: String) -> Bool {
        guard let header = header?.trimmingCharacters(in: .whitespaces).lowercased(), header.utf8.count == 128 else { return false }
        return ConstantTime.equals(Array(header.utf8), Array(expected(body: body, secretKey: secretKey).utf8))
    }
}
