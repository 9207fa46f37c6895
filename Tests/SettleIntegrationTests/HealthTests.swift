import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import Settle
import SettleCore
import SettleProviders
@testable import SettleServer
import Testing

/// `/health/live` and `/health/ready`, and readiness on shutdown: `503` first, for the drain delay, while the server
/// still answers; then it stops.
@Suite(.serialized) struct HealthTests {
    func get(_ url: String) async throws -> (status: Int, json: [String: Any]) {
        let response = try await testHTTPClient.execute(HTTPClientRequest(url: url), timeout: .seconds(5))
        let body = try await response.body.collect(upTo: 1 << 16)
        return (Int(response.status.code), ((try? JSONSerialization.jsonObject(with: Data(Array(buffer: body)))) as? [String: Any]) ?? [:])
    }

    @Test(arguments: Engine.enabled)
    func readinessTurnsFirstOnShutdown(_ engine: Engine) async throws {
        var configuration = SettleConfiguration()
        configuration.databaseURL = try await engine.makeDatabaseURL()
        configuration.port = 0
        configuration.drainDelay = .seconds(2)
        configuration.limits = .unlimitedRates
        let settle = try await buildApplication(configuration, logger: Engine.logger, httpClient: testHTTPClient)
        let group = settle.serviceGroup(signals: [], logger: Engine.logger)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            let deadline = ContinuousClock.now + .seconds(30)
            while settle.runtime.boundPort == nil, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
            let base = settle.runtime.publicURL
            var ready = try await get("\(base)/health/ready")
            for _ in 0..<100 where ready.status != 200 {
                try await Task.sleep(for: .milliseconds(20))
                ready = try await get("\(base)/health/ready")
            }
            #expect(ready.status == 200 && ready.json["migrations"] as? String == "applied" && ready.json["draining"] as? Bool == false, "\(ready.json)")
            #expect(try await get("\(base)/health/live").status == 200)

            await group.triggerGracefulShutdown()
            var draining = try await get("\(base)/health/ready")
            for _ in 0..<50 where draining.status == 200 {
                try await Task.sleep(for: .milliseconds(10))
                draining = try await get("\(base)/health/ready")
            }
            // Still answering, but not ready: load balancers stop sending before the server stops.
            #expect(draining.status == 503 && draining.json["draining"] as? Bool == true, "\(draining.json)")
            #expect(try await get("\(base)/health/live").status == 200)
            #expect(try await get("\(base)/health").status == 200)
            try await tasks.waitForAll()
            await #expect(throws: (any Error).self) { _ = try await get("\(base)/health/live") }
        }
    }
}

/// `SETTLE_LOG_FORMAT=json`: one JSON object per line, with the entry's metadata.
@Suite struct JSONLogTests {
    @Test func oneObjectPerLine() throws {
        let lines = CapturedLog()
        var logger = Logger(label: "settle.test") { label in JSONLogHandler(label: label, level: .info, write: { lines.append($0) }) }
        logger[metadataKey: "request_id"] = "req_1"
        logger.debug("not written at info")
        logger.info("notification stored", metadata: ["provider": "omise", "outcomes": "applied:succeeded"])
        let text = lines.text
        #expect(lines.count == 1 && text.hasSuffix("\n") && !text.dropLast().contains("\n"))
        let record = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: String])
        #expect(record["level"] == "info" && record["message"] == "notification stored" && record["label"] == "settle.test")
        #expect(record["request_id"] == "req_1" && record["provider"] == "omise" && record["outcomes"] == "applied:succeeded")
        #expect(record["time"]?.count == 24 && record["time"]?.hasSuffix("Z") == true)
        #expect(JSONLogHandler.timestamp(Date(timeIntervalSince1970: 1_796_180_400.123)) == "2026-12-02T03:00:00.123Z")
    }
}

