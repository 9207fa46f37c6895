import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
@testable import Settle
import SettleCore
import SettleEmulators
import SettleProviders
import SettleServer
import SettleStore
import Testing

/// Settle with `provider: "paypal"` against the PayPal emulator, over loopback, on every engine: the buyer's approval
/// and return, the capture made exactly once whether the return, the webhook or the sweep comes first (or all at
/// once), webhooks verified offline against the emulator's own CA with every forged-certificate case refused, pending
/// and denied captures, refunds, reconciliation, OAuth tokens; and PayPal's official Python SDK against the emulator.
@Suite(.serialized) struct PayPalFlowTests {
    static let clientID = "client-\(Identifier.randomToken(length: 12))"
    static let clientSecret = "secret-\(Identifier.randomToken(length: 24))"
    static let webhookID = "WH-\(Identifier.randomToken(length: 17).uppercased())"

    static func withEmulator<T: Sendable>(_ body: @Sendable (PayPalEmulator, String) async throws -> T) async throws -> T {
        let emulator = try PayPalEmulator(
            configuration: .init(clientID: clientID, clientSecret: clientSecret, webhookID: webhookID, webhookURL: nil, port: 0, certPort: 0),
            httpClient: testHTTPClient
        )
        let caFile = FileManager.default.temporaryDirectory.appendingPathComponent("settle-paypal-ca-\(Identifier.randomToken(length: 8)).pem").path
        try emulator.caCertificatePEM.write(toFile: caFile, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: caFile) }
        return try await withRunning(emulator.application(logger: Engine.logger), isRunning: { emulator.isRunning }) {
            try await body(emulator, caFile)
        }
    }

    func withPayPal(
        _ engine: Engine, configure: @escaping @Sendable (inout SettleConfiguration) -> Void = { _ in },
        _ body: @Sendable (RunningSettle, PayPalEmulator) async throws -> Void
    ) async throws {
        try await Self.withEmulator { emulator, caFile in
            try await withSettle(databaseURL: try await engine.makeDatabaseURL(), configure: { configuration in
                configuration.providers["paypal"] = [
                    "client_id": Self.clientID, "client_secret": Self.clientSecret, "webhook_id": Self.webhookID, "mode": "sandbox",
                    "api_base": emulator.baseURL, "cert_hosts": "localhost", "ca_file": caFile,
                ]
                configuration.providerClients["paypal"] = ProviderClient.Configuration(
                    timeout: .seconds(5), retry: RetryPolicy(maxAttempts: 3, baseDelay: .milliseconds(10), maxDelay: .milliseconds(50))
                )
                configure(&configuration)
            }) { settle in
                emulator.webhookURL = "\(settle.baseURL)/v1/webhooks/paypal"
                try await body(settle, emulator)
            }
        }
    }

    func create(_ settle: RunningSettle, amount: Int64 = 1_000, currency: String = "USD", extra: String = "") async throws
        -> RunningSettle.HTTPResult
    {
        try await settle.request(
            .POST, "/v1/payments",
            json: #"{"amount":\#(amount),"currency":"\#(currency)","provider":"paypal","reference":"receipt-\#(Identifier.randomToken(length: 6))"\#(extra)}"#
        )
    }

    /// Creates a payment; answers its id and PayPal's order id.
    func placeOrder(_ settle: RunningSettle, amount: Int64 = 1_000, currency: String = "USD", extra: String = "") async throws -> (String, String) {
        let created = try await create(settle, amount: amount, currency: currency, extra: extra)
        #expect(created.status == 201, "\(created.text)")
        return (try #require(created.json["id"] as? String), try #require(created.json["provider_payment_id"] as? String))
    }

    /// What the buyer does on PayPal's page: the page, then Approve; answers where PayPal sends the buyer.
    func approveOnPayPalsPage(_ url: String) async throws -> String {
        let page = try await browse(url)
        #expect(page.status == 200 && page.text.contains(#"id="approve""#), "\(page.status) \(page.text)")
        let token = try #require(URLComponents(string: url)?.queryItems?.first { $0.name == "token" }?.value)
        let answer = try await browse(url, form: [("token", token), ("action", "approve")])
        #expect(answer.status == 303, "\(answer.status) \(answer.text)")
        return try #require(answer.location)
    }

    func captures(_ emulator: PayPalEmulator, order: String) -> Int {
        emulator.apiCalls.filter { $0 == "POST /v2/checkout/orders/\(order)/capture" }.count
    }

    @Test(arguments: Engine.enabled)
    func theBuyerApprovesAndSettleCapturesOnce(_ engine: Engine) async throws {
        try await withPayPal(engine) { settle, emulator in
            let providers = try await settle.request(.GET, "/v1/providers").json["data"] as? [[String: Any]] ?? []
            let paypal = try #require(providers.first { $0["name"] as? String == "paypal" })
            #expect(paypal["enabled"] as? Bool == true && paypal["modes"] as? [String] == ["test"])
            #expect(paypal["payment_methods"] as? [String] == ["checkout"])

            let created = try await create(settle, amount: 150_050, currency: "THB", extra: #","return_url":"https://centre.example/receipts/7""#)
            #expect(created.status == 201, "\(created.text)")
            let id = try #require(created.json["id"] as? String)
            let orderID = try #require(created.json["provider_payment_id"] as? String)
            let url = try #require(created.json["checkout_url"] as? String)
            #expect(url == "\(emulator.baseURL)/checkoutnow?token=\(orderID)")
            let placed = try #require(emulator.order(orderID))
            #expect(placed.intent == "CAPTURE" && placed.customID == id && placed.invoiceID == id)
            #expect(placed.amount == PayPalEmulator.Amount(currency: "THB", minorUnits: 150_050) && placed.amount.value == "1500.50")
            #expect(placed.returnURL?.hasPrefix("\(settle.baseURL)/checkout/return/\(id)/") == true)
            #expect(emulator.requestIDs.first?.hasPrefix("order:") == true)

            // The buyer approves: PayPal's CHECKOUT.ORDER.APPROVED makes Settle capture; then the buyer is back.
            let back = try await approveOnPayPalsPage(url)
            #expect(back.hasPrefix("\(settle.baseURL)/checkout/return/\(id)/") && back.contains("token=\(orderID)"), "\(back)")
            #expect(try await settle.paymentStatus(id) == "succeeded")
            let returned = try await browse(back)
            #expect(returned.status == 303 && returned.location == "https://centre.example/receipts/7", "\(returned.status) \(returned.text)")
            await emulator.flushEvents()  // PAYMENT.CAPTURE.COMPLETED, after the capture's answer
            // In order of completion: the capture's event may be answered before the approval's, which waited for the capture.
            #expect(emulator.sentEvents.map(\.eventType).sorted() == ["CHECKOUT.ORDER.APPROVED", "PAYMENT.CAPTURE.COMPLETED"])
            #expect(emulator.sentEvents.allSatisfy { $0.status == 200 }, "\(emulator.sentEvents)")
            #expect(captures(emulator, order: orderID) == 1 && emulator.order(orderID)?.status == "COMPLETED")
            #expect(emulator.requestIDs.contains("capture:\(orderID)"))
            #expect(try await settle.store.eventCount(paymentID: id, type: "payment.succeeded") == 1)
            let payment = try await settle.request(.GET, "/v1/payments/\(id)").json
            #expect(payment["amount"] as? Int == 150_050 && payment["currency"] as? String == "THB")

            // The certificate was fetched once, over https, and kept for the second event.
            #expect(emulator.certificateFetches == ["https \(PayPalEmulator.signingCertificateName)"], "\(emulator.certificateFetches)")

            // Amounts PayPal cannot take exactly, and currencies it does not take, are refused before PayPal is asked.
            let calls = emulator.apiCalls.count
            #expect(try await create(settle, amount: 150_050, currency: "HUF").status == 400)  // HUF is whole forints at PayPal
            #expect(try await create(settle, amount: 1_000, currency: "COP").status == 400)
            #expect(emulator.apiCalls.count == calls)
            let (_, yenOrder) = try await placeOrder(settle, amount: 1_500, currency: "JPY")
            #expect(emulator.order(yenOrder)?.amount.value == "1500")
            let (_, forintOrder) = try await placeOrder(settle, amount: 150_000, currency: "HUF")
            #expect(emulator.order(forintOrder)?.amount.value == "1500")
        }
    }

    /// The webhook lost: the buyer's return captures. The return missing too: the sweep finds the approved order and
    /// captures. Return, webhook and sweep all at once, on an order approved while Settle heard nothing: one capture.
    @Test(arguments: Engine.enabled)
    func returnWebhookAndSweepCaptureExactlyOnce(_ engine: Engine) async throws {
        try await withPayPal(engine) { settle, emulator in
            let hook = "\(settle.baseURL)/v1/webhooks/paypal"
            emulator.webhookURL = nil
            let (returnedID, returnedOrder) = try await placeOrder(settle)
            let back = try await approveOnPayPalsPage("\(emulator.baseURL)/checkoutnow?token=\(returnedOrder)")
            #expect(try await settle.paymentStatus(returnedID) == "requires_action")
            _ = try await browse(back)
            #expect(try await settle.paymentStatus(returnedID) == "succeeded")
            #expect(captures(emulator, order: returnedOrder) == 1)

            let (sweptID, sweptOrder) = try await placeOrder(settle)
            _ = try await approveOnPayPalsPage("\(emulator.baseURL)/checkoutnow?token=\(sweptOrder)")
            let sweeper = Sweeper(store: settle.store, providers: settle.settle.providers, logger: Engine.logger, now: { Date().addingTimeInterval(200) })
            _ = try await sweeper.pollOpen()
            #expect(try await settle.paymentStatus(sweptID) == "succeeded")
            #expect(captures(emulator, order: sweptOrder) == 1)

            // All at once: three returns, the approval event twice, and the sweep.
            let (racedID, racedOrder) = try await placeOrder(settle)
            let racedBack = try await approveOnPayPalsPage("\(emulator.baseURL)/checkoutnow?token=\(racedOrder)")
            emulator.webhookURL = hook
            let approved = try #require(emulator.orderJSON(racedOrder))
            let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<3 { group.addTask { try await browse(racedBack).status } }
                for _ in 0..<2 { group.addTask { try await emulator.send(eventType: "CHECKOUT.ORDER.APPROVED", resource: approved) } }
                group.addTask {
                    _ = try await sweeper.pollOpen()
                    return 0
                }
                return try await group.reduce(into: [Int]()) { $0.append($1) }
            }
            #expect(statuses.allSatisfy { [0, 200, 303].contains($0) }, "\(statuses)")
            await emulator.flushEvents()
            #expect(try await settle.paymentStatus(racedID) == "succeeded")
            #expect(emulator.orders.filter { $0.customID == racedID }.count == 1)
            #expect(Set(emulator.requestIDs.filter { $0.hasSuffix(racedOrder) }) == ["capture:\(racedOrder)"])
            #expect(emulator.captures(order: racedOrder).count == 1)
            for id in [returnedID, sweptID, racedID] {
                #expect(try await settle.store.eventCount(paymentID: id, type: "payment.succeeded") == 1)
            }
        }
    }

    /// Every delivery a careless verifier would take is 401 and stores nothing; the genuine one after them succeeds.
    @Test(arguments: Engine.enabled)
    func forgedCertificatesAndSignaturesAreRefused(_ engine: Engine) async throws {
        try await withPayPal(engine) { settle, emulator in
            emulator.webhookURL = nil
            let (id, orderID) = try await placeOrder(settle)
            _ = try await approveOnPayPalsPage("\(emulator.baseURL)/checkoutnow?token=\(orderID)")
            emulator.webhookURL = "\(settle.baseURL)/v1/webhooks/paypal"
            let approved = try #require(emulator.orderJSON(orderID))
            let before = try await settle.store.counts().notifications
            for fault in PayPalEmulator.Fault.allCases {
                let status = try await emulator.send(eventType: "CHECKOUT.ORDER.APPROVED", resource: approved, fault: fault)
                #expect(status == 401, "\(fault) answered \(status)")
            }
            #expect(try await settle.store.counts().notifications == before)
            #expect(try await settle.paymentStatus(id) == "requires_action" && captures(emulator, order: orderID) == 0)
            // Settle never followed the http:// URL nor the foreign host's: it fetched only the certificates the
            // allowed host serves over https (and refused the three bad ones after checking them).
            let fetched = emulator.certificateFetches
            #expect(!fetched.contains { $0.hasPrefix("http ") }, "\(fetched)")
            #expect(fetched.filter { $0 == "https \(PayPalEmulator.signingCertificateName)" }.count == 1, "\(fetched)")  // kept by URL
            // A delivery missing a header, or naming another algorithm.
            var unsigned = try emulator.delivery(eventType: "CHECKOUT.ORDER.APPROVED", resource: approved)
            unsigned.headers.removeAll { $0.0 == "PAYPAL-TRANSMISSION-SIG" }
            #expect(try await emulator.deliver(unsigned) == 401)
            var otherAlgorithm = try emulator.delivery(eventType: "CHECKOUT.ORDER.APPROVED", resource: approved)
            otherAlgorithm.headers = otherAlgorithm.headers.map { $0.0 == "PAYPAL-AUTH-ALGO" ? ($0.0, "SHA1withRSA") : $0 }
            #expect(try await emulator.deliver(otherAlgorithm) == 401)

            // The genuine event: stored, the order captured; sent again (PayPal retries), nothing more.
            let genuine = try emulator.delivery(eventType: "CHECKOUT.ORDER.APPROVED", resource: approved)
            #expect(try await emulator.deliver(genuine) == 200)
            #expect(try await emulator.deliver(genuine) == 200)
            await emulator.flushEvents()
            #expect(try await settle.paymentStatus(id) == "succeeded" && captures(emulator, order: orderID) == 1)
            #expect(try await settle.store.counts().notifications == before + 2)  // the approval once, the capture's event
        }
    }

    /// A capture event whose amount is not the payment's sends it to review; a pending capture is processing until
    /// PayPal decides; a denied one fails; an approval reversed before the capture fails.
    @Test(arguments: Engine.enabled)
    func captureOutcomesAndMismatchedAmounts(_ engine: Engine) async throws {
        try await withPayPal(engine) { settle, emulator in
            emulator.captureOutcome = .pending
            let (pendingID, pendingOrder) = try await placeOrder(settle)
            _ = try await approveOnPayPalsPage("\(emulator.baseURL)/checkoutnow?token=\(pendingOrder)")
            await emulator.flushEvents()
            #expect(try await settle.paymentStatus(pendingID) == "processing")
            let captureID = try #require(emulator.order(pendingOrder)?.captureID)
            #expect(await emulator.resolvePendingCapture(captureID, completed: true))
            #expect(try await settle.paymentStatus(pendingID) == "succeeded")

            emulator.captureOutcome = .declined
            let (deniedID, deniedOrder) = try await placeOrder(settle)
            _ = try await approveOnPayPalsPage("\(emulator.baseURL)/checkoutnow?token=\(deniedOrder)")
            await emulator.flushEvents()
            let denied = try await settle.request(.GET, "/v1/payments/\(deniedID)").json
            #expect(denied["status"] as? String == "failed", "\(denied)")

            // The buyer's instrument declined at capture: no capture, the payment still waits for the buyer.
            emulator.captureOutcome = .instrumentDeclined
            let (declinedID, declinedOrder) = try await placeOrder(settle)
            _ = try await approveOnPayPalsPage("\(emulator.baseURL)/checkoutnow?token=\(declinedOrder)")
            #expect(try await settle.paymentStatus(declinedID) == "requires_action")
            emulator.captureOutcome = .completed

            let (reversedID, reversedOrder) = try await placeOrder(settle)
            let reversal = JSONValue.object([
                ("order_id", .string(reversedOrder)), ("purchase_units", .array([.object([("custom_id", .string(reversedID))])])),
            ])
            #expect(try await emulator.send(eventType: "CHECKOUT.PAYMENT-APPROVAL.REVERSED", resource: reversal) == 200)
            #expect(try await settle.paymentStatus(reversedID) == "failed")

            // A correctly signed capture event for less than the payment: review, never succeeded.
            emulator.webhookURL = nil
            let (shortID, shortOrder) = try await placeOrder(settle, amount: 5_000)
            _ = try await approveOnPayPalsPage("\(emulator.baseURL)/checkoutnow?token=\(shortOrder)")
            emulator.webhookURL = "\(settle.baseURL)/v1/webhooks/paypal"
            let short = JSONValue.object([
                ("id", .string("CAPTURESHORT00001")), ("status", .string("COMPLETED")),
                ("amount", .object([("currency_code", .string("USD")), ("value", .string("49.99"))])), ("custom_id", .string(shortID)),
                ("supplementary_data", .object([("related_ids", .object([("order_id", .string(shortOrder))]))])),
            ])
            #expect(try await emulator.send(eventType: "PAYMENT.CAPTURE.COMPLETED", resource: short) == 200)
            #expect(try await settle.paymentStatus(shortID) == "requires_review")
        }
    }

    /// Refunds through the order's capture, in parts; PayPal's refund events name refunds Settle already has and add
    /// nothing; a refund made on PayPal's side is recorded from its event. Reconciliation matches every order.
    @Test(arguments: Engine.enabled)
    func refundsAndReconciliation(_ engine: Engine) async throws {
        try await withPayPal(engine) { settle, emulator in
            let from = Date().addingTimeInterval(-60)
            let (id, orderID) = try await placeOrder(settle, amount: 10_000)
            _ = try await approveOnPayPalsPage("\(emulator.baseURL)/checkoutnow?token=\(orderID)")
            await emulator.flushEvents()
            #expect(try await settle.paymentStatus(id) == "succeeded")
            let captureID = try #require(emulator.order(orderID)?.captureID)

            let part = try await settle.request(.POST, "/v1/refunds", json: #"{"payment":"\#(id)","amount":2500}"#)
            #expect(part.status == 201 && part.json["status"] as? String == "succeeded", "\(part.text)")
            let partID = try #require(part.json["id"] as? String)
            let paypalRefund = try #require(part.json["provider_refund_id"] as? String)
            #expect(emulator.refund(paypalRefund)?.amount == PayPalEmulator.Amount(currency: "USD", minorUnits: 2_500))
            #expect(emulator.refund(paypalRefund)?.invoiceID == partID && emulator.refund(paypalRefund)?.captureID == captureID)
            await emulator.flushEvents()  // PAYMENT.CAPTURE.REFUNDED for the refund Settle made
            #expect(emulator.sentEvents.last?.eventType == "PAYMENT.CAPTURE.REFUNDED" && emulator.sentEvents.last?.status == 200)
            #expect(try await settle.request(.GET, "/v1/payments/\(id)").json["amount_refunded"] as? Int == 2_500)

            // More than is left: refused by Settle before PayPal is asked.
            #expect(try await settle.request(.POST, "/v1/refunds", json: #"{"payment":"\#(id)","amount":7501}"#).status == 400)

            // A refund made in PayPal's dashboard: its event records it.
            let dashboard = try emulator.refundAtPayPal(captureID: captureID, minorUnits: 1_000)
            await emulator.flushEvents()
            let listed = try await settle.request(.GET, "/v1/refunds?payment=\(id)").json["data"] as? [[String: Any]] ?? []
            #expect(listed.contains { $0["provider_refund_id"] as? String == dashboard && $0["amount"] as? Int == 1_000 }, "\(listed)")
            #expect(try await settle.request(.GET, "/v1/payments/\(id)").json["amount_refunded"] as? Int == 3_500)

            let rest = try await settle.request(.POST, "/v1/refunds", json: #"{"payment":"\#(id)"}"#)
            #expect(rest.status == 201 && rest.json["amount"] as? Int == 6_500, "\(rest.text)")
            await emulator.flushEvents()
            #expect(emulator.capture(captureID)?.status == "REFUNDED" && emulator.capture(captureID)?.refundedMinorUnits == 10_000)
            let payment = try await settle.request(.GET, "/v1/payments/\(id)").json
            #expect(payment["amount_refunded"] as? Int == 10_000 && payment["refunded"] as? Bool == true)
            #expect(try await settle.store.eventCount(paymentID: id, type: "refund.succeeded") == 3)

            let open = try #require(try await placeOrder(settle).0 as String?)
            let report = try await settle.reconcile("paypal", from: from, to: Date().addingTimeInterval(5), apply: false)
            #expect(report["counts"] as? [String: Int] == [
                "matched": 2, "status_mismatch": 0, "amount_mismatch": 0, "currency_mismatch": 0, "missing_at_provider": 0, "missing_in_settle": 0,
            ], "\(report) \(open)")
            // Reading for reconciliation never captures.
            #expect(emulator.apiCalls.filter { $0.hasSuffix("/capture") }.count == 1)
        }
    }

    /// One OAuth token for a burst of calls, bought again when PayPal says it expired; PayPal down is 503 and leaves
    /// nothing half-made; a wrong secret disables nothing but fails the call, naming no secret.
    @Test(arguments: Engine.enabled)
    func tokensAreBoughtOnceAndRenewed(_ engine: Engine) async throws {
        try await withPayPal(engine) { settle, emulator in
            let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<20 { group.addTask { try await create(settle).status } }
                return try await group.reduce(into: [Int]()) { $0.append($1) }
            }
            #expect(statuses == Array(repeating: 201, count: 20))
            #expect(emulator.tokenRequests == 1)
            emulator.expireTokens()
            #expect(try await create(settle).status == 201)
            #expect(emulator.tokenRequests == 2)

            emulator.failNextAPICalls = 10
            let down = try await create(settle)
            emulator.failNextAPICalls = 0
            #expect(down.status == 503 || down.status == 502, "\(down.status) \(down.text)")
            #expect(!down.text.contains(Self.clientSecret))
        }
    }

    /// PayPal's official Python server SDK against the emulator, only its base URL changed (`.ci/run` installs it from
    /// PyPI).
    @Test func theOfficialSDKDrivesTheEmulator() async throws {
        try await Self.withEmulator { emulator, _ in
            let (status, text) = try await runSDKScript("paypal_sdk.py", arguments: [emulator.baseURL, Self.clientID, Self.clientSecret])
            #expect(status == 0 && text.hasSuffix("ok\n"), "\(text)")
        }
    }
}
