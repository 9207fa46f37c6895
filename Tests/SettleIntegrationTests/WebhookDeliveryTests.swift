import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
@testable import Settle
import SettleCore
import SettleProviders
import SettleServer
import SettleStore
import Testing

/// Outbound webhooks to the merchant: real deliveries to a loopback receiver, verified independently.
@Suite(.serialized) struct WebhookDeliveryTests {
    func createEndpoint(_ settle: RunningSettle, url: String, events: String = #"["*"]"#) async throws -> (id: String, secret: String) {
        let result = try await settle.request(.POST, "/v1/webhook_endpoints", json: #"{"url":"\#(url)","enabled_events":\#(events)}"#)
        #expect(result.status == 201, "\(result.text)")
        return (try #require(result.json["id"] as? String), try #require(result.json["secret"] as? String))
    }

    func waitFor(_ condition: () -> Bool, seconds: Int = 20) async throws {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while !condition() {
            guard ContinuousClock.now < deadline else { throw TestFailure("timed out waiting") }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Settle with its own dispatcher off, a loopback receiver, a manual clock and a dispatcher the test drives
    /// (no jitter, so the schedule is exact).
    func withDrivenDispatcher(
        _ engine: Engine, configure: @Sendable (inout WebhookDispatcher.Configuration) -> Void = { _ in },
        _ body: @Sendable (RunningSettle, WebhookReceiver, ManualClock, WebhookDispatcher) async throws -> Void
    ) async throws {
        let receiver = WebhookReceiver()
        let clock = ManualClock(Date().addingTimeInterval(5))
        try await receiver.run {
            try await withSettle(databaseURL: try await engine.makeDatabaseURL(), configure: { $0.runDispatcher = false }) { settle in
                var configuration = WebhookDispatcher.Configuration()
                configuration.schedule = RetrySchedule(jitter: 0)
                configure(&configuration)
                let dispatcher = WebhookDispatcher(store: settle.store, configuration: configuration, now: clock.reader, logger: Engine.logger)
                // Ahead of the real clock from here, however long starting Settle took (on a busy machine, more than a
                // few seconds): what the test writes next is due at once on the driven clock.
                clock.set(Date().addingTimeInterval(30))
                try await body(settle, receiver, clock, dispatcher)
            }
        }
    }

    @Test(arguments: Engine.enabled)
    func paymentEventsArriveSignedPerSpec(_ engine: Engine) async throws {
        let receiver = WebhookReceiver()
        try await receiver.run {
            try await withSettle(databaseURL: try await engine.makeDatabaseURL()) { settle in
                let (_, secret) = try await createEndpoint(settle, url: receiver.url, events: #"["payment.succeeded"]"#)
                #expect(secret.hasPrefix("whsec_"))
                #expect(Data(base64Encoded: String(secret.dropFirst(6)))?.count == 32)
                let id = try await settle.createPayment()
                let notifier = settle.notifier
                _ = try await notifier.send(notifier.message(for: .approve, paymentID: id, amount: Money(minorUnits: 150_000, currency: .cop)))
                try await waitFor { receiver.deliveries.count >= 1 }
                try await Task.sleep(for: .milliseconds(300))
                let deliveries = receiver.deliveries
                #expect(deliveries.count == 1)  // only the subscribed type; payment.created is not sent here
                let delivery = try #require(deliveries.first)
                #expect(SpecVerifier.verify(secret: secret, id: delivery.id, timestamp: delivery.timestamp, signatureHeader: delivery.signature, body: delivery.body))
                #expect(!SpecVerifier.verify(secret: secret, id: delivery.id, timestamp: delivery.timestamp, signatureHeader: delivery.signature, body: delivery.body + [0x20]))
                #expect(delivery.json["type"] as? String == "payment.succeeded")
                #expect(delivery.json["object"] as? String == "event")
                #expect(delivery.id == delivery.json["id"] as? String)  // webhook-id is the event id
                let object = (delivery.json["data"] as? [String: Any])?["object"] as? [String: Any]
                #expect(object?["id"] as? String == id)
                #expect(object?["status"] as? String == "succeeded")
                // The API shows the same event, byte for byte.
                let event = try await settle.request(.GET, "/v1/events/\(delivery.id)")
                #expect(event.body == delivery.body)
                let attempts = try await settle.request(.GET, "/v1/webhook_endpoints/\(try #require(try await settle.store.webhookEndpoints(mode: .test).first).id)/attempts").json["data"] as? [[String: Any]] ?? []
                #expect(attempts.first?["status_code"] as? Int == 200)
                #expect(attempts.first?["response_body"] as? String == "ok 200")
            }
        }
    }

    /// The retry schedule, all eight delays written out: after the n-th failed attempt, the next comes this many
    /// seconds later; after the eighth there is none.
    @Test func retryScheduleHasEightDelays() {
        let schedule = RetrySchedule(jitter: 0)
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        let expected: [Int64?] = [0, 5, 300, 1800, 7200, 18_000, 36_000, 36_000, nil]
        for (attempts, seconds) in expected.enumerated() {
            let next = schedule.nextAttempt(afterAttempts: attempts, from: start)
            #expect(next.map { Int64($0.timeIntervalSince(start)) } == seconds, "after \(attempts) attempts")
        }
        // Jitter only ever adds, and at most a tenth.
        for _ in 0..<200 {
            let jittered = RetrySchedule().nextAttempt(afterAttempts: 4, from: start)!.timeIntervalSince(start)
            #expect(jittered >= 7200 && jittered <= 7920)
        }
    }

    @Test(arguments: Engine.enabled)
    func receiverDownThenUpFollowsTheScheduleExactly(_ engine: Engine) async throws {
        try await withDrivenDispatcher(engine) { settle, receiver, clock, dispatcher in
            _ = try await createEndpoint(settle, url: receiver.url, events: #"["payment.canceled"]"#)
            let id = try await settle.createPayment()
            _ = try await settle.request(.POST, "/v1/payments/\(id)/cancel")
            receiver.answer(503)
            // All eight delays: attempt 1 is immediate; then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h. Each attempt
            // must not come a second early and must come on time; the merchant is back only for the eighth.
            #expect(await dispatcher.dispatchDue() == 1, "attempt 1 was not immediate")
            let delays: [Int64] = [5, 300, 1800, 7200, 18_000, 36_000, 36_000]
            for (index, delay) in delays.enumerated() {
                clock.advance(seconds: delay - 1)
                #expect(await dispatcher.dispatchDue() == 0, "attempt \(index + 2) came early")
                clock.advance(seconds: 1)
                if index == delays.count - 1 { receiver.answer(200) }
                #expect(await dispatcher.dispatchDue() == 1, "attempt \(index + 2) did not come on time")
            }
            let messages = try await settle.store.webhookMessages()
            #expect(messages.first?.state == "delivered")
            #expect(messages.first?.attempts == 8)
            #expect(receiver.deliveries.count == 8)
            #expect(Set(receiver.deliveries.map(\.id)).count == 1)  // the same webhook-id on every retry
            #expect(Set(receiver.deliveries.map(\.timestamp)).count == 8)  // a fresh timestamp each time
        }
    }

    @Test(arguments: Engine.enabled)
    func deadLetterGoneSlowAndRecovery(_ engine: Engine) async throws {
        try await withDrivenDispatcher(engine, configure: { configuration in
            configuration.timeout = .milliseconds(500)
        }) { settle, receiver, clock, dispatcher in
            let (endpointID, _) = try await createEndpoint(settle, url: receiver.url, events: #"["payment.created"]"#)

            // A slow receiver: the attempt times out and is retried.
            receiver.answer(200, delay: .seconds(2))
            _ = try await settle.createPayment()
            #expect(await dispatcher.dispatchDue() == 1)
            let slow = try await settle.store.webhookAttempts(endpointID: endpointID, limit: 1)
            #expect(slow.first?.error == "timeout")
            #expect(slow.first?.statusCode == nil)

            // Eight failures: dead letter.
            receiver.answer(500)
            for delay: Int64 in [5, 300, 1800, 7200, 18_000, 36_000, 36_000] {
                clock.advance(seconds: delay)
                #expect(await dispatcher.dispatchDue() == 1)
        }
        clock.advance(seconds: 100_000)
        #expect(await dispatcher.dispatchDue() == 0)
        #expect(try await settle.store.webhookMessages().first?.state == "failed")
        #expect(try await settle.store.webhookMessages().first?.attempts == 8)

        // Recover requeues it; the merchant is back.
        receiver.answer(200)
        let recover = try await settle.request(.POST, "/v1/webhook_endpoints/\(endpointID)/recover", json: #"{"since":\#(UnixTime.seconds(Date()) - 3600)}"#)
        #expect(recover.json["requeued"] as? Int == 1)
        #expect(await dispatcher.dispatchDue() == 1)
        #expect(try await settle.store.webhookMessages().first?.state == "delivered")

        // 410 Gone disables the endpoint; re-enabling it works.
        receiver.answer(410)
        _ = try await settle.createPayment()
        #expect(await dispatcher.dispatchDue() == 1)
        let endpoint = try await settle.request(.GET, "/v1/webhook_endpoints/\(endpointID)").json
        #expect(endpoint["status"] as? String == "disabled")
        _ = try await settle.createPayment()
        clock.advance(seconds: 60)
        #expect(await dispatcher.dispatchDue() == 0)  // disabled endpoints get nothing
        let reenabled = try await settle.request(.POST, "/v1/webhook_endpoints/\(endpointID)", json: #"{"enabled":true}"#)
        #expect(reenabled.json["status"] as? String == "enabled")
        // Events raised while it was disabled were not queued for it; new ones are.
        receiver.answer(200)
        _ = try await settle.createPayment()
        #expect(await dispatcher.dispatchDue() == 1)
        }
    }

    @Test(arguments: Engine.enabled)
    func dispatcherCrashMidDeliveryRedeliversAfterRestart(_ engine: Engine) async throws {
        let receiver = WebhookReceiver()
        let clock = ManualClock(Date(timeIntervalSince1970: 1_900_000_000))
        try await receiver.run {
            try await withSettle(databaseURL: try await engine.makeDatabaseURL(), configure: { $0.runDispatcher = false }) { settle in
                _ = try await createEndpoint(settle, url: receiver.url)
                _ = try await settle.createPayment()
                // A dispatcher claims the message and dies before recording anything.
                let at = clock.now
                let claimed = try await settle.store.write { tx in try await tx.claimDueMessages(at: at, limit: 10, leaseSeconds: 60) }
                #expect(claimed.count == 1)
                let restarted = WebhookDispatcher(store: settle.store, now: clock.reader, logger: Engine.logger)
                #expect(await restarted.dispatchDue() == 0)  // still leased
                clock.advance(seconds: 61)
                #expect(await restarted.dispatchDue() == 1)
                #expect(receiver.deliveries.map(\.id) == [claimed[0].event.id])
                #expect(try await settle.store.webhookMessages().first?.state == "delivered")
            }
        }
    }

    @Test(arguments: Engine.enabled)
    func endpointsApiRotationAndResend(_ engine: Engine) async throws {
        try await withDrivenDispatcher(engine) { settle, receiver, clock, dispatcher in
            // Validation.
            for (body, param) in [
                (#"{"url":"http://example.com/h","enabled_events":["*"]}"#, "url"),
                (#"{"url":"\#(receiver.url)","enabled_events":["payment.teleported"]}"#, "enabled_events"),
                (#"{"url":"\#(receiver.url)","enabled_events":[]}"#, "enabled_events"),
                (#"{"url":"\#(receiver.url)"}"#, "enabled_events"),
                (#"{"url":"\#(receiver.url)","enabled_events":["*"],"secret":"x"}"#, "secret"),
            ] {
                let refused = try await settle.request(.POST, "/v1/webhook_endpoints", json: body)
                #expect(refused.status == 400, "\(body)")
                #expect((refused.json["error"] as? [String: Any])?["param"] as? String == param, "\(body)")
        }
        let (endpointID, oldSecret) = try await createEndpoint(settle, url: receiver.url)
        // A retried create with the same Idempotency-Key makes no second endpoint.
        let createBody = #"{"url":"\#(receiver.url)","enabled_events":["payment.failed"]}"#
        let first = try await settle.request(.POST, "/v1/webhook_endpoints", json: createBody, headers: [("Idempotency-Key", "ep-1")])
        let retried = try await settle.request(.POST, "/v1/webhook_endpoints", json: createBody, headers: [("Idempotency-Key", "ep-1")])
        #expect(retried.body == first.body)
        #expect(retried.headers.first(name: "idempotent-replayed") == "true")
        let secondID = try #require(first.json["id"] as? String)
        #expect(try await settle.store.webhookEndpoints(mode: .test).count == 2)
        #expect(try await settle.request(.DELETE, "/v1/webhook_endpoints/\(secondID)").status == 200)
        let shown = try await settle.request(.GET, "/v1/webhook_endpoints/\(endpointID)").json
        #expect(shown["secret"] is NSNull)  // shown in full only at creation
        let rotated = try await settle.request(.POST, "/v1/webhook_endpoints/\(endpointID)/rotate_secret").json
        let newSecret = try #require(rotated["secret"] as? String)
        #expect(newSecret != oldSecret)
        let id = try await settle.createPayment()
        #expect(await dispatcher.dispatchDue() == 1)
        let delivery = try #require(receiver.deliveries.last)
        #expect(delivery.signature.split(separator: " ").count == 2)
        #expect(SpecVerifier.verify(secret: newSecret, id: delivery.id, timestamp: delivery.timestamp, signatureHeader: delivery.signature, body: delivery.body))
        #expect(SpecVerifier.verify(secret: oldSecret, id: delivery.id, timestamp: delivery.timestamp, signatureHeader: delivery.signature, body: delivery.body))
        // After 24 hours only the new secret signs.
        clock.advance(seconds: 86_401)
        let resent = try await settle.request(.POST, "/v1/events/\(delivery.id)/resend", json: "{}")
        #expect(resent.json["requeued"] as? Int == 1)
        #expect(await dispatcher.dispatchDue() == 1)
        let again = try #require(receiver.deliveries.last)
        #expect(again.id == delivery.id)
        #expect(again.signature.split(separator: " ").count == 1)
        #expect(!SpecVerifier.verify(secret: oldSecret, id: again.id, timestamp: again.timestamp, signatureHeader: again.signature, body: again.body))
        // Events API: filters and pagination.
        let events = try await settle.request(.GET, "/v1/events?object_id=\(id)").json["data"] as? [[String: Any]] ?? []
        #expect(events.compactMap { $0["type"] as? String } == ["payment.created"])
        #expect(try await settle.request(.GET, "/v1/events?type=payment.created&limit=1").json["has_more"] as? Bool == false)
        #expect(try await settle.request(.GET, "/v1/events/evt_nope").status == 404)
        // Delete stops deliveries.
        #expect(try await settle.request(.DELETE, "/v1/webhook_endpoints/\(endpointID)").status == 200)
        _ = try await settle.createPayment()
        #expect(await dispatcher.dispatchDue() == 0)
        #expect(try await settle.request(.GET, "/v1/webhook_endpoints/\(endpointID)").status == 404)
        }
    }

    @Test(arguments: Engine.enabled)
    func endpointFailingContinuouslyIsDisabled(_ engine: Engine) async throws {
        try await withDrivenDispatcher(engine, configure: { configuration in
            configuration.disableAfterSeconds = 3600  // an hour instead of five days
        }) { settle, receiver, clock, dispatcher in
            let (endpointID, _) = try await createEndpoint(settle, url: receiver.url)
            receiver.answer(500)
            _ = try await settle.createPayment()
            for delay: Int64 in [0, 5, 300, 1800] {
                clock.advance(seconds: delay)
                #expect(await dispatcher.dispatchDue() == 1)
        }
        // Failing for 35 minutes: still enabled. The next attempt, two hours later, crosses the hour.
        #expect(try await settle.request(.GET, "/v1/webhook_endpoints/\(endpointID)").json["status"] as? String == "enabled")
        clock.advance(seconds: 7200)
        #expect(await dispatcher.dispatchDue() == 1)
        let endpoint = try await settle.request(.GET, "/v1/webhook_endpoints/\(endpointID)").json
        #expect(endpoint["status"] as? String == "disabled")
        #expect(endpoint["disabled_reason"] as? String == "failing continuously")
        }
    }

    @Test(arguments: Engine.enabled)
    func gracefulStopFinishesDeliveriesInFlight(_ engine: Engine) async throws {
        let receiver = WebhookReceiver()
        try await receiver.run {
            try await withSettle(databaseURL: try await engine.makeDatabaseURL(), configure: { $0.runDispatcher = false }) { settle in
                let dispatcher = WebhookDispatcher(store: settle.store, logger: Engine.logger)
                _ = try await createEndpoint(settle, url: receiver.url)
                receiver.answer(200, delay: .milliseconds(800))
                _ = try await settle.createPayment()
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { await dispatcher.run() }
                    try await waitFor { !receiver.deliveries.isEmpty }  // the delivery is in flight
                    dispatcher.stop()
                    try await group.waitForAll()  // returns only once the delivery finished and was recorded
                }
                #expect(try await settle.store.webhookMessages().map(\.state) == ["delivered"])
            }
        }
    }

    @Test func liveModeAddressPolicy() async throws {
        let policy = EndpointAddressPolicy()
        for url in ["http://example.com/h", "https://127.0.0.1/h", "https://localhost/h", "https://10.0.0.5/h", "https://169.254.169.254/latest",
            "https://[::1]/h", "https://192.168.1.1/h", "https://172.16.0.1/h", "https://100.64.0.1/h", "https://user:pw@example.com/h"]
        {
            #expect(throws: EndpointAddressPolicy.Refusal.self, "\(url)") { _ = try policy.validate(url: url, mode: .live) }
        }
        _ = try policy.validate(url: "https://hooks.example.com/settle", mode: .live)
        _ = try policy.validate(url: "http://127.0.0.1:9000/h", mode: .test)
        _ = try policy.validate(url: "http://localhost:9000/h", mode: .test)
        #expect(throws: EndpointAddressPolicy.Refusal.self) { _ = try policy.validate(url: "http://example.com/h", mode: .test) }
        // At delivery time the resolved addresses are checked too (a public name that points inside is refused).
        await #expect(throws: EndpointAddressPolicy.Refusal.self) { _ = try await policy.target(url: "https://localhost.localdomain/h", mode: .live) }
        #expect(EndpointAddressPolicy.isPublic([93, 184, 216, 34]))
        #expect(!EndpointAddressPolicy.isPublic([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 10, 0, 0, 1]))
    }

    @Test(.enabled(if: Engine.enabled.contains(.postgres)))
    func twoInstancesDeliverAThousandEventsOnceEach() async throws {
        let receiver = WebhookReceiver()
        let url = try await Engine.postgres.makeDatabaseURL()
        try await receiver.run {
            try await withSettle(databaseURL: url) { first in
                try await withSettle(databaseURL: url) { _ in
                    _ = try await createEndpoint(first, url: receiver.url)
                    let template = Payment(
                        id: "pay_template", mode: .test, status: .succeeded, amount: Money(minorUnits: 100, currency: .thb),
                        provider: "sandbox", reference: "r", createdAt: Date(), updatedAt: Date()
                    )
                    for batch in 0..<10 {
                        try await first.store.write { tx in
                            for index in 0..<100 {
                                var payment = template
                                payment.id = "pay_bulk_\(batch)_\(index)"
                                try await tx.insertEvent(type: .paymentSucceeded, payment: payment, at: Date())
                            }
                        }
                    }
                    try await waitFor({ receiver.deliveries.count >= 1000 }, seconds: 60)
                    try await Task.sleep(for: .milliseconds(500))
                    let ids = receiver.deliveries.map(\.id)
                    #expect(ids.count == 1000)
                    #expect(Set(ids).count == 1000)
                }
            }
        }
    }
}