/// `GET /metrics` after a known workload: the counters moved by exactly what was done.
@Suite(.serialized) struct MetricsTests {
    /// The value of the sample named `name` whose labels include every one of `labels`.
    static func sample(_ text: String, _ name: String, _ labels: [String: String] = [:]) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix(name + "{") || line.hasPrefix(name + " ") {
            let head = line.prefix { $0 != " " }
            guard labels.allSatisfy({ head.contains("\($0.key)=\"\($0.value)\"") }) else { continue }
            if labels.isEmpty && head != name[...] { continue }
            return line.split(separator: " ").last.flatMap { Double($0) }
        }
        return nil
    }

    @Test(arguments: Engine.enabled)
    func countersMoveByWhatWasDone(_ engine: Engine) async throws {
        try await withSettle(databaseURL: try await engine.makeDatabaseURL(), configure: { $0.metricsToken = Secret("scrape-token-123") }) { settle in
            let amount = Money(minorUnits: 150_000, currency: .cop)
            let ids = [try await settle.createPayment(), try await settle.createPayment(), try await settle.createPayment()]
            let notifier = settle.notifier
            let approve = notifier.message(for: .approve, paymentID: ids[0], amount: amount)
            #expect(try await notifier.send(approve) == 200)
            #expect(try await notifier.send(approve) == 200)  // the same event again: a duplicate
            #expect(try await notifier.send(notifier.message(for: .approve, paymentID: ids[1], amount: amount)) == 200)
            #expect(try await notifier.send(notifier.message(for: .approve, paymentID: ids[2], amount: amount, fault: .badSignature)) == 401)
            _ = try await settle.request(.POST, "/v1/payments/\(ids[2])/resolve", json: #"{"status":"failed","note":"x"}"#)

            #expect(try await settle.request(.GET, "/metrics", auth: false).status == 401)
            let scraped = try await settle.request(.GET, "/metrics", headers: [("authorization", "Bearer scrape-token-123")], auth: false)
            #expect(scraped.status == 200 && scraped.headers.first(name: "content-type")?.hasPrefix("text/plain; version=0.0.4") == true)
            let text = scraped.text
            #expect(Self.sample(text, "settle_notifications_total", ["provider": "sandbox", "outcome": "applied"]) == 2, "\(text)")
            #expect(Self.sample(text, "settle_notifications_total", ["provider": "sandbox", "outcome": "duplicate"]) == 1)
            #expect(Self.sample(text, "settle_notifications_total", ["provider": "sandbox", "outcome": "rejected", "reason": "invalid_signature"]) == 1)
            #expect(Self.sample(text, "settle_notification_ingest_seconds_count", ["provider": "sandbox"]) == 3)
            #expect(Self.sample(text, "settle_payment_transitions_total", ["provider": "sandbox", "status": "succeeded"]) == 2)
            #expect(Self.sample(text, "settle_http_requests_total", ["route": "/v1/payments", "method": "POST", "status": "201"]) == 3)
            #expect(Self.sample(text, "settle_http_requests_total", ["route": "/v1/payments/{id}/resolve", "method": "POST", "status": "409"]) == 1)
            #expect(Self.sample(text, "settle_payments_waiting", ["provider": "sandbox", "status": "requires_action"]) == 1)
            #expect(Self.sample(text, "settle_outbox_pending") == 0 && Self.sample(text, "settle_database_up") == 1)
            // This instance's connections: the most there can be, and nobody waiting for one after the workload.
            #expect(Self.sample(text, "settle_database_connections_max") == (engine == .sqlite ? 5 : 40))
            #expect(Self.sample(text, "settle_database_connections_waiting") == 0)
            #expect(Self.sample(text, "settle_database_connections_in_use") != nil && Self.sample(text, "settle_commit_queue_jobs") != nil)
            // The group commit: batches of writes and their time (at least the 3 creations and 3 notifications stored).
            #expect((Self.sample(text, "settle_commit_seconds_count") ?? 0) >= 6)
            #expect(text.contains("settle_commit_batch_jobs"))
            // No label carries an id.
            #expect(!ids.contains { text.contains($0) })
        }
    }
}
