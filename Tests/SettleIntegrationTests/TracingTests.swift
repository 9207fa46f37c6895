import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import SettleCore
import SettleServer
import Synchronization
import Testing

/// An OpenTelemetry collector on a loopback port: keeps every OTLP/HTTP export it is sent.
final class OTLPCollector: Sendable {
    struct Export: Sendable {
        let path: String
        let contentType: String?
        let body: [UInt8]
    }

    private let state = Mutex<[Export]>([])
    private let port = Mutex<Int?>(nil)
    var exports: [Export] { state.withLock { $0 } }
    var url: String { "http://127.0.0.1:\(port.withLock { $0 }!)" }

    /// Whether some export holds every one of `needles` (span names are strings, trace ids 16 raw bytes, in protobuf).
    func received(_ needles: [[UInt8]]) -> Bool {
        let bodies = exports.map(\.body)
        return needles.allSatisfy { needle in bodies.contains { Self.contains($0, needle) } }
    }

    static func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard !needle.isEmpty, haystack.count >= needle.count else { return false }
        return (0...(haystack.count - needle.count)).contains { start in haystack[start..<(start + needle.count)].elementsEqual(needle) }
    }

    func run<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T {
        let router = Router()
        router.post("v1/traces") { request, _ -> Response in
            let bytes = try await request.body.collect(upTo: 8 << 20)
            let export = Export(path: request.uri.path, contentType: request.headers[.contentType], body: Array(buffer: bytes))
            self.state.withLock { $0.append(export) }
            return Response(status: .ok, headers: [.contentType: "application/x-protobuf"], body: .init(byteBuffer: ByteBuffer()))
        }
        var logger = Logger(label: "collector")
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

/// `SETTLE_OTEL_ENDPOINT`: spans exported over OTLP/HTTP to a collector, and trace context carried across.
@Suite(.serialized) struct TracingTests {
    static func hex(_ text: String) -> [UInt8] {
        stride(from: 0, to: text.count, by: 2).map { offset in
            let start = text.index(text.startIndex, offsetBy: offset)
            return UInt8(text[start..<text.index(start, offsetBy: 2)], radix: 16)!
        }
    }

    static func eventually(_ what: String, _ condition: @Sendable () -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(15)
        while !condition() {
            guard ContinuousClock.now < deadline else { throw TestFailure(what) }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    @Test func requestsProviderCallsAndDeliveriesAreSpansAndTheTraceReachesTheMerchant() async throws {
        let collector = OTLPCollector()
        let receiver = WebhookReceiver()
        try await collector.run {
            try await receiver.run {
                try await StripeFlowTests().withStripe(.sqlite, configure: { $0.otelEndpoint = collector.url }) { settle, _ in
                    let endpoint = try await settle.request(
                        .POST, "/v1/webhook_endpoints", json: #"{"url":"\#(receiver.url)","enabled_events":["payment.created"]}"#
                    )
                    #expect(endpoint.status == 201, "\(endpoint.text)")
                    // The caller's trace continues through Settle: its request span is a child of the caller's.
                    let callerTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
                    let created = try await settle.request(
                        .POST, "/v1/payments", json: #"{"amount":150000,"currency":"COP","provider":"stripe","reference":"traced-1"}"#,
                        headers: [("traceparent", "00-\(callerTrace)-00f067aa0ba902b7-01")]
                    )
                    #expect(created.status == 201, "\(created.text)")
                    // The merchant's webhook carries the delivery's trace context (W3C traceparent).
                    try await Self.eventually("no delivery") { !receiver.deliveries.isEmpty }
                    let traceparent = try #require(receiver.deliveries.first?.traceparent)
                    let parts = traceparent.split(separator: "-").map(String.init)
                    #expect(parts.count == 4 && parts[0] == "00" && parts[1].count == 32 && parts[2].count == 16 && parts[3] == "01", "\(traceparent)")
                    let deliveryTrace = parts.count == 4 ? parts[1] : ""
                    // The collector received, as protobuf: the request span in the caller's trace (named by its route
                    // template), the call to Stripe's API inside it, and the delivery in the trace the merchant saw.
                    try await Self.eventually("the spans never reached the collector") {
                        collector.received([
                            Self.hex(callerTrace), Array("POST /v1/payments".utf8), Array("stripe POST".utf8), Array("/v1/checkout/sessions".utf8),
                            Self.hex(deliveryTrace), Array("webhook delivery".utf8), Array("payment.created".utf8),
                        ])
                    }
                    let first = try #require(collector.exports.first)
                    #expect(first.path == "/v1/traces" && first.contentType == "application/x-protobuf")
                    // Span names are route templates, never paths with ids; no secret goes out.
                    let exported = collector.exports.flatMap(\.body)
                    let paymentID = created.json["id"] as? String ?? "pay_"
                    #expect(!OTLPCollector.contains(exported, Array("/v1/payments/\(paymentID)".utf8)))
                    #expect(!OTLPCollector.contains(exported, Array(StripeFlowTests.apiKey.utf8)))
                    #expect(!OTLPCollector.contains(exported, Array(settle.apiKey.utf8)))
                    // The delivery is counted too, by its outcome.
                    let metrics = try await settle.request(.GET, "/metrics", auth: false).text
                    #expect(MetricsTests.sample(metrics, "settle_webhook_deliveries_total", ["outcome": "delivered"]) == 1, "\(metrics)")
                    #expect(MetricsTests.sample(metrics, "settle_webhook_delivery_seconds_count") == 1)
                }
            }
        }
    }
}
