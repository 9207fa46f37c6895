import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Settle
import SettleCore
import SettleProviders
import SettleServer
import SettleStore
import Testing

/// The network to PostgreSQL, durable commits, bounded waits, and outages answered rather than waited out.
@Suite(.serialized) struct DatabaseSafetyTests {
    static let postgres = Engine.enabled.contains(.postgres)
    static let tls = ProcessInfo.processInfo.environment["SETTLE_TEST_PG_CA"] != nil

    /// Whether the store's own session is encrypted.
    static func sessionIsEncrypted(_ url: String, options: StoreOptions = StoreOptions()) async throws -> Bool {
        try await Store.withStore(try DatabaseLocation(url: url), options: options, logger: Engine.logger) { store in
            try await store.read { connection in
                try await connection.query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").first?.int("ssl") == 1
            }
        }
    }

    @Test func sslmodeDefaultsAndParsing() throws {
        guard case .postgres(let remote) = try DatabaseLocation(url: "postgres://settle:pw@db.example:5432/settle") else {
            Issue.record("not postgres"); return
        }
        #expect(remote.tls == .require)  // any host but this machine: encrypted by default
        guard case .postgres(let local) = try DatabaseLocation(url: "postgres://settle@127.0.0.1/settle") else { return }
        #expect(local.tls == .disable)
        guard case .postgres(let full) = try DatabaseLocation(url: "postgres://settle@db.example/settle?sslmode=verify-full&sslrootcert=/etc/ca.pem")
        else { return }
        #expect(full.tls == .verifyFull && full.caFile == "/etc/ca.pem")
        #expect(throws: StoreError.self) { try DatabaseLocation(url: "postgres://settle@db.example/settle?sslmode=maybe") }
        #expect(!"\(try DatabaseLocation(url: "postgres://settle:hunter2@db.example/settle"))".contains("hunter2"))
        var dumped = ""
        dump(try DatabaseLocation(url: "postgres://settle:hunter2@db.example/settle"), to: &dumped)
        #expect(!dumped.contains("hunter2"))
    }

