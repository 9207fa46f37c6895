import AsyncHTTPClient
import Foundation
import SettleServer
import NIOHTTP1
import Settle
import SettleCore
import SettleProviders
import SettleStore
import Testing

/// Bad input gets a precise error and changes nothing; idempotency follows Stripe's rules.
@Suite(.serialized) struct APIContractTests {
    @Test(arguments: Engine.enabled)
    func badInputIsRefusedPreciselyAndChangesNothing(_ engine: Engine) async throws {
        try await withSettle(databaseURL: try await engine.makeDatabaseURL()) { settle in
            let before = try await settle.store.counts()
            let cases: [(String?, String?, Int, String, String?)] = [
                (#"{"amount":10.5,"currency":"COP","provider":"sandbox","reference":"r"}"#, nil, 400, "amount_invalid", "amount"),
                (#"{"amount":"100","currency":"COP","provider":"sandbox","reference":"r"}"#, nil, 400, "amount_invalid", "amount"),
                (#"{"amount":-5,"currency":"COP","provider":"sandbox","reference":"r"}"#, nil, 400, "amount_invalid", "amount"),
                (#"{"amount":0,"currency":"COP","provider":"sandbox","reference":"r"}"#, nil, 400, "amount_invalid", "amount"),
                (#"{"amount":100000000000000,"currency":"COP","provider":"sandbox","reference":"r"}"#, nil, 400, "amount_too_large", "amount"),
                (#"{"amount":100,"currency":"XYZ","provider":"sandbox","reference":"r"}"#, nil, 400, "currency_invalid", "currency"),
                (#"{"amount":100,"currency":"COP","provider":"acme","reference":"r"}"#, nil, 400, "provider_unknown", "provider"),
                (#"{"currency":"COP","provider":"sandbox","reference":"r"}"#, nil, 400, "parameter_missing", "amount"),
                (#"{"amount":100,"currency":"COP","provider":"sandbox"}"#, nil, 400, "parameter_missing", "reference"),
                (#"{"amount":100,"currency":"COP","provider":"sandbox","reference":"r","colour":"red"}"#, nil, 400, "parameter_unknown", "colour"),
                (#"{"amount":100,"currency":"COP","provider":"sandbox","reference":"r","metadata":{"a":1}}"#, nil, 400, "parameter_invalid", "metadata.a"),
                (#"{"amount":100,"currency":"COP","provider":"sandbox","reference":"r","return_url":"ftp://x"}"#, nil, 400, "parameter_invalid", "return_url"),
                (#"{"amount":100,"currency":"COP","provider":"sandbox","reference":"r","expires_in":5}"#, nil, 400, "parameter_invalid", "expires_in"),
                (#"{"amount":100,"#, nil, 400, "invalid_json", nil),
                (#"{"amount":100,"currency":"COP","provider":"sandbox","reference":"r"}"#, "text/plain", 415, "unsupported_media_type", nil),
            ]
            for (body, contentType, status, code, param) in cases {
                let result = try await settle.request(.POST, "/v1/payments", json: body, contentType: contentType)
                #expect(result.status == status, "\(body ?? "") → \(result.text)")
                let error = result.json["error"] as? [String: Any]
                #expect(error?["code"] as? String == code, "\(body ?? "")")
                #expect(error?["param"] as? String == param, "\(body ?? "")")
                #expect(error?["request_id"] as? String == result.headers.first(name: "request-id"))
            }
            let big = "{\"amount\":100,\"currency\":\"COP\",\"provider\":\"sandbox\",\"reference\":\"r\",\"description\":\"" + String(repeating: "x", count: 1 << 20) + "\"}"
            let tooLarge = try await settle.request(.POST, "/v1/payments", json: big)
            #expect(tooLarge.status == 413)
            #expect(tooLarge.errorCode == "body_too_large")
            let after = try await settle.store.counts()
            #expect(after == before)
        }
    }

    @Test(arguments: Engine.enabled)
    func authenticationAndModes(_ engine: Engine) async throws {
        try await withSettle(databaseURL: try await engine.makeDatabaseURL()) { settle in
            let missing = try await settle.request(.GET, "/v1/payments", auth: false)
            #expect(missing.status == 401)
            #expect(missing.errorCode == "api_key_missing")
            #expect(missing.headers.first(name: "request-id")?.hasPrefix("req_") == true)
            let wrong = try await settle.request(.GET, "/v1/payments", headers: [("authorization", "Bearer sk_test_nope")], auth: false)
            #expect(wrong.errorCode == "api_key_invalid")

            // A live key sees no test data, and the sandbox refuses live payments.
            let (liveSecret, liveKey) = APIKeys.generate(mode: .live, name: "live", at: Date())
            try await settle.store.write { tx in try await tx.insertAPIKey(liveKey, secret: liveSecret) }
            let testPayment = try await settle.createPayment()
            let live = [("authorization", "Bearer \(liveSecret)")]
            #expect(try await settle.request(.GET, "/v1/payments/\(testPayment)", headers: live, auth: false).status == 404)
            let liveCreate = try await settle.request(
                .POST, "/v1/payments", json: #"{"amount":100,"currency":"COP","provider":"sandbox","reference":"r"}"#, headers: live, auth: false
            )
            #expect(liveCreate.errorCode == "provider_mode_unsupported")

            let providers = try await settle.request(.GET, "/v1/providers").json["data"] as? [[String: Any]] ?? []
            let sandbox = providers.first { $0["name"] as? String == "sandbox" }
            #expect(sandbox?["enabled"] as? Bool == true)
            // Every catalog provider, sorted by name, whether configured or not.
            let catalog: [String] = ProviderCatalog.all.map { module in module.name }.sorted()
            #expect(providers.compactMap { $0["name"] as? String } == catalog)
            #expect(providers.count >= 4)
            // Stripe without secrets is disabled, says why, and takes no payment (fail closed).
            let stripe = providers.first { $0["name"] as? String == "stripe" }
            #expect(stripe?["enabled"] as? Bool == false)
            #expect(stripe?["disabled_reason"] as? String == "SETTLE_STRIPE_SECRET_KEY is not set")
            let refused = try await settle.request(.POST, "/v1/payments", json: #"{"amount":100,"currency":"USD","provider":"stripe","reference":"r"}"#)
            #expect(refused.errorCode == "provider_disabled")

            // A revoked key stops working at once.
            let (revokedSecret, revokedKey) = APIKeys.generate(mode: .test, name: "old", at: Date())
            try await settle.store.write { tx in try await tx.insertAPIKey(revokedKey, secret: revokedSecret) }
            let bearer = [("authorization", "Bearer \(revokedSecret)")]
            #expect(try await settle.request(.GET, "/v1/payments", headers: bearer, auth: false).status == 200)
            _ = try await settle.store.write { tx in try await tx.revokeAPIKey(id: revokedKey.id, at: Date()) }
            let revoked = try await settle.request(.GET, "/v1/payments", headers: bearer, auth: false)
            #expect(revoked.status == 401)
            #expect(revoked.errorCode == "api_key_invalid")
        }
    }

    @Test(arguments: Engine.enabled)
    func idempotencyKeys(_ engine: Engine) async throws {
        try await withSettle(databaseURL: try await engine.makeDatabaseURL()) { settle in
            let body = #"{"amount":2500,"currency":"USD","provider":"sandbox","reference":"idem-1"}"#
            let key = [("Idempotency-Key", "order-idem-1")]
            let first = try await settle.request(.POST, "/v1/payments", json: body, headers: key)
            #expect(first.status == 201)
            #expect(first.headers.first(name: "idempotent-replayed") == nil)
            let replay = try await settle.request(.POST, "/v1/payments", json: body, headers: key)
            #expect(replay.status == 201)
            #expect(replay.body == first.body)
            #expect(replay.headers.first(name: "idempotent-replayed") == "true")
            let reused = try await settle.request(.POST, "/v1/payments", json: body.replacingOccurrences(of: "2500", with: "2600"), headers: key)
            #expect(reused.status == 422)
            #expect(reused.errorCode == "idempotency_key_reused")
            #expect(try await settle.store.counts().payments == 1)

            // A refused request frees its key: the corrected retry goes through.
            let badKey = [("Idempotency-Key", "order-idem-2")]
            #expect(try await settle.request(.POST, "/v1/payments", json: body.replacingOccurrences(of: "USD", with: "ZZZ"), headers: badKey).status == 400)
            #expect(try await settle.request(.POST, "/v1/payments", json: body, headers: badKey).status == 201)

            // Concurrent first uses: exactly one runs, the others are told it is in progress or replay it.
            let raceKey = [("Idempotency-Key", "order-race")]
            let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<10 { group.addTask { try await settle.request(.POST, "/v1/payments", json: body, headers: raceKey).status } }
                return try await group.reduce(into: [Int]()) { $0.append($1) }
            }
            #expect(statuses.allSatisfy { $0 == 201 || $0 == 409 })
            #expect(try await settle.store.counts().payments == 3)
        }
    }

    @Test func storageDownAnswers503NeverAcknowledges() async throws {
        // A PostgreSQL that is not there: the notification is verified, cannot be stored, and is refused with 503.
        let store = try await Store.open(try DatabaseLocation(url: "postgres://settle@127.0.0.1:1/none"), logger: Engine.logger)
        let secret = StandardWebhookSecret.generate()
        let providers = ProviderRegistry([SandboxProvider(secret: secret)])
        let ingestor = NotificationIngestor(store: store, providers: providers, logger: Engine.logger)
        let notifier = SandboxNotifier(secret: secret, webhookURL: "http://127.0.0.1:1/unused")
        let message = notifier.message(for: .approve, paymentID: "pay_x", amount: Money(minorUnits: 100, currency: .usd))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await store.run() }
            defer { group.cancelAll() }
            do {
                _ = try await ingestor.ingest(
                    InboundNotification(provider: "sandbox", contentType: "application/json",
                        headers: Dictionary(message.headers, uniquingKeysWith: { a, _ in a }), body: message.body, receivedAt: Date()),
                    requestID: nil
                )
                Issue.record("a notification that could not be stored was acknowledged")
            } catch let error as SettleError {
                #expect(error.httpStatus == 503)
            }
        }
    }
}
