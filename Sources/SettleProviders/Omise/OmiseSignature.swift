import Crypto
import Foundation
import SettleCore

/// Omise's webhook signature: `Omise-Signature` holds one lowercase hex HMAC-SHA256 (two, comma-separated, while a
/// secret is rolled) over `"<Omise-Signature-Timestamp>." + raw body`, keyed with the base64-decoded webhook secret.
public enum OmiseSignature {
    public enum Failure: String, Error, Sendable {
        case missingHeader = "missing_header"
        case staleTimestamp = "stale_timestamp"
        case mismatch
    }

    /// How far the timestamp may be from now.
    public static let tolerance: TimeInterval = 300

    public static func signature(key: [UInt8], timestamp: String, body: some Collection<UInt8>) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Array(timestamp.utf8) + [0x2E] + Array(body), using: SymmetricKey(data: key))
        return mac.map { String(format: "%02x", $0) }.joined()
    }

    public static func verify(
        signatures header: String?, timestamp: String?, body: some Collection<UInt8>, key: [UInt8], now: Date
    ) throws(Failure) {
        guard let header, let timestamp, timestamp.utf8.count <= 12, let seconds = Int64(timestamp) else { throw .missingHeader }
        guard abs(now.timeIntervalSince1970 - TimeInterval(seconds)) <= tolerance else { throw .staleTimestamp }
        let expected = Array(signature(key: key, timestamp: timestamp, body: body).utf8)
        for candidate in header.split(separator: ",").prefix(4) {
            let presented = Array(candidate.trimmingCharacters(in: .whitespaces).utf8)
            if presented.count == expected.count, zip(presented, expected).reduce(UInt8(0), { $0 | ($1.0 ^ $1.1) }) == 0 { return }
        }
        throw .mismatch
    }
}

/// What Settle reads from an Omise event's body: its id, its key, and the id of the charge it is about (the rest is
/// never trusted: the charge is fetched).
public struct OmiseEvent: Sendable, Hashable {
    public var id: String
    public var key: String
    /// `chrg_…` of a `charge.*` event, when it names one in the form Omise's ids take.
    public var chargeID: String?

    /// `nil` for a body that is not an Omise event.
    public static func read(_ body: [UInt8]) -> OmiseEvent? {
        guard let event = try? JSONValue.parse(body), event["object"]?.stringValue == "event", let id = event["id"]?.stringValue,
            (1...100).contains(id.utf8.count), let key = event["key"]?.stringValue, (1...100).contains(key.utf8.count)
        else { return nil }
        let data = event["data"]
        var chargeID: String?
        if key.hasPrefix("charge."), data?["object"]?.stringValue == "charge", let named = data?["id"]?.stringValue, named.hasPrefix("chrg_"),
            named.utf8.count <= 80, named.utf8.allSatisfy(isIDByte)
        {
            chargeID = named
        }
        return OmiseEvent(id: id, key: key, chargeID: chargeID)
    }

    static func isIDByte(_ byte: UInt8) -> Bool {
        (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte) || byte == 0x5F
    }
}
