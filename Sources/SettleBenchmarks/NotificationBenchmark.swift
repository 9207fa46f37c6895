import AsyncHTTPClient
import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import Settle
import SettleCore
import SettleProviders
import SettleServer
import SettleStore

/// Measures notification ingest end to end over loopback: a real server, real HTTP, signed sandbox
/// notifications, the configured durability. Then proves every payment succeeded exactly once.
public enum NotificationBenchmark {
    public struct Report: Sendable, CustomStringConvertible {
        public var database: String
        public var payments: Int
        public var concurrency: Int
        public var createPerSecond: Double
        public var notificationsPerSecond: Double
        public var p50Milliseconds: Double
        public var p99Milliseconds: Double
        public var succeeded: Int64
        public var succeededEvents: Int64
        public var paymentsWithDuplicateEvents: Int64
        public var exactlyOnce: Bool { succeeded == Int64(payments) && succeededEvents == Int64(payments) && paymentsWithDuplicateEvents == 0 }

        public var description: String {
            func f(_ value: Double) -> String { String(format: "%.1f", value) }
            return """
                database:            \(database)
                payments:            \(payments) (created at \(f(createPerSecond))/s)
                concurrency:         \(concurrency)
                notifications/s:     \(f(notificationsPerSecond))
                latency p50 / p99:   \(f(p50Milliseconds)) ms / \(f(p99Milliseconds)) ms
                succeeded:           \(succeeded), payment.succeeded events: \(succeededEvents), payments with >1: \(paymentsWithDuplicateEvents)
                exactly once:        \(exactlyOnce ? "yes" : "NO")
                """
        }
    }

