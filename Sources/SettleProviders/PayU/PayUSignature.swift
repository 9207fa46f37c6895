import Crypto
import Foundation
import SettleCore

/// PayU's signatures and the three amount texts they cover. Every signature is a hash of `~`-joined fields, lowercase
/// hex, keyed by the merchant's ApiKey:
///
/// | what | fields | amount text |
/// |---|---|---|
/// | the WebCheckout form, an API order | `ApiKey~merchantId~referenceCode~amount~currency` | byte-identical to the `amount` (or `TX_VALUE`) sent |
/// | the confirmation (`sign`) | `ApiKey~merchant_id~reference_sale~new_value~currency~state_pol` | ``confirmationValue(_:)``: two decimals, a trailing zero dropped |
/// | the response page (`signature`) | `ApiKey~merchantId~referenceCode~new_value~currency~transactionState` | ``responsePageValue(_:)``: one decimal, rounded half to even |
///
/// Checked against every vector of PayU's documentation (the protocol sheet lists them, recomputed with hashlib).
public enum PayUSignature {
    /// The hash PayU signs with (`SETTLE_PAYU_SIGNATURE`), and its name in the form's `algorithmSignature`.
    public enum Algorithm: String, Sendable, CaseIterable {
        case md5
        case sha1
        case sha256
        case hmacSHA256 = "hmac-sha256"

        /// The form's `algorithmSignature` value.
        public var formName: String {
            switch self {
            case .md5: "MD5"
            case .sha1: "SHA"
            case .sha256: "SHA256"
            case .hmacSHA256: "HMAC-SHA256"
            }
        }
    }

    /// The hash of the ApiKey and `fields` joined with `~`, lowercase hex. HMAC-SHA256 hashes the same text under
    /// `hmacKey` (the key configured in PayU's panel; PayU's examples use `test123`), the ApiKey when none is given.
    public static func sign(_ algorithm: Algorithm, apiKey: String, hmacKey: String? = nil, _ fields: [String]) -> String {
        let text = Array(([apiKey] + fields).joined(separator: "~").utf8)
        switch algorithm {
        case .md5: return Hex.encode(Insecure.MD5.hash(data: text))
        case .sha1: return Hex.encode(Insecure.SHA1.hash(data: text))
        case .sha256: return Hex.encode(SHA256.hash(data: text))
        case .hmacSHA256:
            return Hex.encode(HMAC<SHA256>.authenticationCode(for: text, using: SymmetricKey(data: Array((hmacKey ?? apiKey).utf8))))
        }
    }

    /// Whether `presented` is the expected signature (constant time; PayU's hex case ignored).
    public static func matches(_ presented: String?, _ expected: String) -> Bool {
        guard let presented, presented.utf8.count == expected.utf8.count else { return false }
        return ConstantTime.equals(Array(presented.lowercased().utf8), Array(expected.utf8))
    }

    // MARK: - Amount texts

    /// What Settle posts as `amount` (and signs byte for byte): the exact decimal of the amount, with no fraction when
    /// it is whole (`20000`) and two digits otherwise (`20000.50`).
    public static func amountText(_ money: Money) -> String {
        let exponent = money.currency.minorUnitExponent
        let scale = (0..<exponent).reduce(Int64(1)) { product, _ in product * 10 }
        let whole = money.minorUnits / scale
        let fraction = money.minorUnits % scale
        guard fraction != 0 else { return String(whole) }
        return money.decimalString
    }

    /// An amount text PayU sent (`150.00`, `150.2`, `150`) in hundredths of the major unit; `nil` unless it is plain
    /// non-negative decimal text with at most two decimals that are not zero (`150.000` is 15000, `150.001` is nil).
    public static func hundredths(_ text: String) -> Int64? {
        let bytes = Array(text.utf8)
        guard !bytes.isEmpty, bytes.count <= 24 else { return nil }
        let parts = bytes.split(separator: UInt8(ascii: "."), maxSplits: 1, omittingEmptySubsequences: false)
        guard let integral = parts.first, !integral.isEmpty, integral.allSatisfy(isDigit) else { return nil }
        var fraction = parts.count == 2 ? Array(parts[1]) : []
        if parts.count == 2, fraction.isEmpty { return nil }
        guard fraction.allSatisfy(isDigit) else { return nil }
        while fraction.count > 2, fraction.last == UInt8(ascii: "0") { fraction.removeLast() }
        guard fraction.count <= 2 else { return nil }
        while fraction.count < 2 { fraction.append(UInt8(ascii: "0")) }
        guard let units = Int64(String(decoding: integral, as: UTF8.self)), units <= Int64.max / 100 - 1 else { return nil }
        return units * 100 + Int64(fraction[0] - 0x30) * 10 + Int64(fraction[1] - 0x30)
    }

    /// The confirmation's `new_value`: `value` with two decimals, the second dropped when it is zero (`150.00` →
    /// `150.0`, `150.20` → `150.2`, `150.26` → `150.26`). A trailing zero dropped, never a rounding.
    public static func confirmationValue(_ value: String) -> String? {
        guard let cents = hundredths(value) else { return nil }
        let (units, fraction) = cents.quotientAndRemainder(dividingBy: 100)
        if fraction % 10 == 0 { return "\(units).\(fraction / 10)" }
        return "\(units).\(fraction < 10 ? "0" : "")\(fraction)"
    }

    /// The response page's `new_value`: `TX_VALUE` rounded to one decimal, half to even (`150.25` → `150.2`,
    /// `150.35` → `150.4`, `150.00` → `150.0`).
    public static func responsePageValue(_ value: String) -> String? {
        guard let cents = hundredths(value) else { return nil }
        var (tenths, remainder) = cents.quotientAndRemainder(dividingBy: 10)
        if remainder > 5 || (remainder == 5 && tenths % 2 == 1) { tenths += 1 }
        let (units, decimal) = tenths.quotientAndRemainder(dividingBy: 10)
        return "\(units).\(decimal)"
    }

    static func isDigit(_ byte: UInt8) -> Bool { (0x30...0x39).contains(byte) }
}
