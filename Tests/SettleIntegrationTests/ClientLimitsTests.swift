import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
@testable import Settle
import SettleCore
import SettleServer
import SettleStore
import Synchronization
import Testing

/// Slow and abundant clients are bounded: trickled requests are cut off, connections are capped, callers over their
/// rate get `429` with `Retry-After`, refused calls are sampled, and expired records are purged.
@Suite(.serialized) struct ClientLimitsTests {
    func port(_ settle: RunningSettle) -> Int { settle.settle.runtime.boundPort! }

    @Test func aTricklingBodyOrHeadIsCutOff() async throws {
        try await withSettle(databaseURL: try await Engine.sqlite.makeDatabaseURL(), configure: { $0.limits.readTimeout = .seconds(1) }) { settle in
            let before = try await settle.store.counts()
            // A body announced as 100 bytes, sent a byte every 200 ms: 20 s if allowed.
            let connection = try await RawConnection(port: port(settle))
            #expect(await connection.send(Array("POST /v1/webhooks/sandbox HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n".utf8)))
            var sent = 0
            var closed = false
            while sent < 100 && !closed {
                closed = !(await connection.send([UInt8(ascii: "a")]))
                sent += 1
                if await connection.isClosedByServer(within: .milliseconds(200)) { closed = true }
            }
            #expect(closed && sent < 20, "the trickled body held the connection for \(sent) bytes")
            connection.close()

            // Headers that never end.
            let head = try await RawConnection(port: port(settle))
            #expect(await head.send(Array("POST /v1/webhooks/sandbox HTTP/1.1\r\nHost: x\r\n".utf8)))
            var headerBytes = 0
            closed = false
            while headerBytes < 100 && !closed {
                closed = !(await head.send(Array("X".utf8)))
                headerBytes += 1
                if await head.isClosedByServer(within: .milliseconds(200)) { closed = true }
            }
            #expect(closed && headerBytes < 20, "trickled headers held the connection for \(headerBytes) bytes")
            head.close()
            #expect(try await settle.store.counts().notifications == before.notifications)
            #expect(try await settle.request(.GET, "/health", auth: false).status == 200)
        }
    }

    @Test func connectionsAreCapped() async throws {
        try await withSettle(databaseURL: try await Engine.sqlite.makeDatabaseURL(), configure: { $0.limits.maxConnections = 2 }) { settle in
            let first = try await RawConnection(port: port(settle))
            let second = try await RawConnection(port: port(settle))
            try await Task.sleep(for: .milliseconds(200))
            // A third connection is not accepted while two are open: its request gets no answer.
            var client = HTTPClient.Configuration()
            client.connectionPool.idleTimeout = .milliseconds(100)
            let fresh = HTTPClient(eventLoopGroupProvider: .singleton, configuration: client)
            let answered = Flag()
            let waiting = Task {
                let status = try await fresh.execute(HTTPClientRequest(url: "\(settle.baseURL)/health"), timeout: .seconds(10)).status.code
                answered.set()
                return status
            }
            try await Task.sleep(for: .seconds(1))
            #expect(!answered.isSet, "a third connection was served while two were open")
            first.close()
            #expect(try await waiting.value == 200)
            second.close()
            try await fresh.shutdown()
        }
    }

