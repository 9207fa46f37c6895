// An Omise notification: `Omise-Signature` (first line), `Omise-Signature-Timestamp` (second line) and the body (the
// rest), checked against a fixed key, and the body read as Omise's event. Nothing may crash or hang.
import Foundation

enum OmiseEventTarget {
    static let key = Array("omise-test-webhook-secret-32byte".utf8)

    static func run(_ bytes: [UInt8]) {
        let lines = bytes.split(separator: 0x0A, maxSplits: 2, omittingEmptySubsequences: false)
        let header = lines.first.map { String(decoding: $0, as: UTF8.self) }
        let timestamp = lines.count > 1 ? String(decoding: lines[1], as: UTF8.self) : nil
        let body = lines.count > 2 ? Array(lines[2]) : []
        _ = try? OmiseSignature.verify(signatures: header, timestamp: timestamp, body: body, key: key, now: Date(timeIntervalSince1970: 1_700_000_100))
        _ = OmiseEvent.read(body)
    }
}