    public static func run(configuration base: SettleConfiguration, payments count: Int, concurrency: Int, logger: Logger)
        async throws -> Report
    {
        var configuration = base
        configuration.port = 0
        configuration.sweepInterval = 3600
        configuration.limits = .unlimitedRates  // one client on loopback, far over any caller's rate
        var clientConfiguration = HTTPClient.Configuration()
        clientConfiguration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = concurrency
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: clientConfiguration)
        do {
            let report = try await measure(configuration, payments: count, concurrency: concurrency, client: client, logger: logger)
            try await client.shutdown()
            return report
        } catch {
            try? await client.shutdown()
            throw error
        }
    }

    static func measure(
        _ configuration: SettleConfiguration, payments count: Int, concurrency: Int, client: HTTPClient, logger: Logger
    ) async throws -> Report {
        try await withServer(configuration, client: client, logger: logger) { settle, base, secret in
            // Create the payments through the API.
            let createStart = ContinuousClock.now
            let ids = try await concurrentMap(0..<count, concurrency: concurrency) { index -> String in
                var request = HTTPClientRequest(url: "\(base)/v1/payments")
                request.method = .POST
                request.headers.add(name: "authorization", value: "Bearer \(secret)")
                request.headers.add(name: "content-type", value: "application/json")
                request.body = .bytes(ByteBuffer(string: #"{"amount":150000,"currency":"COP","provider":"sandbox","reference":"bench-\#(index)"}"#))
                let response = try await client.execute(request, timeout: .seconds(30))
                let body = try await response.body.collect(upTo: 1 << 20)
                guard response.status == .created,
                    let object = try JSONSerialization.jsonObject(with: Data(String(buffer: body).utf8)) as? [String: Any],
                    let id = object["id"] as? String
                else { throw BenchmarkError(message: "payment creation answered \(response.status.code)") }
                return id
            }
            let createSeconds = seconds(ContinuousClock.now - createStart)

            // Send one signed success notification per payment, timing each.
            let notifier = SandboxNotifier(secret: settle.sandboxSecret!, webhookURL: "\(base)/v1/webhooks/sandbox", httpClient: client)
            let amount = Money(minorUnits: 150000, currency: .cop)
            let start = ContinuousClock.now
            let latencies = try await concurrentMap(ids, concurrency: concurrency) { id -> Double in
                let message = notifier.message(for: .approve, paymentID: id, amount: amount)
                let sent = ContinuousClock.now
                let status = try await notifier.send(message)
                guard status == 200 else { throw BenchmarkError(message: "notification answered \(status)") }
                return seconds(ContinuousClock.now - sent) * 1000
            }
            let elapsed = seconds(ContinuousClock.now - start)
            let sorted = latencies.sorted()
            let (succeeded, events, duplicates) = try await settle.store.read { connection in
                let succeeded = try await connection.query("SELECT COUNT(*) AS n FROM payments WHERE status = 'succeeded'").first!.int("n")
                let events = try await connection.query("SELECT COUNT(*) AS n FROM events WHERE type = 'payment.succeeded'").first!.int("n")
                let duplicates = try await connection.query(
                    "SELECT COUNT(*) AS n FROM (SELECT payment_id FROM events WHERE type = 'payment.succeeded' GROUP BY payment_id HAVING COUNT(*) > 1) AS d"
                ).first!.int("n")
                return (succeeded, events, duplicates)
            }
            return Report(
                database: "\(settle.store.location)", payments: count, concurrency: concurrency,
                createPerSecond: Double(count) / createSeconds, notificationsPerSecond: Double(count) / elapsed,
                p50Milliseconds: percentile(sorted, 0.50), p99Milliseconds: percentile(sorted, 0.99),
                succeeded: succeeded, succeededEvents: events, paymentsWithDuplicateEvents: duplicates
            )
        }
    }

    /// Runs a Settle server on a loopback port with a fresh test-mode key while `body` runs (given the server, its URL
    /// and the key's secret), then shuts it down gracefully.
    static func withServer<T: Sendable>(
        _ configuration: SettleConfiguration, client: HTTPClient, logger: Logger,
        _ body: @Sendable (SettleApplication, String, String) async throws -> T
    ) async throws -> T {
        let settle = try await buildApplication(configuration, logger: logger, httpClient: client)
        let services = ServiceGroup(configuration: .init(services: [settle.app], gracefulShutdownSignals: [], logger: logger))
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await services.run() }
            defer { group.cancelAll() }
            while settle.runtime.boundPort == nil { try await Task.sleep(for: .milliseconds(20)) }
            let (secret, key) = APIKeys.generate(mode: .test, name: "bench", at: Date())
            try await settle.store.write { tx in try await tx.insertAPIKey(key, secret: secret) }
            let result = try await body(settle, settle.runtime.publicURL, secret)
            await services.triggerGracefulShutdown()
            try await group.waitForAll()
            return result
        }
    }

    struct BenchmarkError: Error, CustomStringConvertible {
        let message: String
        var description: String { message }
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    static func percentile(_ sorted: [Double], _ p: Double) -> Double {
        guard !sorted.isEmpty else { return 0 }
        return sorted[min(sorted.count - 1, Int((Double(sorted.count - 1) * p).rounded()))]
    }

    /// Maps with at most `concurrency` operations in flight, keeping input order.
    static func concurrentMap<Input: Sendable, Output: Sendable>(
        _ inputs: some Collection<Input>, concurrency: Int, _ transform: @escaping @Sendable (Input) async throws -> Output
    ) async throws -> [Output] {
        let items = Array(inputs)
        return try await withThrowingTaskGroup(of: (Int, Output).self) { group in
            var results = [Output?](repeating: nil, count: items.count)
            var next = 0
            while next < min(concurrency, items.count) {
                let index = next
                group.addTask { (index, try await transform(items[index])) }
                next += 1
            }
            while let (index, output) = try await group.next() {
                results[index] = output
                if next < items.count {
                    let index = next
                    group.addTask { (index, try await transform(items[index])) }
                    next += 1
                }
            }
            return results.map { $0! }
        }
    }
}
