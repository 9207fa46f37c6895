import AsyncHTTPClient
import Foundation
import SettleServer
import NIOHTTP1
import Settle
import SettleCore
import SettleProviders
import SettleStore
import Testing

/// End to end over loopback, on every engine: the merchant API, the sandbox checkout and notifications.
@Suite(.serialized) struct PaymentFlowTests {
    @Test(arguments: Engine.enabled)
    func checkoutApproveSucceeds(_ engine: Engine) async throws {
        try await withSettle(databaseURL: try await engine.makeDatabaseURL()) { settle in
            let id = try await settle.createPayment(extra: #","return_url":"https://shop.example/thanks""#)
            let created = try await settle.request(.GET, "/v1/payments/\(id)").json
            let checkoutURL = try #require(created["checkout_url"] as? String)
            #expect(checkoutURL == "\(settle.baseURL)/sandbox/checkout/\(id)")
            #expect(created["status"] as? String == "requires_action")
            #expect(created["livemode"] as? Bool == false)

            let page = try await settle.request(.GET, "/sandbox/checkout/\(id)", auth: false)
            #expect(page.status == 200)
            #expect(page.text.contains("1,500.00 COP"))
            #expect(page.text.contains(#"value="approve""#))

            let token = try #require(SandboxPage.formToken(page.text))
            let press = try await settle.request(
                .POST, "/sandbox/checkout/\(id)", auth: false, contentType: "application/x-www-form-urlencoded",
                rawBody: Array("action=approve&token=\(token)".utf8)
            )
            #expect(press.status == 303)
            #expect(press.headers.first(name: "location") == "https://shop.example/thanks")
            #expect(try await settle.paymentStatus(id) == "succeeded")

            let timeline = try await settle.request(.GET, "/v1/payments/\(id)/events").json["data"] as? [[String: Any]] ?? []
            #expect(timeline.map { $0["type"] as? String } == ["payment.created", "payment.succeeded", "payment.succeeded"])
            #expect(timeline.map { $0["object"] as? String } == ["event", "notification", "event"])
            #expect(try await settle.store.verifyAuditChain() == .intact(entries: 4))
        }
    }

    @Test(arguments: Engine.enabled)
    func declinePendingExpireAndCancel(_ engine: Engine) async throws {
        try await withSettle(databaseURL: try await engine.makeDatabaseURL()) { settle in
            let notifier = settle.notifier
            let amount = Money(minorUnits: 150_000, currency: .cop)
            let declined = try await settle.createPayment()
            #expect(try await notifier.send(notifier.message(for: .decline, paymentID: declined, amount: amount)) == 200)
            let failed = try await settle.request(.GET, "/v1/payments/\(declined)").json
            #expect(failed["status"] as? String == "failed")
            #expect((failed["failure"] as? [String: Any])?["code"] as? String == "card_declined")

            let pending = try await settle.createPayment()
            #expect(try await notifier.send(notifier.message(for: .pending, paymentID: pending, amount: amount)) == 200)
            #expect(try await settle.paymentStatus(pending) == "processing")
            #expect(try await notifier.send(notifier.message(for: .expire, paymentID: pending, amount: amount)) == 200)
            #expect(try await settle.paymentStatus(pending) == "expired")

            // Money moving for a payment we had closed is never dropped.
            #expect(try await notifier.send(notifier.message(for: .approve, paymentID: pending, amount: amount)) == 200)
            #expect(try await settle.paymentStatus(pending) == "requires_review")

            let canceled = try await settle.createPayment()
            let cancel = try await settle.request(.POST, "/v1/payments/\(canceled)/cancel")
            #expect(cancel.status == 200)
            #expect(cancel.json["status"] as? String == "canceled")
            let again = try await settle.request(.POST, "/v1/payments/\(canceled)/cancel")
            #expect(again.status == 409)
            #expect(again.errorCode == "payment_not_cancelable")
        }
    }

    @Test(arguments: Engine.enabled)
    func forgedStaleAndMismatchedNotifications(_ engine: Engine) async throws {
        try await withSettle(databaseURL: try await engine.makeDatabaseURL()) { settle in
            let notifier = settle.notifier
            let amount = Money(minorUnits: 150_000, currency: .cop)
            let id = try await settle.createPayment()
            let before = try await settle.store.counts()

            let forged = try await notifier.send(notifier.message(for: .approve, paymentID: id, amount: amount, fault: .badSignature))
            #expect(forged == 401)
            let stale = try await notifier.send(
                notifier.message(for: .approve, paymentID: id, amount: amount, fault: .staleTimestamp(seconds: 600))
            )
            #expect(stale == 401)
            #expect(try await settle.paymentStatus(id) == "requires_action")
            let after = try await settle.store.counts()
            #expect(after.notifications == before.notifications)
            #expect(after.events == before.events)
            #expect(after.auditEntries == before.auditEntries)
            #expect(after.rejectedNotifications == before.rejectedNotifications + 2)

            // Unsigned: no headers at all.
            let unsigned = try await settle.request(
                .POST, "/v1/webhooks/sandbox", json: #"{"id":"sbevt_x","type":"payment.succeeded","data":{"payment_id":"\#(id)","amount":150000,"currency":"COP"}}"#,
                auth: false
            )
            #expect(unsigned.status == 401)
            #expect(unsigned.errorCode == "invalid_signature")

            // Right signature, wrong amount: a person must look.
            let wrongAmount = try await notifier.send(notifier.message(for: .approve, paymentID: id, amount: amount, fault: .amount(1)))
            #expect(wrongAmount == 200)
            #expect(try await settle.paymentStatus(id) == "requires_review")
            #expect(try await settle.store.eventCount(paymentID: id, type: "payment.requires_review") == 1)

            let other = try await settle.createPayment()
            #expect(try await notifier.send(notifier.message(for: .approve, paymentID: other, amount: amount, fault: .currency("USD"))) == 200)
            #expect(try await settle.paymentStatus(other) == "requires_review")

            // Unknown payment: stored, acknowledged, flagged — nothing else changes.
            #expect(try await notifier.send(notifier.message(for: .approve, paymentID: "pay_unknown", amount: amount)) == 200)
            #expect(try await settle.request(.POST, "/v1/webhooks/nope", json: "{}", auth: false).status == 404)
        }
    }

    @Test(arguments: Engine.enabled)
    func outOfOrderAndDuplicateNotifications(_ engine: Engine) async throws {
        try await withSettle(databaseURL: try await engine.makeDatabaseURL()) { settle in
            let notifier = settle.notifier
            let amount = Money(minorUnits: 150_000, currency: .cop)
            let id = try await settle.createPayment()
            let success = notifier.message(for: .approve, paymentID: id, amount: amount)
            #expect(try await notifier.send(success) == 200)
            #expect(try await notifier.send(success) == 200)  // the same event again
            // A late "pending" and a late "failed" arrive after the success: ignored, stored.
            #expect(try await notifier.send(notifier.message(for: .pending, paymentID: id, amount: amount)) == 200)
            #expect(try await notifier.send(notifier.message(for: .decline, paymentID: id, amount: amount)) == 200)
            #expect(try await settle.paymentStatus(id) == "succeeded")
            #expect(try await settle.store.eventCount(paymentID: id, type: "payment.succeeded") == 1)
            let counts = try await settle.store.counts(paymentID: id)
            #expect(counts.notifications == 3)
        }
    }

    @Test(arguments: Engine.enabled)
    func listingPaginationAndFilters(_ engine: Engine) async throws {
        try await withSettle(databaseURL: try await engine.makeDatabaseURL()) { settle in
            var ids: [String] = []
            for _ in 0..<5 { ids.append(try await settle.createPayment()) }
            let first = try await settle.request(.GET, "/v1/payments?limit=2").json
            #expect(first["object"] as? String == "list")
            #expect(first["has_more"] as? Bool == true)
            let page1 = (first["data"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
            #expect(page1 == [ids[4], ids[3]])
            let second = try await settle.request(.GET, "/v1/payments?limit=2&starting_after=\(page1[1])").json
            #expect((second["data"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String } == [ids[2], ids[1]])
            let last = try await settle.request(.GET, "/v1/payments?limit=2&starting_after=\(ids[1])").json
            #expect(last["has_more"] as? Bool == false)

            _ = try await settle.request(.POST, "/v1/payments/\(ids[0])/cancel")
            let canceled = try await settle.request(.GET, "/v1/payments?status=canceled").json["data"] as? [[String: Any]] ?? []
            #expect(canceled.compactMap { $0["id"] as? String } == [ids[0]])
            let reference = try await settle.request(.GET, "/v1/payments/\(ids[2])").json["reference"] as! String
            let byReference = try await settle.request(.GET, "/v1/payments?reference=\(reference)").json["data"] as? [[String: Any]] ?? []
            #expect(byReference.count == 1)
            #expect(try await settle.request(.GET, "/v1/payments?status=paid").status == 400)
            #expect(try await settle.request(.GET, "/v1/payments?limit=0").status == 400)
            #expect(try await settle.request(.GET, "/v1/payments?starting_after=pay_nope").status == 400)
        }
    }

    /// A payment in `requires_review` (a success of another amount) is decided by an operator through the API: once,
    /// with its event and an audit entry carrying the note; any other status refuses.
    @Test(arguments: Engine.enabled)
    func aReviewIsResolved(_ engine: Engine) async throws {
        try await withSettle(databaseURL: try await engine.makeDatabaseURL()) { settle in
            let id = try await settle.createPayment(amount: 100_000)
            let notifier = settle.notifier
            #expect(try await notifier.send(notifier.message(for: .approve, paymentID: id, amount: Money(minorUnits: 100_000, currency: .cop), fault: .amount(99_000))) == 200)
            #expect(try await settle.paymentStatus(id) == "requires_review")
            for body in [#"{"status":"refunded","note":"x"}"#, #"{"status":"succeeded"}"#, #"{"status":"succeeded","note":""}"#, #"{"status":"succeeded","note":"x","extra":1}"#] {
                #expect(try await settle.request(.POST, "/v1/payments/\(id)/resolve", json: body).status == 400, "\(body)")
            }
            let resolved = try await settle.request(.POST, "/v1/payments/\(id)/resolve", json: #"{"status":"succeeded","note":"buyer paid 990.00 by mistake; the rest collected in store"}"#)
            #expect(resolved.status == 200 && resolved.json["status"] as? String == "succeeded", "\(resolved.text)")
            #expect(try await settle.store.eventCount(paymentID: id, type: "payment.succeeded") == 1)
            let again = try await settle.request(.POST, "/v1/payments/\(id)/resolve", json: #"{"status":"failed","note":"changed my mind"}"#)
            #expect(again.status == 409 && again.errorCode == "payment_not_resolvable")
            let audit = try await settle.store.read { connection in
                try await connection.query("SELECT actor_kind, after_state FROM audit_log WHERE target_id = \(id) ORDER BY seq DESC LIMIT 1")
                    .first.map { (try $0.string("actor_kind"), try $0.string("after_state")) }
            }
            #expect(audit?.0 == "api_key" && audit?.1.contains("collected in store") == true && audit?.1.contains("operator_resolved") == true)
            // Failed: the failure says who decided.
            let other = try await settle.createPayment(amount: 100_000)
            #expect(try await notifier.send(notifier.message(for: .approve, paymentID: other, amount: Money(minorUnits: 100_000, currency: .cop), fault: .currency("USD"))) == 200)
            let failed = try await settle.request(.POST, "/v1/payments/\(other)/resolve", json: #"{"status":"failed","note":"charged in the wrong currency; refunded at the provider"}"#)
            #expect(failed.status == 200 && failed.json["status"] as? String == "failed")
            #expect((failed.json["failure"] as? [String: Any])?["code"] as? String == "resolved_failed")
            #expect(try await settle.request(.POST, "/v1/payments/pay_nothing/resolve", json: #"{"status":"failed","note":"x"}"#).status == 404)
        }
    }
}
