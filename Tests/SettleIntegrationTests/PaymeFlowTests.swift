import AsyncHTTPClient
import Foundation
import NIOHTTP1
import ServiceLifecycle
@testable import Settle
import SettleCore
import SettleEmulators
import SettleProviders
import SettleServer
import SettleStore
import Testing

/// Payme over loopback on every engine: Payme's sandbox scenarios, run by the emulator against Settle's Merchant API
/// endpoint, plus the rules the scenarios cannot see (exactly-once under concurrency, refunds, fulfilment, key
/// rotation, receipts and the sweep).
@Suite(.serialized) struct PaymeFlowTests {
    static let key = "payme_test_key_\(Identifier.randomToken(length: 16))"
    static let merchantID = "5e730e8e0b852a417aa49ceb"

    struct Harness: Sendable {
        let settle: RunningSettle
        let emulator: PaymeEmulator

        var merchantURL: String { "\(settle.baseURL)/v1/webhooks/payme" }
        var client: PaymeMerchantClient { PaymeMerchantClient(merchantURL: merchantURL, key: PaymeFlowTests.key, httpClient: testHTTPClient) }
        var orders: SettleOrderSource { SettleOrderSource(settleURL: settle.baseURL, apiKey: settle.apiKey, httpClient: testHTTPClient) }

        func count(_ sql: SQL) async throws -> Int64 {
            try await settle.store.read { connection in try await connection.query(sql).first?.int("n") ?? 0 }
        }
    }

