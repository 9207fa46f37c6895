import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Synchronization

/// An HTTP server on a loopback port that answers each request with the next scripted answer (the last one repeats)
/// and records what it was sent: a provider's API, a merchant's endpoint, whatever a test needs to misbehave.
final class ScriptedServer: Sendable {
    struct Answer: Sendable {
        var status: Int
        var headers: [(String, String)] = []
        var body: [UInt8] = Array("{}".utf8)
        var delay: Duration = .zero
        /// Send the body a byte at a time, this long apart (a receiver that trickles its answer).
        var trickle: Duration?
    }

    struct Received: Sendable {
        let method: String
        let path: String
        let headers: [String: String]
        let body: [UInt8]
    }

    private let state = Mutex<(answers: [Answer], received: [Received])>(([Answer(status: 200)], []))
    private let boundPort = Mutex<Int?>(nil)
    let host: String
    let requestedPort: Int

    init(host: String = "127.0.0.1", port: Int = 0) {
        self.host = host
        self.requestedPort = port
    }

    var received: [Received] { state.withLock { $0.received } }
    var port: Int { boundPort.withLock { $0 }! }
    var url: String { "http://\(host):\(port)" }

    /// The answers to give, in order; the last one repeats.
    func script(_ answers: [Answer]) { state.withLock { $0.answers = answers } }

    func run<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T {
        let router = Router()
        router.on("**", method: .get, use: handle)
        router.on("**", method: .post, use: handle)
        var logger = Logger(label: "scripted")
        logger.logLevel = .critical
        let app = Application(
            router: router, configuration: .init(address: .hostname(host, port: requestedPort)),
            onServerRunning: { channel in self.boundPort.withLock { $0 = channel.localAddress?.port } }, logger: logger
        )
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await app.run() }
            defer { group.cancelAll() }
            while boundPort.withLock({ $0 }) == nil { try await Task.sleep(for: .milliseconds(10)) }
            return try await body()
        }
    }

    @Sendable private func handle(_ request: Request, context: BasicRequestContext) async throws -> Response {
        let bytes = try await request.body.collect(upTo: 1 << 20)
        var headers: [String: String] = [:]
        for field in request.headers { headers[field.name.canonicalName] = field.value }
        headers["host"] = request.head.authority  // HTTP/1's Host arrives as the authority
        let answer = state.withLock { state -> Answer in
            state.received.append(Received(method: request.method.rawValue, path: request.uri.path, headers: headers, body: Array(buffer: bytes)))
            return state.answers.count > 1 ? state.answers.removeFirst() : state.answers[0]
        }
        if answer.delay > .zero { try await Task.sleep(for: answer.delay) }
        var fields = HTTPFields()
        for (name, value) in answer.headers { fields[HTTPField.Name(name)!] = value }
        if let pause = answer.trickle {
            let bytes = answer.body
            return Response(
                status: .init(code: answer.status), headers: fields,
                body: ResponseBody { writer in
                    for byte in bytes {
                        try await writer.write(ByteBuffer(bytes: [byte]))
                        try await Task.sleep(for: pause)
                    }
                    try await writer.finish(nil)
                }
            )
        }
        return Response(status: .init(code: answer.status), headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: answer.body)))
    }
}
