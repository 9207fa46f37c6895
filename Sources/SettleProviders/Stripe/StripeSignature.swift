import Crypto
import Foundation
import SettleCore

/// Stripe's webhook signature: `Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>…]`, HMAC-SHA256 over
/// `<t>.<raw body>` keyed with the endpoint secret's UTF-8 text, `whsec_` prefix included (unlike Standard Webhooks,
/// it is not base64-decoded).
public enum StripeSignature {
    public static let toleranceSeconds: Int64 = 300

    public enum Failure: String, Error, Sendable, Hashable {
        case missingHeader = "missing_header"
        case malformedHeader = "malformed_header"
        case timestampOutsideTolerance = "timestamp_outside_tolerance"
        case noMatchingSignature = "no_matching_signature"
    }

    /// Lowercase hex HMAC-SHA256 of `<timestamp>.<body>`.
    public static func signature(secret: String, timestamp: Int64, body: some Collection<UInt8>) -> String {
        var mac = HMAC<SHA256>(key: SymmetricKey(data: Array(secret.utf8)))
        mac.update(data: Array("\(timestamp).".utf8))
        mac.update(data: Array(body))
        return Hex.encode(mac.finalize())
    }

    /// The header value Stripe would send.
    public static func header(secret: String, timestamp: Int64, body: some Collection<UInt8>) -> String {
        "t=\(timestamp),v1=\(signature(secret: secret, timestamp: timestamp, body: body))"
    }

    /// Verifies the header on the raw body: every `v1` is tried in constant time; the timestamp must be within
    /// ±300 seconds of `now`.
    public static func verify(header: String?, body: some Collection<UInt8>, secret: String, now: Date) throws(Failure) {
        guard let header, !header.isEmpty else { throw .missingHeader }
        var timestamp: Int64?
        var candidates: [String] = []
        for item in header.split(separator: ",") {
            let pair = item.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard pair.count == 2 else { continue }
            if pair[0] == "t" { timestamp = ExternalInteger.unsigned(pair[1]) }
            if pair[0] == "v1" { candidates.append(pair[1].lowercased()) }
        }
        guard let timestamp, !candidates.isEmpty else { throw .malformedHeader }
        guard ExternalInteger.distance(UnixTime.seconds(now), timestamp) <= UInt64(toleranceSeconds) else {
            throw .timestampOutsideTolerance
        }
        let expected = Array(signature(secret: secret, timestamp: timestamp, body: body).utf8)
        guard candidates.contains(where: { ConstantTime.equals(Array($0.utf8), expected) }) else { throw .noMatchingSignature }
    }
}
