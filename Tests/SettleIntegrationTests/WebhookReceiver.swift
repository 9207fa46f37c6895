import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Synchronization

/// A merchant backend on a loopback port: records every delivery and answers as the test tells it.
final class WebhookReceiver: Sendable {
    struct Delivery: Sendable {
        let id: String
        let timestamp: String
        let signature: String
        let body: [UInt8]
        var traceparent: String? = nil
        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] ?? [:] }
    }

    struct Answer: Sendable {
        var status: Int
        var delay: Duration = .zero
    }

    private let state = Mutex<(deliveries: [Delivery], answer: Answer)>(([], Answer(status: 200)))
    private let port = Mutex<Int?>(nil)

    var deliveries: [Delivery] { state.withLock { $0.deliveries } }
    func answer(_ status: Int, delay: Duration = .zero) { state.withLock { $0.answer = Answer(status: status, delay: delay) } }
    var url: String { "http://127.0.0.1:\(port.withLock { $0 }!)/hooks" }

    /// Runs the receiver while `body` runs.
    func run<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T {
        let router = Router()
        router.post("hooks") { request, _ -> Response in
            let bytes = try await request.body.collect(upTo: 1 << 20)
            let headers = request.headers
            let delivery = Delivery(
                id: headers[HTTPField.Name("webhook-id")!] ?? "", timestamp: headers[HTTPField.Name("webhook-timestamp")!] ?? "",
                signature: headers[HTTPField.Name("webhook-signature")!] ?? "", body: Array(buffer: bytes),
                traceparent: headers[HTTPField.Name("traceparent")!]
            )
            let answer = self.state.withLock { state -> Answer in
                state.deliveries.append(delivery)
                return state.answer
            }
            if answer.delay > .zero { try await Task.sleep(for: answer.delay) }
            return Response(status: .init(code: answer.status), body: .init(byteBuffer: ByteBuffer(string: "ok \(answer.status)")))
        }
        var logger = Logger(label: "receiver")
        logger.logLevel = .critical
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in self.port.withLock { $0 = channel.localAddress?.port } }, logger: logger
        )
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await app.run() }
            defer { group.cancelAll() }
            while port.withLock({ $0 }) == nil { try await Task.sleep(for: .milliseconds(10)) }
            return try await body()
        }
    }
}

/// Verifies a delivery from the Standard Webhooks spec alone, not with Settle's signer: this is the README's
/// "Receiving Settle's webhooks" Swift snippet, verbatim, so the suite proves the snippet works.
func verifySettleWebhook(secret: String, headers: [String: String], body: Data, now: Date = Date()) -> Bool {
    guard let id = headers["webhook-id"], let timestamp = headers["webhook-timestamp"],
          let signatures = headers["webhook-signature"], let seconds = Int64(timestamp),
          abs(seconds - Int64(now.timeIntervalSince1970)) <= 300,
          let key = Data(base64Encoded: String(secret.dropFirst("whsec_".count)))
    else { return false }
    let mac = HMAC<SHA256>.authenticationCode(for: Data("\(id).\(timestamp).".utf8) + body, using: SymmetricKey(data: key))
    return signatures.split(separator: " ").contains { entry in
        let parts = entry.split(separator: ",", maxSplits: 1)
        guard parts.count == 2, parts[0] == "v1", let given = Data(base64Encoded: String(parts[1])) else { return false }
        return mac == given   // HashedAuthenticationCode compares in constant time
    }
}

enum SpecVerifier {
    static func verify(secret: String, id: String, timestamp: String, signatureHeader: String, body: [UInt8]) -> Bool {
        let at = Date(timeIntervalSince1970: TimeInterval(Int64(timestamp) ?? 0))
        return verifySettleWebhook(
            secret: secret, headers: ["webhook-id": id, "webhook-timestamp": timestamp, "webhook-signature": signatureHeader],
            body: Data(body), now: at
        )
    }
}

/// A clock the test moves by hand.
final class ManualClock: Sendable {
    private let current: Mutex<Date>
    init(_ start: Date = Date()) { current = Mutex(start) }
    var now: Date { current.withLock { $0 } }
    func advance(seconds: Int64) { current.withLock { $0 = $0.addingTimeInterval(TimeInterval(seconds)) } }
    func set(_ date: Date) { current.withLock { $0 = date } }
    var reader: @Sendable () -> Date { { self.now } }
}
