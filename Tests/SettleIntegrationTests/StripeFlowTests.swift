import AsyncHTTPClient
import Crypto
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle
@testable import Settle
import SettleCore
import SettleEmulators
import SettleProviders
import SettleServer
import SettleStore
import Testing

/// Settle with `provider: "stripe"` against the Stripe emulator, over loopback, on every engine.
@Suite(.serialized) struct StripeFlowTests {
    static let apiKey = "sk_test_emulated_\(Identifier.randomToken(length: 8))"
    static let webhookSecret = "whsec_\(Identifier.randomToken(length: 32))"

    func withStripe(
        _ engine: Engine, configure: @escaping @Sendable (inout SettleConfiguration) -> Void = { _ in },
        _ body: @Sendable (RunningSettle, StripeEmulator) async throws -> Void
    ) async throws {
        let emulator = StripeEmulator(
            configuration: .init(apiKey: Self.apiKey, webhookURL: nil, webhookSecret: Self.webhookSecret, port: 0), httpClient: testHTTPClient
        )
        let services = ServiceGroup(configuration: .init(services: [emulator.application(logger: Engine.logger)], gracefulShutdownSignals: [], logger: Engine.logger))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await services.run() }
            defer { group.cancelAll() }
            while !emulator.isRunning { try await Task.sleep(for: .milliseconds(10)) }
            try await withSettle(databaseURL: try await engine.makeDatabaseURL(), configure: { configuration in
                configuration.providers["stripe"] = ["secret_key": Self.apiKey, "webhook_secret": Self.webhookSecret, "api_base": emulator.baseURL]
                configuration.providerClients["stripe"] = ProviderClient.Configuration(
                    retry: RetryPolicy(maxAttempts: 3, baseDelay: .milliseconds(10), maxDelay: .milliseconds(50))
                )
                configure(&configuration)
            }) { settle in
                emulator.webhookURL = "\(settle.baseURL)/v1/webhooks/stripe"
                try await body(settle, emulator)
            }
            await services.triggerGracefulShutdown()
        }
    }

    func create(_ settle: RunningSettle, amount: Int64 = 150_000, currency: String = "COP", extra: String = "") async throws -> (id: String, session: String, url: String) {
        let result = try await settle.request(
            .POST, "/v1/payments", json: #"{"amount":\#(amount),"currency":"\#(currency)","provider":"stripe","reference":"order-\#(Identifier.randomToken(length: 6))"\#(extra)}"#
        )
        #expect(result.status == 201, "\(result.text)")
        return (try #require(result.json["id"] as? String), try #require(result.json["provider_payment_id"] as? String),
            try #require(result.json["checkout_url"] as? String))
    }

    @Test(arguments: Engine.enabled)
    func payOnTheHostedPage(_ engine: Engine) async throws {
        try await withStripe(engine) { settle, emulator in
            let providers = try await settle.request(.GET, "/v1/providers").json["data"] as? [[String: Any]] ?? []
            #expect(providers.first { $0["name"] as? String == "stripe" }?["enabled"] as? Bool == true)
            let (id, session, url) = try await create(settle)
            #expect(session.hasPrefix("cs_test_"))
            #expect(url == "\(emulator.baseURL)/pay/\(session)")
            // What Stripe received: form-encoded, lowercase currency, our ids, our idempotency key's effect.
            let stored = try #require(emulator.session(session))
            #expect(stored.amountTotal == 150_000)
            #expect(stored.currency == "cop")
            #expect(stored.clientReferenceID == id)
            #expect(stored.metadata["settle_payment_id"] == id)
            // The buyer pays on the hosted page.
            let page = try await settle.client.execute(HTTPClientRequest(url: url), timeout: .seconds(10))
            #expect(String(buffer: try await page.body.collect(upTo: 1 << 20)).contains("1,500.00 COP"))
            var press = HTTPClientRequest(url: url)
            press.method = .POST
            press.headers.add(name: "content-type", value: "application/x-www-form-urlencoded")
            press.body = .bytes(.init(string: "action=pay"))
            let redirect = try await settle.client.execute(press, timeout: .seconds(10))
            #expect(redirect.status == .seeOther)
            let location = try #require(redirect.headers.first(name: "location"))
            #expect(location.hasPrefix("\(settle.baseURL)/checkout/return/\(id)/"), "\(location)")
            #expect(try await settle.paymentStatus(id) == "succeeded")
            let returnPage = try await settle.client.execute(HTTPClientRequest(url: location), timeout: .seconds(10))
            #expect(String(buffer: try await returnPage.body.collect(upTo: 1 << 20)).contains("Payment received"))
            // Without the token bound to the payment, the return page shows nothing of it.
            let bare = try await settle.request(.GET, "/checkout/return/\(id)", auth: false)
            #expect(bare.status == 404 && !bare.text.contains("1,500.00"), "\(bare.text)")
        }
    }

    /// One flow pinned to hand-written bytes, so the adapter and the emulator cannot agree on a wrong encoding: the
    /// session request Settle sends is compared with the form Stripe documents, and the event Settle accepts is
    /// written here by hand and signed here with HMAC-SHA256 (not with Settle's or the emulator's signer).
    @Test(arguments: Engine.enabled)
    func sessionRequestAndEventArePinnedToHandWrittenBytes(_ engine: Engine) async throws {
        try await withStripe(engine) { settle, emulator in
            let created = try await settle.request(
                .POST, "/v1/payments",
                json: #"{"amount":150000,"currency":"COP","provider":"stripe","reference":"order-pinned","description":"Tariff Pro","customer":{"email":"buyer@example.com"},"return_url":"https://shop.example/thanks","cancel_url":"https://shop.example/cart"}"#
            )
            #expect(created.status == 201, "\(created.text)")
            let id = try #require(created.json["id"] as? String)
            let session = try #require(created.json["provider_payment_id"] as? String)
            let sent = try #require(emulator.receivedCreateBodies.last)
            let expiresAt = try #require(sent.split(separator: "&").first { $0.hasPrefix("expires_at=") }).dropFirst("expires_at=".count)
            #expect(
                sent == "mode=payment&line_items%5B0%5D%5Bprice_data%5D%5Bcurrency%5D=cop"
                    + "&line_items%5B0%5D%5Bprice_data%5D%5Bunit_amount%5D=150000"
                    + "&line_items%5B0%5D%5Bprice_data%5D%5Bproduct_data%5D%5Bname%5D=Tariff%20Pro&line_items%5B0%5D%5Bquantity%5D=1"
                    + "&client_reference_id=\(id)&metadata%5Bsettle_payment_id%5D=\(id)&metadata%5Bsettle_reference%5D=order-pinned"
                    + "&success_url=https%3A%2F%2Fshop.example%2Fthanks&cancel_url=https%3A%2F%2Fshop.example%2Fcart"
                    + "&expires_at=\(expiresAt)&customer_email=buyer%40example.com"
            )
            let body = Array(
                """
                {"id":"evt_pinned_\(id.suffix(8))","object":"event","api_version":"2024-06-20","type":"checkout.session.completed",\
                "data":{"object":{"id":"\(session)","object":"checkout.session","status":"complete","payment_status":"paid",\
                "amount_total":150000,"currency":"cop","client_reference_id":"\(id)"}}}
                """.utf8
            )
            let timestamp = UnixTime.seconds(Date())
            let mac = HMAC<SHA256>.authenticationCode(for: Array("\(timestamp).".utf8) + body, using: SymmetricKey(data: Array(Self.webhookSecret.utf8)))
            let hex = mac.map { String(format: "%02x", $0) }.joined()
            let reply = try await settle.request(
                .POST, "/v1/webhooks/stripe", headers: [("stripe-signature", "t=\(timestamp),v1=\(hex)")], auth: false,
                contentType: "application/json", rawBody: body
            )
            #expect(reply.status == 200, "\(reply.text)")
            #expect(try await settle.paymentStatus(id) == "succeeded")
        }
    }

    /// A success that does not say how much, or in what currency, never counts as a match: review, not succeeded.
    @Test(arguments: Engine.enabled)
    func aSuccessWithoutAmountOrCurrencyGoesToReview(_ engine: Engine) async throws {
        try await withStripe(engine) { settle, emulator in
            for (index, fields) in [#""currency":"cop""#, #""amount_total":150000"#, #""amount_total":null,"currency":null"#].enumerated() {
                let (id, session, _) = try await create(settle)
                let body = Array(
                    #"{"id":"evt_noamount_\#(index)_\#(id.suffix(6))","object":"event","type":"checkout.session.completed","data":{"object":{"id":"\#(session)","object":"checkout.session","status":"complete","payment_status":"paid",\#(fields)}}}"#.utf8
                )
                let timestamp = UnixTime.seconds(Date())
                let mac = HMAC<SHA256>.authenticationCode(for: Array("\(timestamp).".utf8) + body, using: SymmetricKey(data: Array(Self.webhookSecret.utf8)))
                let reply = try await settle.request(
                    .POST, "/v1/webhooks/stripe", headers: [("stripe-signature", "t=\(timestamp),v1=\(mac.map { String(format: "%02x", $0) }.joined())")],
                    auth: false, contentType: "application/json", rawBody: body
                )
                #expect(reply.status == 200, "\(reply.text)")
                #expect(try await settle.paymentStatus(id) == "requires_review", "\(fields)")
            }
        }
    }

    @Test(arguments: Engine.enabled)
    func asyncSuccessAsyncFailureAndExpiry(_ engine: Engine) async throws {
        try await withStripe(engine) { settle, emulator in
            let (succeeding, sessionA, _) = try await create(settle)
            try await emulator.pay(sessionID: sessionA, async: true)
            #expect(try await settle.paymentStatus(succeeding) == "processing")
            try await emulator.settleDelayedPayment(sessionID: sessionA, succeeded: true)
            #expect(try await settle.paymentStatus(succeeding) == "succeeded")

            let (failing, sessionB, _) = try await create(settle)
            try await emulator.pay(sessionID: sessionB, async: true)
            try await emulator.settleDelayedPayment(sessionID: sessionB, succeeded: false)
            let failed = try await settle.request(.GET, "/v1/payments/\(failing)").json
            #expect(failed["status"] as? String == "failed")
            #expect((failed["failure"] as? [String: Any])?["code"] as? String == "async_payment_failed")

            let (expiring, sessionC, _) = try await create(settle)
            try await emulator.expire(sessionID: sessionC)
            #expect(try await settle.paymentStatus(expiring) == "expired")
        }
    }

    @Test(arguments: Engine.enabled)
    func duplicatesOutOfOrderForgeriesAndTampering(_ engine: Engine) async throws {
        try await withStripe(engine) { settle, emulator in
            // Duplicates: every event twice; one change.
            var faults = emulator.faults
            faults.duplicateEvents = true
            emulator.faults = faults
            let (dup, dupSession, _) = try await create(settle)
            try await emulator.pay(sessionID: dupSession)
            #expect(try await settle.store.eventCount(paymentID: dup, type: "payment.succeeded") == 1)
            faults.duplicateEvents = false
            emulator.faults = faults

            // Out of order: the final result arrives before "completed, unpaid".
            let (late, lateSession, _) = try await create(settle)
            let completedUnpaid = try #require(emulator.event(type: "checkout.session.completed", sessionID: lateSession))
            try await emulator.settleDelayedPayment(sessionID: lateSession, succeeded: true)
            #expect(try await emulator.deliver(completedUnpaid) == 200)
            #expect(try await settle.paymentStatus(late) == "succeeded")

            // Forged signature and expired timestamp: refused, nothing changes.
            let (guarded, guardedSession, _) = try await create(settle)
            #expect(try await emulator.sendEvent(type: "checkout.session.expired", sessionID: guardedSession, secret: "whsec_forged") == 401)
            #expect(try await emulator.sendEvent(
                type: "checkout.session.expired", sessionID: guardedSession, timestamp: UnixTime.seconds(Date()) - 400) == 401)
            #expect(try await settle.paymentStatus(guarded) == "requires_action")

            // The genuine event still goes through after the forgeries.
            try await emulator.pay(sessionID: guardedSession)
            #expect(try await settle.paymentStatus(guarded) == "succeeded")

            // A correctly signed event with another amount: a person must look.
            let (tampered, tamperedSession, _) = try await create(settle)
            #expect(try await emulator.sendEvent(type: "checkout.session.async_payment_succeeded", sessionID: tamperedSession, amountTotal: 100) == 200)
            #expect(try await settle.paymentStatus(tampered) == "requires_review")

            // Unknown types and sessions Settle never created: stored, acknowledged, flagged.
            #expect(try await emulator.sendEvent(type: "customer.created", sessionID: tamperedSession) == 200)
            let stranger = try #require(emulator.event(type: "checkout.session.completed", sessionID: tamperedSession))
            let unknownSession = (stranger.id, stranger.headers, Array(String(decoding: stranger.body, as: UTF8.self)
                .replacingOccurrences(of: tamperedSession, with: "cs_test_never_created").utf8))
            let resigned = (unknownSession.0, [("content-type", "application/json"), ("stripe-signature",
                StripeSignature.header(secret: Self.webhookSecret, timestamp: UnixTime.seconds(Date()), body: unknownSession.2))], unknownSession.2)
            #expect(try await emulator.deliver(resigned) == 200)
        }
    }

    @Test(arguments: Engine.enabled)
    func apiFailuresRetryThenTheBreakerOpensThenRecovers(_ engine: Engine) async throws {
        try await withStripe(engine, configure: {
            $0.providerClients["stripe"]?.breakerThreshold = 2
            $0.providerClients["stripe"]?.breakerCooldown = .seconds(1)
        }) { settle, emulator in
            // Two 500s, then success: retried transparently.
            var faults = emulator.faults
            faults.failNextAPICalls = 2
            emulator.faults = faults
            _ = try await create(settle)
            #expect(emulator.faults.failNextAPICalls == 0)

            // Stripe keeps failing: each create fails after its retries, and the payment ends failed.
            faults.failNextAPICalls = 1000
            emulator.faults = faults
            let body = #"{"amount":5000,"currency":"USD","provider":"stripe","reference":"r"}"#
            for _ in 0..<2 {
                let failed = try await settle.request(.POST, "/v1/payments", json: body)
                #expect(failed.status == 503)
                #expect(failed.errorCode == "provider_unavailable")
            }
            // The breaker is open: the next call fails at once, without reaching Stripe.
            let before = emulator.faults.failNextAPICalls
            let fast = try await settle.request(.POST, "/v1/payments", json: body)
            #expect(fast.status == 503)
            #expect(emulator.faults.failNextAPICalls == before)
            let failedPayments = try await settle.request(.GET, "/v1/payments?status=failed").json["data"] as? [[String: Any]] ?? []
            #expect(failedPayments.count == 3)
            // Stripe recovers; after the cooldown a trial call closes the breaker.
            faults.failNextAPICalls = 0
            emulator.faults = faults
            try await Task.sleep(for: .milliseconds(1100))
            _ = try await create(settle)
            _ = try await create(settle)
        }
    }

    @Test func unsupportedAmountsAreRefusedBeforeAnythingIsStored() async throws {
        try await withStripe(.sqlite) { settle, _ in
            let kwd = try await settle.request(.POST, "/v1/payments", json: #"{"amount":1501,"currency":"KWD","provider":"stripe","reference":"r"}"#)
            #expect(kwd.status == 400)
            #expect(kwd.errorCode == "provider_unsupported")
            #expect((kwd.json["error"] as? [String: Any])?["param"] as? String == "amount")
            let clf = try await settle.request(.POST, "/v1/payments", json: #"{"amount":1500,"currency":"CLF","provider":"stripe","reference":"r"}"#)
            #expect((clf.json["error"] as? [String: Any])?["param"] as? String == "currency")
            #expect(try await settle.store.counts().payments == 0)
            // A test key does not serve live mode.
            let (liveSecret, liveKey) = APIKeys.generate(mode: .live, name: "live", at: Date())
            try await settle.store.write { tx in try await tx.insertAPIKey(liveKey, secret: liveSecret) }
            let live = try await settle.request(.POST, "/v1/payments", json: #"{"amount":1500,"currency":"USD","provider":"stripe","reference":"r"}"#,
                headers: [("authorization", "Bearer \(liveSecret)")], auth: false)
            #expect(live.errorCode == "provider_mode_unsupported")
        }
    }

    @Test(arguments: Engine.enabled)
    func sweepAsksStripeWhenTheWebhookNeverCame(_ engine: Engine) async throws {
        try await withStripe(engine, configure: { $0.runDispatcher = false }) { settle, emulator in
            let (paid, paidSession, _) = try await create(settle, extra: #","expires_in":60"#)
            let (abandoned, _, _) = try await create(settle, extra: #","expires_in":60"#)
            emulator.webhookURL = nil  // the webhook is lost
            try await emulator.pay(sessionID: paidSession)
            #expect(try await settle.paymentStatus(paid) == "requires_action")
            let sweeper = Sweeper(store: settle.store, providers: settle.settle.providers, logger: Engine.logger, now: { Date().addingTimeInterval(120) })
            _ = try await sweeper.expireDue()
            #expect(try await settle.paymentStatus(paid) == "succeeded")
            #expect(try await settle.paymentStatus(abandoned) == "expired")
        }
    }

    /// Refunds through Stripe's refund API on the session's payment intent: a part at once, the rest left pending and
    /// settled by its `refund.updated` event; a pending refund that fails frees its amount.
    @Test(arguments: Engine.enabled)
    func refundsGoThroughStripe(_ engine: Engine) async throws {
        try await withStripe(engine) { settle, emulator in
            let (id, session, _) = try await create(settle, amount: 10_000, currency: "USD")
            try await emulator.pay(sessionID: session)
            #expect(try await settle.paymentStatus(id) == "succeeded")
            let part = try await settle.request(.POST, "/v1/refunds", json: #"{"payment":"\#(id)","amount":3000,"reason":"duplicate"}"#)
            #expect(part.status == 201 && part.json["status"] as? String == "succeeded", "\(part.text)")
            let partID = try #require(part.json["id"] as? String)
            let stripeRefund = try #require(emulator.refunds.first)
            #expect(part.json["provider_refund_id"] as? String == stripeRefund.id)
            #expect(stripeRefund.amount == 3000 && stripeRefund.reason == "duplicate" && stripeRefund.paymentIntent == emulator.session(session)?.paymentIntent)
            #expect(stripeRefund.metadata == ["settle_payment": id, "settle_refund": partID])

            emulator.faults.pendingRefunds = true
            let rest = try await settle.request(.POST, "/v1/refunds", json: #"{"payment":"\#(id)"}"#)
            #expect(rest.status == 201 && rest.json["status"] as? String == "pending" && rest.json["amount"] as? Int == 7000, "\(rest.text)")
            let restStripe = try #require(rest.json["provider_refund_id"] as? String)
            try await emulator.settleRefund(restStripe, succeeded: false)
            #expect(try await settle.request(.GET, "/v1/refunds/\(try #require(rest.json["id"] as? String))").json["status"] as? String == "failed")
            let again = try await settle.request(.POST, "/v1/refunds", json: #"{"payment":"\#(id)"}"#)
            #expect(again.status == 201 && again.json["status"] as? String == "pending", "\(again.text)")
            try await emulator.settleRefund(try #require(again.json["provider_refund_id"] as? String), succeeded: true)
            let payment = try await settle.request(.GET, "/v1/payments/\(id)").json
            #expect(payment["amount_refunded"] as? Int == 10_000 && payment["refunded"] as? Bool == true)
            #expect(try await settle.store.eventCount(paymentID: id, type: "refund.succeeded") == 2)
            #expect(try await settle.store.eventCount(paymentID: id, type: "refund.failed") == 1)
            #expect(try await settle.store.eventCount(paymentID: id, type: "payment.refunded") == 1)
        }
    }

    /// Stripe down when asked: the refund stays pending, and the sweep asks again with the same idempotency key, so
    /// Stripe makes one refund.
    @Test(arguments: Engine.enabled)
    func aRefundStripeCouldNotBeAskedAboutIsAskedAgain(_ engine: Engine) async throws {
        try await withStripe(engine) { settle, emulator in
            let (id, session, _) = try await create(settle, amount: 10_000, currency: "USD")
            try await emulator.pay(sessionID: session)
            emulator.faults.failNextAPICalls = 100
            let pending = try await settle.request(.POST, "/v1/refunds", json: #"{"payment":"\#(id)"}"#)
            #expect(pending.status == 201 && pending.json["status"] as? String == "pending" && pending.json["provider_refund_id"] is NSNull, "\(pending.text)")
            emulator.faults = .init()
            let refunds = settle.settle.useCases.refunds
            #expect(try await refunds.retryPending() == 0)  // not five minutes yet
            let later = RefundService(store: settle.store, providers: settle.settle.useCases.providers, now: { Date().addingTimeInterval(600) }, logger: Engine.logger)
            #expect(try await later.retryPending() == 1)
            let done = try await settle.request(.GET, "/v1/refunds/\(try #require(pending.json["id"] as? String))").json
            #expect(done["status"] as? String == "succeeded")
            #expect(emulator.refunds.count == 1)
            #expect(try await later.retryPending() == 0)
        }
    }

    /// Reconciliation against the emulator's lists: a payment paid at Stripe without an event, a refund made in
    /// Stripe's dashboard, a session Settle never created, an amount Stripe changed; then `apply`.
    @Test(arguments: Engine.enabled)
    func reconcileAgainstStripesLists(_ engine: Engine) async throws {
        try await withStripe(engine) { settle, emulator in
            let from = Date().addingTimeInterval(-60)
            let paid = try await create(settle, amount: 15_000, currency: "USD")
            try await emulator.pay(sessionID: paid.session)
            #expect(try await settle.paymentStatus(paid.id) == "succeeded")
            let partial = try await settle.request(.POST, "/v1/refunds", json: #"{"payment":"\#(paid.id)","amount":5000}"#)
            #expect(partial.status == 201 && partial.json["status"] as? String == "succeeded", "\(partial.text)")
            let silent = try await create(settle, amount: 15_000, currency: "USD")
            emulator.alter(sessionID: silent.session) { $0.status = "complete"; $0.paymentStatus = "paid" }
            let dashboard = try await create(settle, amount: 15_000, currency: "USD")
            try await emulator.pay(sessionID: dashboard.session)
            let dashboardRefund = try #require(emulator.dashboardRefund(sessionID: dashboard.session))
            let open = try await create(settle, amount: 15_000, currency: "USD")
            let changed = try await create(settle, amount: 15_000, currency: "USD")
            emulator.alter(sessionID: changed.session) { $0.status = "complete"; $0.paymentStatus = "paid"; $0.amountTotal = 14_900 }
            let foreign = emulator.foreignSession(amount: 7_700, currency: "usd")
            // More than one page of Stripe's list (100 a page): sessions made on the same account by something else.
            let others = (0..<120).map { _ in emulator.foreignSession(amount: 100, currency: "usd") }
            let to = Date().addingTimeInterval(5)

            let report = try await settle.reconcile("stripe", from: from, to: to, apply: false)
            #expect(report["status"] as? String == "succeeded", "\(report)")
            #expect(report["counts"] as? [String: Int] == [
                "matched": 4, "status_mismatch": 1, "amount_mismatch": 1, "currency_mismatch": 0, "missing_at_provider": 0, "missing_in_settle": 2 + 120,
            ], "\(report)")
            #expect((report["progress"] as? [String: Int])?["provider_records"] == 6 + 120 + 2)
            let runID = try #require(report["id"] as? String)
            var items: [[String: Any]] = []
            var cursor = ""
            while true {
                let page = try await settle.request(.GET, "/v1/reconciliations/\(runID)/items?limit=100\(cursor)").json
                let data = page["data"] as? [[String: Any]] ?? []
                items += data
                guard page["has_more"] as? Bool == true, let last = data.last?["id"] as? String else { break }
                cursor = "&starting_after=\(last)"
            }
            #expect(items.count == 6 + 120 + 2)
            let listed = try await settle.request(.GET, "/v1/reconciliations/\(runID)/items.csv?class=missing_in_settle").text
            #expect(Set(others).isSubset(of: Set(listed.split(separator: "\r\n").map { $0.split(separator: ",", omittingEmptySubsequences: false)[4] }.map(String.init))))
            #expect(try await settle.request(.GET, "/v1/reconciliations/\(runID)/items?starting_after=rci_nothing").status == 400)
            // Stripe's fee for the paid session, from its balance transaction: 2.9 % of 150.00 USD rounded, plus 0.30.
            let paidItem = items.first { $0["payment"] as? String == paid.id && $0["type"] as? String == "payment" }
            #expect(paidItem?["class"] as? String == "matched" && paidItem?["fee"] as? Int == 465 && paidItem?["net"] as? Int == 14_535)
            #expect(items.contains { $0["type"] as? String == "refund" && $0["class"] as? String == "matched" && $0["refund"] as? String == partial.json["id"] as? String })
            let missing = items.filter { $0["class"] as? String == "missing_in_settle" && !others.contains($0["provider_id"] as? String ?? "") }
            #expect(Set(missing.compactMap { $0["provider_id"] as? String }) == [foreign, dashboardRefund])
            #expect(missing.first { $0["provider_id"] as? String == dashboardRefund }?["payment"] as? String == dashboard.id)
            #expect(items.first { $0["payment"] as? String == silent.id }?["class"] as? String == "status_mismatch")
            #expect(items.first { $0["payment"] as? String == open.id }?["class"] as? String == "matched")
            #expect(items.first { $0["payment"] as? String == changed.id }?["class"] as? String == "amount_mismatch")

            let applied = try await settle.reconcile("stripe", from: from, to: to, apply: true)
            #expect(applied["applied"] as? Int == 3, "\(applied)")
            #expect(try await settle.paymentStatus(silent.id) == "succeeded")
            #expect(try await settle.paymentStatus(changed.id) == "requires_review")
            let refunded = try await settle.request(.GET, "/v1/payments/\(dashboard.id)").json
            #expect(refunded["amount_refunded"] as? Int == 15_000 && refunded["refunded"] as? Bool == true)
            #expect(try await settle.store.eventCount(paymentID: dashboard.id, type: "payment.refunded") == 1)
            let after = try await settle.reconcile("stripe", from: from, to: to, apply: false)
            #expect(after["counts"] as? [String: Int] == [
                "matched": 6, "status_mismatch": 0, "amount_mismatch": 1, "currency_mismatch": 0, "missing_at_provider": 0, "missing_in_settle": 1 + 120,
            ], "\(after)")
        }
    }

    /// Refunds made in Stripe's dashboard name no Settle payment: their payment intent's session does. A part is recorded
    /// as a refund of its own; a repeated event changes nothing; one that would exceed the payment is flagged.
    @Test(arguments: Engine.enabled)
    func dashboardRefundsAppearAsRefunds(_ engine: Engine) async throws {
        try await withStripe(engine) { settle, emulator in
            let paid = try await create(settle, amount: 15_000, currency: "USD")
            try await emulator.pay(sessionID: paid.session)
            let first = try #require(try await emulator.dashboardRefund(sessionID: paid.session, amount: 4_000, notify: true))
            var refunds = try await settle.request(.GET, "/v1/refunds?payment=\(paid.id)").json["data"] as? [[String: Any]] ?? []
            #expect(refunds.count == 1 && refunds.first?["provider_refund_id"] as? String == first && refunds.first?["amount"] as? Int == 4_000)
            #expect(refunds.first?["status"] as? String == "succeeded" && refunds.first?["reason"] as? String == "refunded at Stripe")
            #expect(try await settle.request(.GET, "/v1/payments/\(paid.id)").json["amount_refunded"] as? Int == 4_000)
            #expect(try await settle.store.eventCount(paymentID: paid.id, type: "refund.succeeded") == 1)
            try await emulator.sendRefundEvent(type: "refund.updated", refundID: first)
            refunds = try await settle.request(.GET, "/v1/refunds?payment=\(paid.id)").json["data"] as? [[String: Any]] ?? []
            #expect(refunds.count == 1)
            // The rest, in full of what is left: the payment is refunded.
            _ = try await emulator.dashboardRefund(sessionID: paid.session, amount: 11_000, notify: true)
            let payment = try await settle.request(.GET, "/v1/payments/\(paid.id)").json
            #expect(payment["amount_refunded"] as? Int == 15_000 && payment["refunded"] as? Bool == true, "\(payment)")
            #expect(try await settle.store.eventCount(paymentID: paid.id, type: "payment.refunded") == 1)
            // Stripe unreachable while it is asked which payment a refund belongs to: 503, so Stripe sends it again.
            let other = try await create(settle, amount: 15_000, currency: "USD")
            try await emulator.pay(sessionID: other.session)
            let lost = try #require(emulator.dashboardRefund(sessionID: other.session, amount: 1_000))
            emulator.faults.failNextAPICalls = 10
            let event = try #require(emulator.refundEvent(type: "refund.created", refundID: lost))
            #expect(try await emulator.deliver(event) == 503)
            emulator.faults.failNextAPICalls = 0
            #expect(try await emulator.deliver(event) == 200)
            #expect(try await settle.request(.GET, "/v1/payments/\(other.id)").json["amount_refunded"] as? Int == 1_000)
            // Stripe's calls are counted by outcome, with the retries the failed one made.
            let metrics = try await settle.request(.GET, "/metrics", auth: false).text
            #expect(MetricsTests.sample(metrics, "settle_provider_calls_total", ["provider": "stripe", "outcome": "unavailable"]) == 1, "\(metrics)")
            #expect(MetricsTests.sample(metrics, "settle_provider_call_retries_total", ["provider": "stripe"]) == 2)
            #expect((MetricsTests.sample(metrics, "settle_provider_calls_total", ["provider": "stripe", "outcome": "ok"]) ?? 0) >= 4)
            #expect(MetricsTests.sample(metrics, "settle_provider_circuit_open", ["provider": "stripe"]) == 0)
        }
    }
}
