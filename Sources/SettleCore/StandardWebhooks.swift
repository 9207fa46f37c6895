import Crypto
import Foundation

/// Signing and verification per Standard Webhooks (`v1`: HMAC-SHA256 over `id.timestamp.body`, base64).
///
/// Settle signs its webhooks to merchants this way, and the sandbox provider signs its notifications to Settle
/// the same way. The key is the base64-decoded secret after the `whsec_` prefix, never the text itself.
public struct StandardWebhookSecret: Sendable, Hashable {
    /// The raw key bytes.
    public let key: [UInt8]

    /// Parses `whsec_<base64>` (or bare base64). Fails on anything else, and on fewer than 24 or more than 64 bytes.
    public init?(_ serialized: String) {
        let body = serialized.hasPrefix("whsec_") ? String(serialized.dropFirst(6)) : serialized
        var padded = body
        while padded.count % 4 != 0 { padded += "=" }
        guard let data = Data(base64Encoded: padded), (24...64).contains(data.count) else { return nil }
        self.key = Array(data)
    }

    public init(key: [UInt8]) {
        self.key = key
    }

    /// A new secret of 32 random bytes.
    public static func generate() -> StandardWebhookSecret {
        var generator = SystemRandomNumberGenerator()
        return StandardWebhookSecret(key: (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) })
    }

    /// `whsec_` + base64.
    public var serialized: String { "whsec_" + Data(key).base64EncodedString() }
}

// MARK: - CustomStringConvertible

extension StandardWebhookSecret: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// Never prints the key.
    public var description: String { "whsec_<redacted>" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .struct) }
}

/// Standard Webhooks signatures.
public enum StandardWebhooks {
    /// How far a timestamp may be from now, either way.
    public static let toleranceSeconds: Int64 = 300

    /// `v1,<base64 HMAC-SHA256(key, id.timestamp.body)>`.
    public static func signature(secret: StandardWebhookSecret, id: String, timestamp: Int64, body: some Collection<UInt8>)
        -> String
    {
        var mac = HMAC<SHA256>(key: SymmetricKey(data: secret.key))
        mac.update(data: Array("\(id).\(timestamp).".utf8))
        mac.update(data: Array(body))
        return "v1," + Data(mac.finalize()).base64EncodedString()
    }

    /// The `webhook-signature` header value for every active secret, space-separated.
    public static func signatureHeader(
        secrets: [StandardWebhookSecret], id: String, timestamp: Int64, body: some Collection<UInt8>
    ) -> String {
        secrets.map { signature(secret: $0, id: id, timestamp: timestamp, body: body) }.joined(separator: " ")
    }

    /// Why a message failed verification.
    public enum Failure: String, Error, Sendable, Hashable {
        case missingHeaders = "missing_headers"
        case invalidTimestamp = "invalid_timestamp"
        case timestampOutsideTolerance = "timestamp_outside_tolerance"
        case noMatchingSignature = "no_matching_signature"
    }

    /// Verifies a message: all three headers present, timestamp within ±5 minutes of `now`, and any `v1`
    /// signature matching (constant-time) for any of `secrets`.
    public static func verify(
        secrets: [StandardWebhookSecret], id: String?, timestamp: String?, signatureHeader: String?,
        body: some Collection<UInt8>, now: Date
    ) throws(Failure) {
        guard let id, let timestamp, let signatureHeader, !id.isEmpty else { throw .missingHeaders }
        // Digits only, parsed and compared without trapping: an extreme value is refused, never an overflow.
        guard let seconds = ExternalInteger.unsigned(timestamp) else { throw .invalidTimestamp }
        guard ExternalInteger.distance(seconds, UnixTime.seconds(now)) <= UInt64(toleranceSeconds) else {
            throw .timestampOutsideTolerance
        }
        let presented = signatureHeader.split(separator: " ").compactMap { entry -> [UInt8]? in
            let parts = entry.split(separator: ",", maxSplits: 1)
            guard parts.count == 2, parts[0] == "v1", let data = Data(base64Encoded: String(parts[1])) else { return nil }
            return Array(data)
        }
        let bodyBytes = Array(body)
        for secret in secrets {
            var mac = HMAC<SHA256>(key: SymmetricKey(data: secret.key))
            mac.update(data: Array("\(id).\(timestamp).".utf8))
            mac.update(data: bodyBytes)
            let expected = Array(mac.finalize())
            for candidate in presented where ConstantTime.equals(candidate, expected) {
                return
            }
        }
        throw .noMatchingSignature
    }
}

/// Comparison whose time does not depend on where the inputs differ.
public enum ConstantTime {
    public static func equals(_ a: some Collection<UInt8>, _ b: some Collection<UInt8>) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for (x, y) in zip(a, b) { difference |= x ^ y }
        return difference == 0
    }
}
