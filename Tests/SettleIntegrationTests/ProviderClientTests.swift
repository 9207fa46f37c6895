import AsyncHTTPClient
import Foundation
import NIOHTTP1
import SettleProviders
import Testing

/// The one API client every provider uses, against a real HTTP server on loopback that misbehaves on cue.
@Suite struct ProviderClientTests {
    static func client(
        attempts: Int = 3, base: Duration = .milliseconds(10), timeout: Duration = .seconds(5), threshold: Int = 5,
        cooldown: Duration = .seconds(60)
    ) -> ProviderClient {
        ProviderClient(
            provider: "Acme", http: testHTTPClient,
            configuration: .init(
                timeout: timeout, retry: RetryPolicy(maxAttempts: attempts, baseDelay: base, maxDelay: base * 4),
                breakerThreshold: threshold, breakerCooldown: cooldown
            ),
            logger: Engine.logger
        )
    }

    static func send(_ client: ProviderClient, _ server: ScriptedServer, retryable: Bool = true) async -> Result<UInt, ProviderError> {
        do {
            return .success(try await client.send(.init(.POST, server.url + "/v1/things", body: Array("a=1".utf8), retryable: retryable)).status)
        } catch {
            return .failure(error)
        }
    }

    @Test func retriesNetworkErrors429And5xxButNever4xx() async throws {
        let server = ScriptedServer()
        try await server.run {
            let client = Self.client()
            server.script([.init(status: 500), .init(status: 429, headers: [("retry-after", "0")]), .init(status: 201)])
            #expect((try? await Self.send(client, server).get()) == 201)
            #expect(server.received.count == 3)

            server.script([.init(status: 404, body: Array(#"{"error":"no"}"#.utf8))])
            guard case .failure(let refused) = await Self.send(client, server) else { Issue.record("a 404 succeeded"); return }
            #expect(refused.code == .rejected)
            #expect(server.received.count == 4, "a 4xx was retried")

            server.script([.init(status: 503)])
            guard case .failure(let down) = await Self.send(client, server) else { Issue.record("a 503 succeeded"); return }
            #expect(down.code == .unavailable)
            #expect(server.received.count == 7, "three attempts, no more")

            server.script([.init(status: 500)])
            _ = await Self.send(client, server, retryable: false)
            #expect(server.received.count == 8, "a call marked not retryable was sent again")
        }
    }

    @Test func anUnreachableProviderIsRetriedThenUnavailable() async throws {
        let client = Self.client(timeout: .milliseconds(300))
        do {
            _ = try await client.send(.init(.GET, "http://127.0.0.1:1/v1/things"))
            Issue.record("a refused connection succeeded")
        } catch {
            #expect(error.code == .unavailable)
            #expect(error.message.contains("network error"))
        }
    }

    @Test func aSlowAnswerTimesOut() async throws {
        let server = ScriptedServer()
        try await server.run {
            server.script([.init(status: 200, delay: .seconds(3))])
            let client = Self.client(attempts: 1, timeout: .milliseconds(300))
            guard case .failure(let error) = await Self.send(client, server) else { Issue.record("a slow answer succeeded"); return }
            #expect(error.code == .unavailable && error.message.contains("timeout"), "\(error)")
        }
    }

    /// Cancellation stops the backoff at once: no second attempt is made after the task is cancelled.
    @Test func cancellationIsHonouredWhileBackingOff() async throws {
        let server = ScriptedServer()
        try await server.run {
            server.script([.init(status: 503)])
            let client = Self.client(attempts: 5, base: .seconds(30))
            let call = Task { await Self.send(client, server) }
            while server.received.isEmpty { try await Task.sleep(for: .milliseconds(5)) }
            try await Task.sleep(for: .milliseconds(50))
            call.cancel()
            guard case .failure(let error) = await call.value else { Issue.record("a cancelled call succeeded"); return }
            #expect(error.message.contains("cancelled"), "\(error)")
            #expect(server.received.count == 1)
        }
    }

    /// After `threshold` failed calls the breaker opens: the next call fails at once without reaching the provider.
    @Test func theBreakerOpensPerProvider() async throws {
        let server = ScriptedServer()
        try await server.run {
            server.script([.init(status: 500)])
            let client = Self.client(attempts: 2, threshold: 2)
            _ = await Self.send(client, server)
            _ = await Self.send(client, server)
            #expect(server.received.count == 4)
            guard case .failure(let open) = await Self.send(client, server) else { Issue.record("an open breaker let a call through"); return }
            #expect(open.message.contains("circuit open"))
            #expect(server.received.count == 4)
            // Another provider's client has its own breaker.
            server.script([.init(status: 200)])
            #expect((try? await Self.send(Self.client(), server).get()) == 200)
        }
    }

    /// A half-open trial that is cancelled gives its turn back: the next call is the trial, and the breaker closes
    /// when it succeeds (it would otherwise stay half-open and refuse every call for good).
    @Test func aCancelledTrialFreesTheBreaker() async throws {
        let server = ScriptedServer()
        try await server.run {
            server.script([.init(status: 500)])
            let client = Self.client(attempts: 2, base: .seconds(30), threshold: 1, cooldown: .milliseconds(200))
            _ = await Self.send(client, server, retryable: false)
            guard case .open = client.breaker.phase else { Issue.record("one failure did not open the breaker"); return }
            try await Task.sleep(for: .milliseconds(250))
            let trial = Task { await Self.send(client, server) }
            while server.received.count < 2 { try await Task.sleep(for: .milliseconds(5)) }
            #expect(client.breaker.phase == .halfOpen)
            trial.cancel()
            guard case .failure(let cancelled) = await trial.value else { Issue.record("a cancelled trial succeeded"); return }
            #expect(cancelled.message.contains("cancelled"))
            server.script([.init(status: 200)])
            #expect((try? await Self.send(client, server, retryable: false).get()) == 200)
            #expect(client.breaker.phase == .closed(failures: 0))
            #expect(server.received.count == 3)
        }
    }
}
