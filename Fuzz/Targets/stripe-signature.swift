// Stripe-Signature verification with an outside header: the input is `header \n body`. Nothing may crash, and a
// header Settle's own signer makes must verify.
import Foundation

private let now = Date(timeIntervalSince1970: 1_700_000_000)

enum StripeSignatureTarget {
    static func run(_ bytes: [UInt8]) {
        let parts = bytes.split(separator: UInt8(ascii: "\n"), maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2 else { return }
        let header = String(decoding: parts[0], as: UTF8.self)
        let body = Array(parts[1])
        try? StripeSignature.verify(header: header, body: body, secret: "whsec_test_secret_1234567890", now: now)
        let good = StripeSignature.header(secret: "whsec_test_secret_1234567890", timestamp: 1_700_000_000, body: body)
        do {
            try StripeSignature.verify(header: good, body: body, secret: "whsec_test_secret_1234567890", now: now)
        } catch {
            preconditionFailure("a correctly signed event was refused: \(error)")
        }
    }
}
