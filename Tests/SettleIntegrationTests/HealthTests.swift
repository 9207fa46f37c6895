import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import Settle
import SettleCore
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