    @Test(arguments: Engine.enabled)
    func burstsOverTheRateGet429WithRetryAfter(_ engine: Engine) async throws {
        try await withSettle(databaseURL: try await engine.makeDatabaseURL(), configure: {
            $0.limits.providerRate = 1
            $0.limits.apiRate = 1
            $0.limits.pageRate = 1
        }) { settle in
            // Provider endpoints, per source address: a burst of 2 (twice the rate) passes, then 429.
            var providerStatuses: [Int] = []
            var retryAfter: String?
            for _ in 0..<16 {
                let reply = try await settle.request(
                    .POST, "/v1/webhooks/sandbox", json: "{}", headers: [("webhook-id", "a"), ("webhook-timestamp", "1"), ("webhook-signature", "v1,AA")],
                    auth: false
                )
                providerStatuses.append(reply.status)
                if reply.status == 429 {
                    retryAfter = reply.headers.first(name: "retry-after")
                    #expect(reply.errorCode == "rate_limited")
                }
            }
            #expect(providerStatuses.prefix(2).allSatisfy { $0 == 401 }, "\(providerStatuses)")
            #expect(providerStatuses.filter { $0 == 429 }.count >= 8, "\(providerStatuses)")
            #expect(Int(retryAfter ?? "") ?? 0 >= 1)

            // The API, per key: another key has its own budget.
            var apiStatuses: [Int] = []
            for _ in 0..<14 { apiStatuses.append(try await settle.request(.GET, "/v1/payments").status) }
            #expect(apiStatuses.prefix(2).allSatisfy { $0 == 200 } && apiStatuses.filter { $0 == 429 }.count >= 6, "\(apiStatuses)")
            let (other, key) = APIKeys.generate(mode: .test, name: "other", at: Date())
            try await settle.store.write { tx in try await tx.insertAPIKey(key, secret: other) }
            #expect(try await settle.request(.GET, "/v1/payments", headers: [("authorization", "Bearer \(other)")], auth: false).status == 200)

            // Pages, per source address.
            var pageStatuses: [Int] = []
            for _ in 0..<14 { pageStatuses.append(try await settle.request(.GET, "/checkout/return/pay_x", auth: false).status) }
            #expect(pageStatuses.prefix(3).allSatisfy { $0 == 404 } && pageStatuses.filter { $0 == 429 }.count >= 6, "\(pageStatuses)")

            // After the wait the caller may go on.
            try await Task.sleep(for: .seconds(Int(retryAfter ?? "1") ?? 1))
            let again = try await settle.request(
                .POST, "/v1/webhooks/sandbox", json: "{}", headers: [("webhook-id", "a"), ("webhook-timestamp", "1"), ("webhook-signature", "v1,AA")],
                auth: false
            )
            #expect(again.status == 401)
        }
    }

    /// Refused calls cannot grow the database without bound: at most N a minute per provider are stored.
    @Test(arguments: Engine.enabled)
    func rejectedCallsAreSampled(_ engine: Engine) async throws {
        try await withSettle(databaseURL: try await engine.makeDatabaseURL(), configure: { $0.rejectedPerMinute = 5; $0.limits.providerRate = 0 }) { settle in
            for _ in 0..<25 {
                let reply = try await settle.request(
                    .POST, "/v1/webhooks/sandbox", json: "{}", headers: [("webhook-id", "a"), ("webhook-timestamp", "1"), ("webhook-signature", "v1,AA")],
                    auth: false
                )
                #expect(reply.status == 401)
            }
            let stored = try await settle.store.counts().rejectedNotifications
            #expect(stored >= 5 && stored <= 10, "\(stored) stored")  // 5 a minute (10 if the minute turned)
        }
    }

    @Test(arguments: Engine.enabled)
    func expiredRecordsArePurged(_ engine: Engine) async throws {
        try await withSettle(databaseURL: try await engine.makeDatabaseURL()) { settle in
            let old = UnixTime.milliseconds(Date().addingTimeInterval(-40 * 86_400))
            let recent = UnixTime.milliseconds(Date())
            try await settle.store.write { tx in
                for at in [old, old, recent] {
                    try await tx.query(
                        "INSERT INTO rejected_notifications (provider, reason, body_sha256, body_size, received_at) VALUES ('sandbox', 'test', 'x', 1, \(at))"
                    )
                    try await tx.query(
                        """
                        INSERT INTO webhook_attempts (message_id, endpoint_id, event_id, attempted_at, duration_ms)
                        VALUES ('msg_x', 'we_x', 'evt_x', \(at), 1)
                        """
                    )
                    try await tx.query(
                        """
                        INSERT INTO idempotency_keys (api_key_id, idempotency_key, request_hash, state, created_at, locked_at)
                        VALUES ('key_x', \(Identifier.randomToken(length: 8)), 'h', 'done', \(at), \(at))
                        """
                    )
                }
            }
            let purged = try await RetentionService(store: settle.store, days: 30, chunk: 1, logger: Engine.logger).purge()
            #expect(purged.counts == [.rejectedNotifications: 2, .webhookAttempts: 2, .idempotencyKeys: 2])
            #expect(try await RetentionService(store: settle.store, days: 30, logger: Engine.logger).purge().total == 0)
            let left = try await settle.store.read { connection in
                try await connection.query(
                    "SELECT (SELECT COUNT(*) FROM rejected_notifications) + (SELECT COUNT(*) FROM webhook_attempts) + (SELECT COUNT(*) FROM idempotency_keys) AS n"
                ).first?.int("n")
            }
            #expect(left == 3)
        }
    }
}

/// A flag set once, from any task.
final class Flag: Sendable {
    private let value = Mutex(false)
    func set() { value.withLock { $0 = true } }
    var isSet: Bool { value.withLock { $0 } }
}
