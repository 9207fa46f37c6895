import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import Settle
import SettleCore
import SettleProviders
import SettleServer
import SettleStore

/// Measures concurrent wallet debits end to end over loopback: a real server, real HTTP, each debit with its own
/// `Idempotency-Key`, the configured durability. `wallets` wallets are topped up (through sandbox payments and their
/// signed notifications) with room for three quarters of the debits aimed at each (at least 100 of them), then `debits` debits spread over them run
/// `concurrency` at a time, so both outcomes — moved and refused with `402` — are on the hot path. Then proves that
/// exactly what fitted moved and that the ledger verifies.
public enum WalletBenchmark {
    public struct Report: Sendable, CustomStringConvertible {
        public var database: String
        public var wallets: Int
        public var debits: Int
        public var concurrency: Int
        public var debitsPerSecond: Double
        public var p50Milliseconds: Double
        public var p99Milliseconds: Double
        public var moved: Int
        public var refused: Int
        public var expectedMoved: Int
        public var balancesRight: Bool
        public var ledgerVerifies: Bool
        public var correct: Bool { moved == expectedMoved && refused == debits - expectedMoved && balancesRight && ledgerVerifies }

        public var description: String {
            func f(_ value: Double) -> String { String(format: "%.1f", value) }
            return """
                database:            \(database)
                wallets:             \(wallets), debits: \(debits), concurrency: \(concurrency)
                debits/s:            \(f(debitsPerSecond)) (moved and refused together)
                latency p50 / p99:   \(f(p50Milliseconds)) ms / \(f(p99Milliseconds)) ms
                moved / refused:     \(moved) / \(refused) (expected \(expectedMoved) / \(debits - expectedMoved))
                balances right:    \(balancesRight ? "yes" : "NO"), ledger verifies: \(ledgerVerifies ? "yes" : "NO")
                correct:             \(correct ? "yes" : "NO")
                """
        }
    }

    /// Each debit's amount; each wallet holds room for three quarters of the debits aimed at it, and for at least 100
    /// (a top-up of 1,000.00 COP).
    static let debitAmount: Int64 = 1_000

    public static func run(configuration base: SettleConfiguration, wallets: Int, debits: Int, concurrency: Int, logger: Logger) async throws -> Report {
        var configuration = base
        configuration.port = 0
        configuration.sweepInterval = 3600
        configuration.limits = .unlimitedRates
        var clientConfiguration = HTTPClient.Configuration()
        clientConfiguration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = concurrency
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: clientConfiguration)
        do {
            let report = try await measure(configuration, wallets: wallets, debits: debits, concurrency: concurrency, client: client, logger: logger)
            try await client.shutdown()
            return report
        } catch {
            try? await client.shutdown()
            throw error
        }
    }

    static func measure(
        _ configuration: SettleConfiguration, wallets count: Int, debits: Int, concurrency: Int, client: HTTPClient, logger: Logger
    ) async throws -> Report {
        try await NotificationBenchmark.withServer(configuration, client: client, logger: logger) { settle, base, secret in
            /// The answer's status and its `id`.
            @Sendable func post(_ path: String, _ body: String, key: String? = nil) async throws -> (UInt, String?) {
                var request = HTTPClientRequest(url: base + path)
                request.method = .POST
                request.headers.add(name: "authorization", value: "Bearer \(secret)")
                request.headers.add(name: "content-type", value: "application/json")
                if let key { request.headers.add(name: "idempotency-key", value: key) }
                request.body = .bytes(ByteBuffer(string: body))
                let response = try await client.execute(request, timeout: .seconds(30))
                let bytes = try await response.body.collect(upTo: 1 << 20)
                let object = (try? JSONSerialization.jsonObject(with: Data(String(buffer: bytes).utf8))) as? [String: Any] ?? [:]
                return (response.status.code, object["id"] as? String)
            }

            // Wallets, each topped up with room for three quarters of the debits aimed at it (sandbox payments of at
            // least 1,000.00 COP, succeeded by their signed notifications).
            let perWallet = (debits + count - 1) / count
            let room = Int64(max(100, perWallet * 3 / 4)) * debitAmount
            let notifier = SandboxNotifier(secret: settle.sandboxSecret!, webhookURL: "\(base)/v1/webhooks/sandbox", httpClient: client)
            let walletIDs = try await NotificationBenchmark.concurrentMap(0..<count, concurrency: min(concurrency, 16)) { index -> String in
                let (status, wallet) = try await post("/v1/wallets", #"{"reference":"bench-\#(index)","currency":"COP"}"#)
                guard status == 201, let id = wallet else { throw NotificationBenchmark.BenchmarkError(message: "wallet creation answered \(status)") }
                let (created, payment) = try await post(
                    "/v1/payments", #"{"amount":\#(room),"currency":"COP","provider":"sandbox","reference":"bench-topup-\#(index)","wallet":"\#(id)"}"#
                )
                guard created == 201, let paymentID = payment else {
                    throw NotificationBenchmark.BenchmarkError(message: "top-up creation answered \(created)")
                }
                let sent = try await notifier.send(notifier.message(for: .approve, paymentID: paymentID, amount: Money(minorUnits: room, currency: .cop)))
                guard sent == 200 else { throw NotificationBenchmark.BenchmarkError(message: "top-up notification answered \(sent)") }
                return id
            }
            let fitting = Int(room / debitAmount)
            let expected = (0..<count).reduce(0) { total, index in
                let aimed = (0..<debits).filter { $0 % count == index }.count
                return total + min(aimed, fitting)
            }

            let start = ContinuousClock.now
            let results = try await NotificationBenchmark.concurrentMap(0..<debits, concurrency: concurrency) { index -> (UInt, Double) in
                let wallet = walletIDs[index % count]
                let sent = ContinuousClock.now
                let (status, _) = try await post(
                    "/v1/wallets/\(wallet)/debits", #"{"amount":\#(debitAmount),"reference":"bench-order-\#(index)"}"#, key: "bench-debit-\(index)"
                )
                guard status == 201 || status == 402 else { throw NotificationBenchmark.BenchmarkError(message: "a debit answered \(status)") }
                return (status, NotificationBenchmark.seconds(ContinuousClock.now - sent) * 1000)
            }
            let elapsed = NotificationBenchmark.seconds(ContinuousClock.now - start)
            let sorted = results.map(\.1).sorted()
            var balancesRight = true
            for (index, id) in walletIDs.enumerated() {
                let aimed = (0..<debits).filter { $0 % count == index }.count
                let left = room - Int64(min(aimed, fitting)) * debitAmount
                if try await settle.store.wallet(id: id, mode: .test)?.balance != left { balancesRight = false }
            }
            let verifies = try await settle.store.verifyLedger() == nil
            return Report(
                database: "\(settle.store.location)", wallets: count, debits: debits, concurrency: concurrency,
                debitsPerSecond: Double(debits) / elapsed, p50Milliseconds: NotificationBenchmark.percentile(sorted, 0.50),
                p99Milliseconds: NotificationBenchmark.percentile(sorted, 0.99), moved: results.filter { $0.0 == 201 }.count,
                refused: results.filter { $0.0 == 402 }.count, expectedMoved: expected, balancesRight: balancesRight, ledgerVerifies: verifies
            )
        }
    }
}
