import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
@testable import Settle
import SettleCore
import SettleProviders
import SettleServer
import SettleStore
import Testing

/// Refunds over loopback on every engine: full and partial refunds through the sandbox, pending ones settled by a
/// signed notification, concurrent partial refunds that together exceed the payment, idempotent replays, refusals,
/// and a manual refund where the provider has none (an Efecty voucher).
@Suite(.serialized) struct RefundFlowTests {
    /// A succeeded sandbox payment of `amount`.
    func paid(_ settle: RunningSettle, amount: Int64 = 100_000, extra: String = "") async throws -> String {
        let id = try await settle.createPayment(amount: amount, extra: extra)
        let notifier = settle.notifier
        #expect(try await notifier.send(notifier.message(for: .approve, paymentID: id, amount: Money(minorUnits: amount, currency: .cop))) == 200)
        #expect(try await settle.paymentStatus(id) == "succeeded")
        return id
    }

    func refund(_ settle: RunningSettle, _ body: String, key: String? = nil) async throws -> RunningSettle.HTTPResult {
        try await settle.request(.POST, "/v1/refunds", json: body, headers: key.map { [("idempotency-key", $0)] } ?? [])
    }

    @Test(arguments: Engine.enabled)
    func fullAndPartialRefunds(_ engine: Engine) async throws {
        try await withSettle(databaseURL: try await engine.makeDatabaseURL()) { settle in
            let id = try await paid(settle)
            let first = try await refund(settle, #"{"payment":"\#(id)","amount":30000,"reason":"requested_by_customer","metadata":{"ticket":"7"}}"#)
            #expect(first.status == 201, "\(first.text)")
            #expect(first.json["object"] as? String == "refund" && first.json["status"] as? String == "succeeded")
            #expect(first.json["amount"] as? Int == 30000 && first.json["currency"] as? String == "COP" && first.json["payment"] as? String == id)
            #expect((first.json["provider_refund_id"] as? String)?.hasPrefix("sb_") == true)
            #expect((first.json["metadata"] as? [String: String]) == ["ticket": "7"])
            var payment = try await settle.request(.GET, "/v1/payments/\(id)").json
            #expect(payment["amount_refunded"] as? Int == 30000 && payment["refunded"] as? Bool == false)
            // No amount: all that remains.
            let rest = try await refund(settle, #"{"payment":"\#(id)"}"#)
            #expect(rest.status == 201 && rest.json["amount"] as? Int == 70000, "\(rest.text)")
            payment = try await settle.request(.GET, "/v1/payments/\(id)").json
            #expect(payment["amount_refunded"] as? Int == 100_000 && payment["refunded"] as? Bool == true)
            #expect(try await settle.store.eventCount(paymentID: id, type: "refund.created") == 2)
            #expect(try await settle.store.eventCount(paymentID: id, type: "refund.succeeded") == 2)
            #expect(try await settle.store.eventCount(paymentID: id, type: "payment.refunded") == 1)
            // Nothing left.
            let more = try await refund(settle, #"{"payment":"\#(id)","amount":1}"#)
            #expect(more.status == 409 && (more.json["error"] as? [String: Any])?["code"] as? String == "payment_not_refundable")
            let list = try await settle.request(.GET, "/v1/refunds?payment=\(id)")
            #expect((list.json["data"] as? [[String: Any]])?.compactMap { $0["id"] as? String } == [rest.json["id"] as? String, first.json["id"] as? String].compactMap { $0 })
            let one = try await settle.request(.GET, "/v1/refunds/\(try #require(first.json["id"] as? String))")
            #expect(one.status == 200 && one.json["status"] as? String == "succeeded")
            #expect(try await settle.request(.GET, "/v1/refunds?status=nonsense").status == 400)
        }
    }

    @Test(arguments: Engine.enabled)
    func refusalsAndReplays(_ engine: Engine) async throws {
        try await withSettle(databaseURL: try await engine.makeDatabaseURL()) { settle in
            let open = try await settle.createPayment()
            let notYet = try await refund(settle, #"{"payment":"\#(open)"}"#)
            #expect(notYet.status == 409 && (notYet.json["error"] as? [String: Any])?["code"] as? String == "payment_not_refundable")
            let id = try await paid(settle)
            let tooMuch = try await refund(settle, #"{"payment":"\#(id)","amount":100001}"#)
            #expect(tooMuch.status == 400 && (tooMuch.json["error"] as? [String: Any])?["code"] as? String == "amount_too_large")
            #expect(((tooMuch.json["error"] as? [String: Any])?["message"] as? String)?.contains("100000") == true)
            for body in [#"{"payment":"\#(id)","amount":0}"#, #"{"payment":"\#(id)","amount":1.5}"#, #"{"payment":"\#(id)","reason":"because"}"#, #"{"amount":5}"#] {
                #expect(try await refund(settle, body).status == 400, "\(body)")
            }
            #expect(try await refund(settle, #"{"payment":"pay_nothing"}"#).status == 404)
            // The same key and body: the first answer again, one refund.
            let body = #"{"payment":"\#(id)","amount":1000}"#
            let first = try await refund(settle, body, key: "refund-1")
            let again = try await refund(settle, body, key: "refund-1")
            #expect(first.status == 201 && again.status == 201 && again.json["id"] as? String == first.json["id"] as? String)
            #expect(again.headers.first(name: "idempotent-replayed") == "true")
            #expect(try await settle.store.eventCount(paymentID: id, type: "refund.created") == 1)
            #expect(try await refund(settle, #"{"payment":"\#(id)","amount":2000}"#, key: "refund-1").status == 422)
        }
    }

    /// Twenty partial refunds at once that together ask for 140 % of the payment: what succeeds never exceeds it.
    @Test(arguments: Engine.enabled)
    func concurrentRefundsNeverExceedThePayment(_ engine: Engine) async throws {
        try await withSettle(databaseURL: try await engine.makeDatabaseURL()) { settle in
            let id = try await paid(settle)
            let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<20 { group.addTask { try await refund(settle, #"{"payment":"\#(id)","amount":7000}"#).status } }
                return try await group.reduce(into: [Int]()) { $0.append($1) }
            }
            #expect(statuses.filter { $0 == 201 }.count == 14, "\(statuses)")
            #expect(statuses.filter { $0 == 400 }.count == 6, "\(statuses)")
            let payment = try await settle.request(.GET, "/v1/payments/\(id)").json
            #expect(payment["amount_refunded"] as? Int == 98_000)
            let held = try await settle.store.read { connection in
                try await connection.query("SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) AS n FROM refunds WHERE payment_id = \(id) AND status IN ('pending', 'succeeded', 'requires_action')").first?.int("n") ?? 0
            }
            #expect(held == 98_000)
        }
    }

    /// A sandbox payment whose refunds stay pending: its refund page sends a signed refund.succeeded or refund.failed;
    /// a failed refund frees its amount.
    @Test(arguments: Engine.enabled)
    func pendingRefundsAreSettledByNotification(_ engine: Engine) async throws {
        try await withSettle(databaseURL: try await engine.makeDatabaseURL()) { settle in
            let id = try await paid(settle, extra: #","metadata":{"sandbox_refunds":"pending"}"#)
            let pending = try await refund(settle, #"{"payment":"\#(id)","amount":60000}"#)
            #expect(pending.status == 201 && pending.json["status"] as? String == "pending", "\(pending.text)")
            let refundID = try #require(pending.json["id"] as? String)
            let page = try await browse("\(settle.baseURL)/sandbox/refunds/\(refundID)")
            let token = try #require(page.text.range(of: #"name="token" value=""#).map { String(page.text[$0.upperBound...].prefix { $0 != "\"" }) })
            #expect(try await browse("\(settle.baseURL)/sandbox/refunds/\(refundID)", form: [("token", "forged"), ("action", "fail")]).status == 403)
            #expect(try await browse("\(settle.baseURL)/sandbox/refunds/\(refundID)", form: [("token", token), ("action", "fail")]).status == 303)
            let failed = try await settle.request(.GET, "/v1/refunds/\(refundID)").json
            #expect(failed["status"] as? String == "failed")
            #expect(try await settle.store.eventCount(paymentID: id, type: "refund.failed") == 1)
            // The failed refund's amount is free again.
            let second = try await refund(settle, #"{"payment":"\#(id)","amount":100000}"#)
            #expect(second.status == 201 && second.json["status"] as? String == "pending", "\(second.text)")
            let secondID = try #require(second.json["id"] as? String)
            let secondPage = try await browse("\(settle.baseURL)/sandbox/refunds/\(secondID)")
            let secondToken = try #require(secondPage.text.range(of: #"name="token" value=""#).map { String(secondPage.text[$0.upperBound...].prefix { $0 != "\"" }) })
            #expect(try await browse("\(settle.baseURL)/sandbox/refunds/\(secondID)", form: [("token", secondToken), ("action", "succeed")]).status == 303)
            let payment = try await settle.request(.GET, "/v1/payments/\(id)").json
            #expect(payment["amount_refunded"] as? Int == 100_000 && payment["refunded"] as? Bool == true)
            #expect(try await settle.request(.GET, "/v1/refunds/\(secondID)").json["status"] as? String == "succeeded")
            #expect(try await settle.store.eventCount(paymentID: id, type: "payment.refunded") == 1)
        }
    }

    /// Efecty has no refund API: the refund waits for an operator, who pays the buyer back and confirms it.
    @Test(arguments: Engine.enabled)
    func aManualRefundIsConfirmedByAnOperator(_ engine: Engine) async throws {
        try await withSettle(databaseURL: try await engine.makeDatabaseURL(), configure: { $0.providers["efecty"] = ["agreement": "110234"] }) { settle in
            let created = try await settle.request(
                .POST, "/v1/payments", json: #"{"amount":15000000,"currency":"COP","provider":"efecty","reference":"r","payment_method":{"type":"cash"}}"#
            )
            let id = try #require(created.json["id"] as? String)
            let confirmed = try await settle.request(
                .POST, "/v1/payments/\(id)/confirm_cash", json: #"{"receipt_number":"EF1","paid_at":\#(Int(Date().timeIntervalSince1970)),"amount":15000000}"#
            )
            #expect(confirmed.json["status"] as? String == "succeeded", "\(confirmed.text)")
            let manual = try await refund(settle, #"{"payment":"\#(id)","amount":5000000}"#)
            #expect(manual.status == 201 && manual.json["status"] as? String == "requires_action", "\(manual.text)")
            #expect((manual.json["failure"] as? [String: Any])?["code"] as? String == "no_refund_api")
            let refundID = try #require(manual.json["id"] as? String)
            #expect(try await settle.request(.GET, "/v1/payments/\(id)").json["amount_refunded"] as? Int == 0)
            let done = try await settle.request(.POST, "/v1/refunds/\(refundID)/confirm", json: #"{"note":"Paid back in cash at the store, receipt 55"}"#)
            #expect(done.status == 200 && done.json["status"] as? String == "succeeded", "\(done.text)")
            #expect(try await settle.request(.GET, "/v1/payments/\(id)").json["amount_refunded"] as? Int == 5_000_000)
            let twice = try await settle.request(.POST, "/v1/refunds/\(refundID)/confirm", json: #"{"note":"again"}"#)
            #expect(twice.status == 409 && (twice.json["error"] as? [String: Any])?["code"] as? String == "refund_not_confirmable")
            let audit = try await settle.store.read { connection in
                try await connection.query("SELECT actor_kind FROM audit_log WHERE target_id = \(refundID) AND action = 'refund.succeeded'").map { try $0.string("actor_kind") }
            }
            #expect(audit == ["api_key"])
            #expect(try await settle.request(.POST, "/v1/refunds/\(refundID)/confirm", json: #"{}"#).status == 400)
        }
    }
}
