import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Settle
import SettleCore
import SettleStore
import Synchronization

/// Measures outbound webhook delivery: N queued events, one endpoint on a fast local receiver (in this process,
/// over loopback), the real dispatcher with its signing, attempts and bookkeeping.
public enum WebhookBenchmark {
    public struct Report: Sendable, CustomStringConvertible {
        public var database: String
        public var messages: Int
        public var delivered: Int
        public var messagesPerSecond: Double
        public var receivedUnique: Int

        public var description: String {
            """
            database:            \(database)
            messages:            \(messages), delivered: \(delivered), received (unique webhook-id): \(receivedUnique)
            delivered/s:         \(String(format: "%.1f", messagesPerSecond))
            """
        }
    }

    public static func run(databaseURL: String, messages count: Int, logger: Logger) async throws -> Report {
        final class Tally: Sendable {
            let received = Mutex<(total: Int, ids: Set<String>)>((0, []))
            let port = Mutex<Int?>(nil)
        }
        let tally = Tally()
        let router = Router()
        router.post("hooks") { request, _ -> Response in
            _ = try await request.body.collect(upTo: 1 << 20)
            let id = request.headers[HTTPField.Name("webhook-id")!] ?? ""
            tally.received.withLock { state in
                state.total += 1
                state.ids.insert(id)
            }
            return Response(status: .noContent)
        }
        let receiver = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in tally.port.withLock { $0 = channel.localAddress?.port } }, logger: logger
        )
        var clientConfiguration = HTTPClient.Configuration()
        clientConfiguration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 256
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: clientConfiguration)
        let location = try DatabaseLocation(url: databaseURL)
        do {
            let report = try await Store.withStore(location, logger: logger) { store in
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { try await receiver.run() }
                    defer { group.cancelAll() }
                    while tally.port.withLock({ $0 }) == nil { try await Task.sleep(for: .milliseconds(10)) }
                    try await store.migrate()
                    let endpoint = WebhookEndpoint(
                        mode: .test, url: "http://127.0.0.1:\(tally.port.withLock { $0 }!)/hooks", description: "bench",
                        enabledEvents: ["*"], at: Date()
                    )
                    try await store.write { tx in try await tx.insertWebhookEndpoint(endpoint) }
                    let payment = Payment(
                        id: "pay_bench", mode: .test, status: .succeeded, amount: Money(minorUnits: 150_000, currency: .cop),
                        provider: "sandbox", reference: "bench", createdAt: Date(), updatedAt: Date()
                    )
                    for start in stride(from: 0, to: count, by: 500) {
                        try await store.write { tx in
                            for index in start..<min(start + 500, count) {
                                var copy = payment
                                copy.id = "pay_bench_\(index)"
                                try await tx.insertEvent(type: .paymentSucceeded, payment: copy, at: Date())
                            }
                        }
                    }
                    var configuration = WebhookDispatcher.Configuration()
                    configuration.pollInterval = .milliseconds(5)
                    let dispatcher = WebhookDispatcher(store: store, configuration: configuration, logger: logger)
                    let start = ContinuousClock.now
                    let delivered = try await withThrowingTaskGroup(of: Int.self) { workers in
                        workers.addTask {
                            await dispatcher.run()
                            return 0
                        }
                        workers.addTask {
                            while tally.received.withLock({ $0.ids.count }) < count {
                                try await Task.sleep(for: .milliseconds(5))
                            }
                            dispatcher.stop()
                            return 0
                        }
                        try await workers.waitForAll()
                        return try await store.webhookMessages().filter { $0.state == "delivered" }.count
                    }
                    let elapsed = ContinuousClock.now - start
                    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
                    return Report(
                        database: "\(location)", messages: count, delivered: delivered,
                        messagesPerSecond: Double(count) / seconds, receivedUnique: tally.received.withLock { $0.ids.count }
                    )
                }
            }
            try await client.shutdown()
            return report
        } catch {
            try? await client.shutdown()
            throw error
        }
    }
}