    func withPayme(
        _ engine: Engine, configure: @escaping @Sendable (inout SettleConfiguration) -> Void = { _ in },
        _ body: @Sendable (Harness) async throws -> Void
    ) async throws {
        let emulator = PaymeEmulator(
            configuration: .init(merchantID: Self.merchantID, key: Self.key, merchantURL: nil, port: 0), httpClient: testHTTPClient
        )
        let services = ServiceGroup(
            configuration: .init(services: [emulator.application(logger: Engine.logger)], gracefulShutdownSignals: [], logger: Engine.logger)
        )
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await services.run() }
            defer { group.cancelAll() }
            while !emulator.isRunning { try await Task.sleep(for: .milliseconds(10)) }
            try await withSettle(databaseURL: try await engine.makeDatabaseURL(), configure: { configuration in
                configuration.providers["payme"] = [
                    "merchant_id": Self.merchantID, "key": Self.key, "checkout_base": emulator.baseURL, "api_base": emulator.subscribeAPIURL,
                ]
                configuration.providerClients["payme"] = ProviderClient.Configuration(
                    retry: RetryPolicy(maxAttempts: 2, baseDelay: .milliseconds(10), maxDelay: .milliseconds(20))
                )
                configure(&configuration)
            }) { settle in
                emulator.merchantURL = "\(settle.baseURL)/v1/webhooks/payme"
                try await body(Harness(settle: settle, emulator: emulator))
            }
            await services.triggerGracefulShutdown()
        }
    }

    /// The scenario list Payme's sandbox runs before it issues production keys, as `settle emulate payme` runs it.
    @Test(arguments: Engine.enabled)
    func sandboxScenariosPass(_ engine: Engine) async throws {
        try await withPayme(engine) { payme in
            let results = await PaymeScenarios(client: payme.client, newOrder: { try await payme.orders.newOrder() }).run()
            #expect(results.count >= 19)
            let report = PaymeScenarios.report(results)
            #expect(results.allSatisfy { $0.passed }, "\(report)")
            // Every call was stored raw without its credentials, and the audit chain is intact.
            let stored = try await payme.count("SELECT COUNT(*) AS n FROM notifications WHERE provider = 'payme'")
            #expect(stored >= 30, "\(stored) calls stored")
            #expect(try await payme.count("SELECT COUNT(DISTINCT event_type) AS n FROM notifications WHERE provider = 'payme'") == 7)
            #expect(try await payme.count("SELECT COUNT(*) AS n FROM notifications WHERE headers LIKE '%authorization%'") == 0)
            #expect(try await payme.count("SELECT COUNT(*) AS n FROM rejected_notifications WHERE provider = 'payme'") >= 2)
            guard case .intact = try await payme.settle.store.verifyAuditChain() else {
                Issue.record("audit chain broken")
                return
            }
        }
    }

    func createOrder(_ payme: Harness, extra: String = "") async throws -> (id: String, json: [String: Any]) {
        let result = try await payme.settle.request(
            .POST, "/v1/payments",
            json: #"{"amount":500000,"currency":"UZS","provider":"payme","reference":"tariff-\#(Identifier.randomToken(length: 6))"\#(extra)}"#
        )
        #expect(result.status == 201, "\(result.text)")
        return (try #require(result.json["id"] as? String), result.json)
    }

    func createTransaction(_ payme: Harness, order: String, id: String = PaymeObjectID.make()) async throws -> String {
        let reply = try await payme.client.call(
            "CreateTransaction",
            params: .object([
                ("id", .string(id)), ("time", .int(UnixTime.milliseconds(Date()))), ("amount", .int(500_000)),
                ("account", .object([("order_id", .string(order))])),
            ])
        )
        #expect(reply.resultInt("state") == 1, "\(reply.text)")
        return id
    }

    /// The checkout link names the payment in the account field; 20 identical PerformTransaction calls at once
    /// finalize it once (one status change, one event, one outbound message) and all get the same perform_time.
    @Test(arguments: Engine.enabled)
    func concurrentPerformFinalizesOnce(_ engine: Engine) async throws {
        // The outbound message is counted in the outbox; nothing needs to deliver it.
        try await withPayme(engine, configure: { $0.runDispatcher = false }) { payme in
            let endpoint = try await payme.settle.request(
                .POST, "/v1/webhook_endpoints", json: #"{"url":"http://127.0.0.1:9/settle","enabled_events":["*"]}"#
            )
            #expect(endpoint.status == 201, "\(endpoint.text)")
            let (order, json) = try await createOrder(payme)
            #expect(json["status"] as? String == "requires_action")
            #expect(json["provider_payment_id"] is NSNull)
            let url = try #require(json["checkout_url"] as? String)
            let link = try #require(PaymeCheckoutLink(url: url))
            #expect(link.merchantID == Self.merchantID && link.account == ["order_id": order] && link.amount == 500_000)
            #expect(link.returnURL?.hasPrefix("\(payme.settle.baseURL)/checkout/return/\(order)/") == true, "\(link.returnURL ?? "")")

            let transaction = try await createTransaction(payme, order: order)
            let replies = try await withThrowingTaskGroup(of: PaymeReply.self) { group in
                for _ in 0..<20 {
                    group.addTask { try await payme.client.call("PerformTransaction", params: .object([("id", .string(transaction))])) }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            let performTimes = Set(replies.compactMap { $0.resultInt("perform_time") })
            #expect(replies.allSatisfy { $0.resultInt("state") == 2 }, "\(replies.map(\.text))")
            #expect(performTimes.count == 1 && performTimes.first! > 0)
            #expect(try await payme.settle.paymentStatus(order) == "succeeded")
            #expect(try await payme.count("SELECT COUNT(*) AS n FROM events WHERE payment_id = \(order) AND type = 'payment.succeeded'") == 1)
            #expect(try await payme.count(
                "SELECT COUNT(*) AS n FROM webhook_messages m JOIN events e ON e.id = m.event_id WHERE e.payment_id = \(order) AND e.type = 'payment.succeeded'"
            ) == 1)
            #expect(try await payme.count("SELECT COUNT(*) AS n FROM audit_log WHERE target_id = \(order) AND action = 'payment.succeeded'") == 1)
            #expect(try await payme.count("SELECT COUNT(*) AS n FROM notifications WHERE payment_id = \(order) AND event_type = 'PerformTransaction'") == 20)
        }
    }

    /// Cancel after perform is a full refund the merchant sees; once the order is marked fulfilled it is refused.
    @Test(arguments: Engine.enabled)
    func cancelAfterPerformRefundsUnlessFulfilled(_ engine: Engine) async throws {
        try await withPayme(engine) { payme in
            let (refunded, _) = try await createOrder(payme)
            let first = try await createTransaction(payme, order: refunded)
            _ = try await payme.client.call("PerformTransaction", params: .object([("id", .string(first))]))
            // A refund asked of Settle for a checkout payment waits for an operator (Payme's merchant cabinet cancels it).
            let waiting = try await payme.settle.request(.POST, "/v1/refunds", json: #"{"payment":"\#(refunded)"}"#)
            #expect(waiting.status == 201 && waiting.json["status"] as? String == "requires_action", "\(waiting.text)")
            let cancel = try await payme.client.call("CancelTransaction", params: .object([("id", .string(first)), ("reason", .int(5))]))
            #expect(cancel.resultInt("state") == -2, "\(cancel.text)")
            // Payme refunded it itself: the waiting refund is closed, so nothing holds more than the payment.
            let closed = try await payme.settle.request(.GET, "/v1/refunds/\(try #require(waiting.json["id"] as? String))").json
            #expect(closed["status"] as? String == "canceled")
            let payment = try await payme.settle.request(.GET, "/v1/payments/\(refunded)").json
            #expect(payment["status"] as? String == "succeeded")
            #expect(payment["amount_refunded"] as? Int == 500_000 && payment["refunded"] as? Bool == true)
            #expect(try await payme.count("SELECT COUNT(*) AS n FROM events WHERE payment_id = \(refunded) AND type = 'payment.refunded'") == 1)
            #expect(try await payme.count("SELECT COUNT(*) AS n FROM refunds WHERE payment_id = \(refunded) AND amount = 500000 AND status = 'succeeded'") == 1)
            let again = try await payme.client.call("CancelTransaction", params: .object([("id", .string(first)), ("reason", .int(5))]))
            #expect(again.resultInt("cancel_time") == cancel.resultInt("cancel_time"))
            #expect(try await payme.count("SELECT COUNT(*) AS n FROM refunds WHERE payment_id = \(refunded) AND status = 'succeeded'") == 1)

            let (fulfilled, _) = try await createOrder(payme)
            let second = try await createTransaction(payme, order: fulfilled)
            // Not yet paid: it cannot be marked fulfilled.
            #expect(try await payme.settle.request(.POST, "/v1/payments/\(fulfilled)/fulfill").errorCode == "payment_not_fulfillable")
            _ = try await payme.client.call("PerformTransaction", params: .object([("id", .string(second))]))
            let marked = try await payme.settle.request(.POST, "/v1/payments/\(fulfilled)/fulfill")
            #expect(marked.status == 200 && marked.json["fulfilled_at"] is Int, "\(marked.text)")
            let refused = try await payme.client.call("CancelTransaction", params: .object([("id", .string(second)), ("reason", .int(5))]))
            #expect(refused.errorCode == -31007, "\(refused.text)")
            let check = try await payme.client.call("CheckTransaction", params: .object([("id", .string(second))]))
            #expect(check.resultInt("state") == 2)
            #expect(try await payme.settle.request(.GET, "/v1/payments/\(fulfilled)").json["amount_refunded"] as? Int == 0)
        }
    }

    /// `ChangePassword` replaces the key at once: the old key is refused, the new one accepted, and the new key is
    /// stored only in the credential store (the raw call is kept redacted).
    @Test(arguments: Engine.enabled)
    func changePasswordRotatesTheKey(_ engine: Engine) async throws {
        try await withPayme(engine) { payme in
            let newKey = "rotated_\(Identifier.randomToken(length: 20))"
            let changed = try await payme.client.call("ChangePassword", params: .object([("password", .string(newKey))]))
            #expect(changed.resultBool("success") == true, "\(changed.text)")
            let old = try await payme.client.call("CheckTransaction", params: .object([("id", .string(PaymeObjectID.make()))]))
            #expect(old.errorCode == -32504)
            var rotated = payme.client
            rotated.key = newKey
            let fresh = try await rotated.call("CheckTransaction", params: .object([("id", .string(PaymeObjectID.make()))]))
            #expect(fresh.errorCode == -31003, "\(fresh.text)")
            #expect(try await payme.settle.store.setting("payme.key") == newKey)
            #expect(try await payme.count("SELECT COUNT(*) AS n FROM notifications WHERE event_type = 'ChangePassword'") == 1)
            let stored = try await payme.settle.store.read { connection in
                try await connection.query("SELECT body FROM notifications WHERE event_type = 'ChangePassword'").first?.bytes("body") ?? []
            }
            let text = String(decoding: stored, as: UTF8.self)
            #expect(text.contains("[redacted]") && !text.contains(newKey))
            #expect(try await payme.count("SELECT COUNT(*) AS n FROM audit_log WHERE action = 'provider.credential_changed'") == 1)
        }
    }

    /// `SetFiscalData` is stored on the transaction.
    @Test(arguments: [Engine.sqlite])
    func fiscalDataIsStored(_ engine: Engine) async throws {
        try await withPayme(engine) { payme in
            let (order, _) = try await createOrder(payme)
            let transaction = try await createTransaction(payme, order: order)
            _ = try await payme.client.call("PerformTransaction", params: .object([("id", .string(transaction))]))
            let reply = try await payme.client.call(
                "SetFiscalData",
                params: .object([
                    ("id", .string(transaction)), ("type", .string("PERFORM")),
                    ("fiscal_data", .object([("receipt_id", .int(2_178)), ("fiscal_sign", .string("300063286543")), ("terminal_id", .string("EP000000000025"))])),
                ])
            )
            #expect(reply.resultBool("success") == true, "\(reply.text)")
            let stored = try await payme.settle.store.read { connection in
                try await connection.query("SELECT fiscal_data FROM provider_transactions WHERE provider_transaction_id = \(transaction)").first?.string("fiscal_data")
            }
            #expect(stored?.contains("300063286543") == true)
        }
    }

    /// Receipt mode: Settle creates the receipt and hands back its pay link. A receipt paid without Payme's call
    /// reaching Settle is found by the sweep; a receipt paid normally is finalized by the Merchant API calls.
    @Test(arguments: Engine.enabled)
    func receiptsArePaidAndSwept(_ engine: Engine) async throws {
        try await withPayme(engine) { payme in
            let (lost, json) = try await createOrder(payme, extra: #","payme_mode":"receipt""#)
            let receiptID = try #require(json["provider_payment_id"] as? String)
            #expect(json["checkout_url"] as? String == "\(payme.emulator.baseURL)/\(receiptID)")
            #expect(payme.emulator.receipt(receiptID)?.amount == 500_000)
            let sweeper = Sweeper(store: payme.settle.store, providers: payme.settle.settle.providers, logger: Engine.logger)
            try await sweeper.pollOpen()
            #expect(try await payme.settle.paymentStatus(lost) == "requires_action")
            _ = try await payme.emulator.pay(receiptID: receiptID, notify: false)
            // A minute on: polling backs off to a quarter of the payment's age, so an instant second pass may skip it.
            let later = Sweeper(store: payme.settle.store, providers: payme.settle.settle.providers, logger: Engine.logger, now: { Date().addingTimeInterval(60) })
            try await later.pollOpen()
            #expect(try await payme.settle.paymentStatus(lost) == "succeeded")

            let (paid, paidJSON) = try await createOrder(payme, extra: #","payme_mode":"receipt""#)
            let paidReceipt = try #require(paidJSON["provider_payment_id"] as? String)
            let receipt = try await payme.emulator.pay(receiptID: paidReceipt)
            #expect(receipt.state == 4)
            #expect(try await payme.settle.paymentStatus(paid) == "succeeded")

            // Cancelling an unpaid receipt payment withdraws the receipt at Payme first.
            let (withdrawn, withdrawnJSON) = try await createOrder(payme, extra: #","payme_mode":"receipt""#)
            let withdrawnReceipt = try #require(withdrawnJSON["provider_payment_id"] as? String)
            let canceled = try await payme.settle.request(.POST, "/v1/payments/\(withdrawn)/cancel")
            #expect(canceled.json["status"] as? String == "canceled", "\(canceled.text)")
            #expect(payme.emulator.receipt(withdrawnReceipt)?.state == 50)
        }
    }

    /// A payment Payme has reserved (an open state-1 transaction) is not expired by the sweep while Payme may still
    /// perform it; once the transaction's 12 hours have passed, it is. A live-mode payment is unknown to a test cash desk.
    @Test(arguments: Engine.enabled)
    func openTransactionHoldsTheSweep(_ engine: Engine) async throws {
        try await withPayme(engine) { payme in
            let (held, _) = try await createOrder(payme, extra: #","expires_in":60"#)
            let (free, _) = try await createOrder(payme, extra: #","expires_in":60"#)
            _ = try await createTransaction(payme, order: held)
            let store = payme.settle.store
            let providers = payme.settle.settle.providers
            let soon = Sweeper(store: store, providers: providers, logger: Engine.logger, now: { Date().addingTimeInterval(120) })
            #expect(try await soon.expireDue() == 1)
            #expect(try await payme.settle.paymentStatus(free) == "expired")
            #expect(try await payme.settle.paymentStatus(held) == "requires_action")
            let later = Sweeper(store: store, providers: providers, logger: Engine.logger, now: { Date().addingTimeInterval(43_300) })
            #expect(try await later.expireDue() == 1)
            #expect(try await payme.settle.paymentStatus(held) == "expired")
            // A closed order is refused as not payable, with the field named.
            let closed = try await payme.client.call(
                "CheckPerformTransaction", params: .object([("amount", .int(500_000)), ("account", .object([("order_id", .string(free))]))])
            )
            #expect(closed.errorCode == -31051 && closed.errorData == "order_id", "\(closed.text)")
        }
    }

    /// Payme's `time`, `from` and `to` at their extremes are protocol errors naming the field, change nothing, and
    /// never reach the 12-hour arithmetic (an overflow there would stop the process).
    @Test(arguments: Engine.enabled)
    func extremeTimesAreProtocolErrors(_ engine: Engine) async throws {
        try await withPayme(engine) { payme in
            let (order, _) = try await createOrder(payme)
            for time in [Int64.min, Int64.max, -1, UnixTime.maximumSeconds * 1000 + 1] {
                let reply = try await payme.client.call(
                    "CreateTransaction",
                    params: .object([
                        ("id", .string(PaymeObjectID.make())), ("time", .int(time)), ("amount", .int(500_000)),
                        ("account", .object([("order_id", .string(order))])),
                    ])
                )
                #expect(reply.errorCode == -32600 && reply.errorData == "time", "time \(time): \(reply.text)")
            }
            for (from, to) in [(Int64.min, Int64.max), (0, Int64.max), (Int64.min, 0)] {
                let reply = try await payme.client.call("GetStatement", params: .object([("from", .int(from)), ("to", .int(to))]))
                #expect(reply.errorCode == -32600, "from \(from) to \(to): \(reply.text)")
            }
            #expect(try await payme.count("SELECT COUNT(*) AS n FROM provider_transactions") == 0)
            // Still serving: a well-formed transaction goes through.
            _ = try await createTransaction(payme, order: order)
        }
    }

    /// Payme's errors and outages reach the merchant as typed errors; nothing is half-created.
    @Test(arguments: [Engine.sqlite])
    func receiptErrorsAreTyped(_ engine: Engine) async throws {
        try await withPayme(engine) { payme in
            payme.emulator.faults.failNextAPICalls = 1
            let down = try await payme.settle.request(
                .POST, "/v1/payments", json: #"{"amount":500000,"currency":"UZS","provider":"payme","reference":"r1","payme_mode":"receipt"}"#
            )
            #expect(down.status == 503 && down.errorCode == "provider_unavailable", "\(down.text)")
            let wrongMode = try await payme.settle.request(
                .POST, "/v1/payments", json: #"{"amount":500000,"currency":"UZS","provider":"payme","reference":"r2","payme_mode":"push"}"#
            )
            #expect(wrongMode.status == 400 && wrongMode.errorCode == "parameter_invalid", "\(wrongMode.text)")
            let currency = try await payme.settle.request(
                .POST, "/v1/payments", json: #"{"amount":500000,"currency":"USD","provider":"payme","reference":"r3"}"#
            )
            #expect(currency.status == 400 && currency.errorCode == "provider_unsupported", "\(currency.text)")
            let notPayme = try await payme.settle.request(
                .POST, "/v1/payments", json: #"{"amount":500,"currency":"COP","provider":"sandbox","reference":"r4","payme_mode":"receipt"}"#
            )
            #expect(notPayme.status == 400, "\(notPayme.text)")
        }
    }

    /// Payme's own error object (here: it refuses the X-Auth key) becomes a typed `provider_error` with Payme's code,
    /// and the payment is failed with it.
    @Test(arguments: [Engine.sqlite])
    func paymeErrorObjectsBecomeProviderErrors(_ engine: Engine) async throws {
        try await withPayme(engine, configure: { $0.providers["payme"]?["key"] = "not-the-emulators-key" }) { payme in
            let refused = try await payme.settle.request(
                .POST, "/v1/payments", json: #"{"amount":500000,"currency":"UZS","provider":"payme","reference":"r5","payme_mode":"receipt"}"#
            )
            #expect(refused.status == 502 && refused.errorCode == "provider_error", "\(refused.text)")
            #expect(!refused.text.contains("not-the-emulators-key"))
            let failed = try await payme.settle.request(.GET, "/v1/payments?provider=payme").json["data"] as? [[String: Any]] ?? []
            #expect(failed.first?["status"] as? String == "failed")
            #expect((failed.first?["failure"] as? [String: Any])?["code"] as? String == "-32504")
        }
    }

    /// Without its settings Payme is disabled, says why, and refuses every call.
    @Test func disabledWithoutItsKey() async throws {
        try await withSettle(databaseURL: try await Engine.sqlite.makeDatabaseURL()) { settle in
            let providers = try await settle.request(.GET, "/v1/providers").json["data"] as? [[String: Any]] ?? []
            let payme = try #require(providers.first { $0["name"] as? String == "payme" })
            #expect(payme["enabled"] as? Bool == false)
            #expect((payme["disabled_reason"] as? String)?.contains("SETTLE_PAYME_MERCHANT_ID") == true, "\(payme)")
            // Even a key stored by an earlier ChangePassword authenticates nothing while the provider is disabled.
            try await settle.store.write { tx in try await tx.setSetting("payme.key", value: "stored-key", at: Date()) }
            let client = PaymeMerchantClient(merchantURL: "\(settle.baseURL)/v1/webhooks/payme", key: "stored-key", httpClient: testHTTPClient)
            let reply = try await client.call("CheckPerformTransaction", params: .object([("amount", .int(1)), ("account", .object([]))]))
            #expect(reply.status == 200 && reply.errorCode == -32504, "\(reply.text)")
            // Only Payme answers other methods inside its protocol; a webhook provider answers 405.
            let get = try await settle.request(.GET, "/v1/webhooks/sandbox", auth: false)
            #expect(get.status == 405 && get.errorCode == "method_not_allowed", "\(get.text)")
        }
    }

    /// A paid receipt is refunded by cancelling it at Payme, in full only; a checkout payment's refund waits for an
    /// operator (Payme's merchant cabinet cancels it).
    @Test(arguments: Engine.enabled)
    func receiptsAreRefundedByCancellingThem(_ engine: Engine) async throws {
        try await withPayme(engine) { payme in
            let (id, json) = try await createOrder(payme, extra: #","payme_mode":"receipt""#)
            let receiptID = try #require(json["provider_payment_id"] as? String)
            _ = try await payme.emulator.pay(receiptID: receiptID)
            #expect(try await payme.settle.paymentStatus(id) == "succeeded")
            let part = try await payme.settle.request(.POST, "/v1/refunds", json: #"{"payment":"\#(id)","amount":100000}"#)
            #expect(part.status == 400 && (part.json["error"] as? [String: Any])?["code"] as? String == "refund_not_supported", "\(part.text)")
            let full = try await payme.settle.request(.POST, "/v1/refunds", json: #"{"payment":"\#(id)"}"#)
            #expect(full.status == 201 && full.json["status"] as? String == "succeeded" && full.json["provider_refund_id"] as? String == receiptID, "\(full.text)")
            #expect(payme.emulator.receipt(receiptID)?.state == 50)
            #expect(try await payme.settle.request(.GET, "/v1/payments/\(id)").json["refunded"] as? Bool == true)
        }
    }
}
