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
