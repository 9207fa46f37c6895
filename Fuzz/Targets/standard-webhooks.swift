// Standard Webhooks verification with outside headers: the input is `id \n timestamp \n signature header \n body`.
// Nothing may crash (the timestamp once overflowed), and a message signed with the secret must verify.
import Foundation

private let secret = StandardWebhookSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")!
private let now = Date(timeIntervalSince1970: 1_614_265_330)

enum StandardWebhooksTarget {
    static func run(_ bytes: [UInt8]) {
        let parts = bytes.split(separator: UInt8(ascii: "\n"), maxSplits: 3, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
        guard parts.count == 4 else { return }
        let body = Array(parts[3].utf8)
        try? StandardWebhooks.verify(secrets: [secret], id: parts[0], timestamp: parts[1], signatureHeader: parts[2], body: body, now: now)
        if !parts[0].isEmpty {
            let signed = StandardWebhooks.signature(secret: secret, id: parts[0], timestamp: 1_614_265_330, body: body)
            do {
                try StandardWebhooks.verify(secrets: [secret], id: parts[0], timestamp: "1614265330", signatureHeader: signed, body: body, now: now)
            } catch {
                preconditionFailure("a correctly signed message was refused: \(error)")
            }
        }
    }
}