    @Test(.enabled(if: postgres && tls)) func sslmodeIsHonoured() async throws {
        let base = try await Engine.postgres.makeDatabaseURL()
        let ca = ProcessInfo.processInfo.environment["SETTLE_TEST_PG_CA"]!
        let other = ProcessInfo.processInfo.environment["SETTLE_TEST_PG_OTHER_CA"]!
        #expect(try await Self.sessionIsEncrypted(base) == false)
        #expect(try await Self.sessionIsEncrypted(base + "?sslmode=disable") == false)
        #expect(try await Self.sessionIsEncrypted(base + "?sslmode=require") == true)
        #expect(try await Self.sessionIsEncrypted(base + "?sslmode=verify-full&sslrootcert=\(ca)") == true)
        var options = StoreOptions()
        options.caFile = ca
        #expect(try await Self.sessionIsEncrypted(base + "?sslmode=verify-ca", options: options) == true)
        // A certificate from a CA Settle was not told to trust: no connection at all.
        options.timeout = .seconds(2)
        await #expect(throws: (any Error).self) {
            _ = try await Self.sessionIsEncrypted(base + "?sslmode=verify-full&sslrootcert=\(other)", options: options)
        }
    }

    @Test(.enabled(if: postgres)) func asynchronousCommitsAreRefused() async throws {
        let url = try await Engine.postgres.makeDatabaseURL()
        let name = String(url.split(separator: "/").last!)
        try await Store.withStore(try DatabaseLocation(url: url), logger: Engine.logger) { store in
            _ = try await store.read { connection in try await connection.query("ALTER DATABASE \(raw: name) SET synchronous_commit = off") }
        }
        await #expect(throws: StoreError.self) {
            try await Store.withStore(try DatabaseLocation(url: url), logger: Engine.logger) { store in try await store.migrate() }
        }
        do {
            _ = try await withSettle(databaseURL: url) { _ in Issue.record("Settle started with synchronous_commit=off") }
        } catch let error as StoreError {
            #expect(error.code == .configuration && error.message.contains("synchronous_commit"))
        }
    }

    @Test(.enabled(if: postgres)) func sessionsCarryTheirTimeouts() async throws {
        let url = try await Engine.postgres.makeDatabaseURL()
        var options = StoreOptions()
        options.statementTimeout = .seconds(7)
        options.lockTimeout = .seconds(3)
        options.idleInTransactionTimeout = .seconds(11)
        let settings = try await Store.withStore(try DatabaseLocation(url: url), options: options, logger: Engine.logger) { store in
            try await store.read { connection in
                try await connection.query(
                    "SELECT current_setting('statement_timeout') AS s, current_setting('lock_timeout') AS l, current_setting('idle_in_transaction_session_timeout') AS i"
                ).first.map { [try $0.string("s"), try $0.string("l"), try $0.string("i")] }
            }
        }
        #expect(settings == ["7s", "3s", "11s"])
    }

    /// Another instance froze while holding a payment's row lock: this one answers 503 within its lock timeout instead
    /// of waiting, and the frozen session is ended so the lock comes free.
    @Test(.enabled(if: postgres)) func aFrozenInstanceCannotStallTheOthers() async throws {
        let url = try await Engine.postgres.makeDatabaseURL()
        try await withSettle(databaseURL: url, configure: { $0.databaseLockTimeout = .seconds(1) }) { settle in
            let id = try await settle.createPayment()
            var frozenOptions = StoreOptions()
            frozenOptions.idleInTransactionTimeout = .seconds(2)
            let frozen = Task {
                try await Store.withStore(try DatabaseLocation(url: url), options: frozenOptions, logger: Engine.logger) { store in
                    try await store.read { connection in
                        try await connection.query("BEGIN")
                        _ = try await connection.query("SELECT id FROM payments WHERE id = \(id) FOR UPDATE")
                        try await Task.sleep(for: .seconds(6))  // frozen inside its transaction
                    }
                }
            }
            try await Task.sleep(for: .milliseconds(500))
            let blocked = try await settle.request(.POST, "/v1/payments/\(id)/cancel")
            #expect(blocked.status == 503 && blocked.errorCode == "storage_unavailable", "\(blocked.text)")
            #expect(try await settle.paymentStatus(id) == "requires_action")
            // The frozen session is ended after its idle-in-transaction timeout; the lock is free again.
            try await Task.sleep(for: .seconds(2))
            var canceled = try await settle.request(.POST, "/v1/payments/\(id)/cancel")
            for _ in 0..<10 where canceled.status != 200 {
                try await Task.sleep(for: .milliseconds(500))
                canceled = try await settle.request(.POST, "/v1/payments/\(id)/cancel")
            }
            #expect(canceled.status == 200, "\(canceled.text)")
            _ = await frozen.result
        }
    }

    /// PostgreSQL dies under notification load: every request is answered 503 (never 2xx for what was not stored),
    /// `/health` says 503, nothing waits it out, and once PostgreSQL is back Settle recovers by itself.
    @Test(.enabled(if: postgres && ThrowawayPostgres.binaries != nil)) func anOutageIsAnsweredNotWaitedOut() async throws {
        let server = try ThrowawayPostgres()
        defer { server.remove() }
        try server.start()
        try await withSettle(databaseURL: server.url, configure: { $0.databaseTimeout = .seconds(2) }) { settle in
            let ids = try await withThrowingTaskGroup(of: String.self) { group in
                for _ in 0..<20 { group.addTask { try await settle.createPayment() } }
                return try await group.reduce(into: [String]()) { $0.append($1) }
            }
            let notifier = settle.notifier
            let amount = Money(minorUnits: 150_000, currency: .cop)
            try server.stop()
            let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                for id in ids {
                    group.addTask {
                        var request = HTTPClientRequest(url: "\(settle.baseURL)/v1/webhooks/sandbox")
                        request.method = .POST
                        let message = notifier.message(for: .approve, paymentID: id, amount: amount)
                        for (name, value) in message.headers { request.headers.add(name: name, value: value) }
                        request.body = .bytes(.init(bytes: message.body))
                        // The client gives up after 10 s: an answer must come before that.
                        let response = try await settle.client.execute(request, timeout: .seconds(10))
                        return Int(response.status.code)
                    }
                }
                group.addTask { try await settle.request(.GET, "/health", auth: false).status }
                return try await group.reduce(into: [Int]()) { $0.append($1) }
            }
            #expect(statuses.count == 21 && statuses.allSatisfy { $0 == 503 }, "\(statuses)")
            try server.start()
            var health = try await settle.request(.GET, "/health", auth: false).status
            for _ in 0..<40 where health != 200 {
                try await Task.sleep(for: .milliseconds(250))
                health = try await settle.request(.GET, "/health", auth: false).status
            }
            #expect(health == 200)
            // The provider's retry now goes through.
            var retried = 0
            for _ in 0..<20 {
                retried = try await notifier.send(notifier.message(for: .approve, paymentID: ids[0], amount: amount))
                if retried == 200 { break }
                try await Task.sleep(for: .milliseconds(250))
            }
            #expect(retried == 200)
            #expect(try await settle.paymentStatus(ids[0]) == "succeeded")
        }
    }
}
