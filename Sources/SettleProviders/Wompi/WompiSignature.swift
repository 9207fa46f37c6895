import Crypto
import Foundation
import SettleCore

/// Wompi's two hashes. Both are plain SHA-256 of a concatenation (not HMAC), lowercase hex.
///
/// - The integrity signature of a payment: `reference + amount_in_cents + currency [+ expiration_time] + integrity
///   secret`, no separators, the amount as integer text, the expiration time only when one is sent.
/// - The checksum of an event: the values at `data.<path>` for each path of `signature.properties`, in the order the
///   event lists them (the list can change per event, so it is never hard-coded), then the `timestamp` field as
///   integer text, then the events secret. Values are their plain text: strings without quotes, integers in decimal.
///
/// Both were checked against the protocol sheet's vectors, which match Wompi's documentation and its official
/// WooCommerce plugin (`vlipco/woocommerce-wompi-plugin`, the webhook handler).
enum WompiSignature {
    static func sha256Hex(_ text: String) -> String { Hex.encode(SHA256.hash(data: Array(text.utf8))) }

    static func integrity(reference: String, amountInCents: Int64, currency: String, expirationTime: String?, secret: String) -> String {
        sha256Hex(reference + String(amountInCents) + currency + (expirationTime ?? "") + secret)
    }

    /// Why an event's checksum does not verify.
    enum Failure: String, Error, Sendable {
        case notJSON = "the body is not a JSON object"
        case noSignature = "the event has no signature.properties and signature.checksum"
        case badProperties = "signature.properties is not a list of field paths"
        case missingProperty = "a listed property is missing from data or is not a plain value"
        case noTimestamp = "the event has no integer timestamp"
        case mismatch = "the checksum does not match"
        case headerMismatch = "X-Event-Checksum does not match the body's checksum"
    }

    /// The value at a dot path under `data`, as the checksum reads it: strings as they are, integers in decimal,
    /// other numbers as written, booleans as `true`/`false`. Objects, arrays, `null` and absent fields are refused.
    static func text(at path: String, in data: JSONValue) -> String? {
        var current = data
        for segment in path.split(separator: ".", omittingEmptySubsequences: false) {
            guard let next = current[String(segment)] else { return nil }
            current = next
        }
        switch current {
        case .string(let value): return value
        case .int(let value): return String(value)
        case .bool(let value): return value ? "true" : "false"
        case .null, .array, .object: return nil
        }
    }

    /// The paths a checksum may list: 1 to 16 dot paths of letters, digits and underscores.
    static func properties(_ value: JSONValue?) -> [String]? {
        guard let items = value?.arrayValue, (1...16).contains(items.count) else { return nil }
        var paths: [String] = []
        for item in items {
            guard let path = item.stringValue, (1...128).contains(path.utf8.count),
                path.split(separator: ".", omittingEmptySubsequences: false).allSatisfy({ segment in
                    !segment.isEmpty && segment.utf8.allSatisfy { WompiConfiguration.Credential.isKeyByte($0) && $0 != 0x2D }
                })
            else { return nil }
            paths.append(path)
        }
        return paths
    }

    /// Verifies a parsed event against the events secret and, when present, the `X-Event-Checksum` header. Returns
    /// the event's timestamp and the paths it signs. Comparisons are constant time and case-insensitive.
    static func verify(event: JSONValue, header: String?, secret: String) throws(Failure) -> (timestamp: Int64, signed: [String]) {
        guard event.isObject, let data = event["data"] else { throw .notJSON }
        guard let signature = event["signature"], signature.isObject, let presented = signature["checksum"]?.stringValue else {
            throw .noSignature
        }
        guard let paths = properties(signature["properties"]) else { throw .badProperties }
        guard let timestamp = event["timestamp"]?.intValue else { throw .noTimestamp }
        var concatenation = ""
        for path in paths {
            guard let value = text(at: path, in: data) else { throw .missingProperty }
            concatenation += value
        }
        let expected = Array(sha256Hex(concatenation + String(timestamp) + secret).utf8)
        guard ConstantTime.equals(Array(presented.lowercased().utf8), expected) else { throw .mismatch }
        if let header, !ConstantTime.equals(Array(header.trimmingCharacters(in: .whitespaces).lowercased().utf8), expected) {
            throw .headerMismatch
        }
        return (timestamp, paths)
    }
}
