import AsyncHTTPClient
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
import Synchronization
import Testing

/// Efecty vouchers under the merchant's own agreement, on every engine, with the counter emulator: a voucher paid at
/// the counter and reported in a settlement file dropped in the inbox; the same file twice and overlapping files; a
/// malformed file; the counter's faults; an operator's confirmation racing a file line; expiry; a forced reference
/// collision.
@Suite(.serialized) struct EfectyFlowTests {
    static let agreement = "110234"

    struct Harness: Sendable {
        let settle: RunningSettle
        let counter: EfectyEmulator
        let inbox: String

        var settlements: SettlementService { settle.settle.useCases.settlements }

        /// One look at the inbox, as the server does every `SETTLE_EFECTY_IMPORT_INTERVAL`, once files have settled.
        func scan(at: Date = Date().addingTimeInterval(11)) async -> [SettlementInbox.Result] {
            await SettlementInbox(service: settlements).scan(provider: "efecty", folder: inbox, now: at)
        }

        func files(_ folder: String) -> [String] {
            ((try? FileManager.default.contentsOfDirectory(atPath: (inbox as NSString).appendingPathComponent(folder))) ?? []).sorted()
        }

        /// A cash voucher through the API; returns its JSON.
        func voucher(amount: Int64 = 15_000_000, extra: String = "", key: String? = nil) async throws -> [String: Any] {
            let body = #"{"amount":\#(amount),"currency":"COP","provider":"efecty","reference":"order-\#(Identifier.randomToken(length: 6))","description":"Pedido 7","payment_method":{"type":"cash"}\#(extra)}"#
            let result = try await settle.request(
                .POST, "/v1/payments", json: body, headers: key.map { [("authorization", "Bearer \($0)")] } ?? [], auth: key == nil
            )
            #expect(result.status == 201, "\(result.text)")
            return result.json
        }

        /// The counter learns the open vouchers from Settle's export, as an agreement that loads the merchant's list does.
        func loadVouchers() async throws {
            let export = try await settle.request(.GET, "/v1/providers/efecty/open_vouchers.csv")
            #expect(export.status == 200 && export.headers.first(name: "content-type")?.hasPrefix("text/csv") == true)
            counter.loadOpenVouchers(csv: export.text)
        }
    }

    func withEfecty(_ engine: Engine, receiver: WebhookReceiver? = nil, _ body: @Sendable (Harness) async throws -> Void) async throws {
        let inbox = NSTemporaryDirectory() + "settle-efecty-\(Identifier.randomToken(length: 8))"
        try FileManager.default.createDirectory(atPath: inbox, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: inbox) }
        try await withSettle(databaseURL: try await engine.makeDatabaseURL(), configure: { configuration in
            configuration.providers["efecty"] = [
                "agreement": Self.agreement, "reference_prefix": "77", "inbox": inbox, "import_interval": "3600", "inbox_mode": "test",
            ]
        }) { settle in
            try await body(Harness(settle: settle, counter: EfectyEmulator(configuration: .init(agreement: Self.agreement, port: 0)), inbox: inbox))
        }
    }

    @Test(arguments: Engine.enabled)
    func aVoucherPaidAtTheCounterIsSettledFromTheInbox(_ engine: Engine) async throws {
        let receiver = WebhookReceiver()
        try await receiver.run { try await voucherPaidAtTheCounter(engine, receiver: receiver) }
    }

    func voucherPaidAtTheCounter(_ engine: Engine, receiver: WebhookReceiver) async throws {
        try await withEfecty(engine) { h in
            let endpoint = try await h.settle.request(.POST, "/v1/webhook_endpoints", json: #"{"url":"\#(receiver.url)","enabled_events":["payment.succeeded"]}"#)
            #expect(endpoint.status == 201, "\(endpoint.text)")
            let created = try await h.voucher()
            let id = try #require(created["id"] as? String)
            let voucher = try #require(created["voucher"] as? [String: Any])
            let reference = try #require(voucher["reference"] as? String)
            #expect(reference.count == 16 && reference.hasPrefix("77") && EfectyReference.isValid(reference))
            #expect(voucher["agreement"] as? String == Self.agreement && voucher["network"] as? String == "efecty")
            #expect(voucher["barcode"] as? String == Self.agreement + reference)
            #expect(created["provider_payment_id"] as? String == reference)
            let expires = try #require(voucher["expires_at"] as? Int)
            #expect(abs(expires - Int(Date().timeIntervalSince1970) - 72 * 3600) < 5 && created["expires_at"] as? Int == expires)
            let page = try #require(created["checkout_url"] as? String)
            #expect(voucher["receipt_url"] as? String == page && page.hasPrefix("\(h.settle.baseURL)/pay/\(id)/"))

            // The voucher's page: Spanish, the amount as Colombians write it, the barcode drawn by Settle.
            let shown = try await browse(page)
            #expect(shown.status == 200)
            #expect(shown.text.contains(#"<html lang="es">"#))
            #expect(shown.text.contains(#"<p class="amount" id="amount">$ 150.000 COP</p>"#))
            #expect(shown.text.contains(#"id="agreement">110234</dd>"#))
            let grouped = stride(from: 0, to: 16, by: 4).map { start in String(Array(reference)[start..<start + 4]) }.joined(separator: " ")
            #expect(shown.text.contains(#"data-value="\#(reference)">\#(grouped)</dd>"#))
            #expect(shown.text.contains(#"<svg xmlns="http://www.w3.org/2000/svg""#) && shown.text.contains(#"aria-label="\#(Self.agreement + reference)""#))
            #expect(shown.text.contains("Paga exactamente <strong>$ 150.000 COP</strong>") && shown.text.contains("@media print"))
            #expect(shown.text.contains(#"id="test-mode""#) && shown.text.contains(#"data-status="open""#))
            #expect(try await browse("\(h.settle.baseURL)/pay/\(id)/wrong").status == 404)

            // At the counter: the emulator's page, exact amount only.
            try await h.loadVouchers()
            try await withRunning(h.counter.application(logger: Engine.logger), isRunning: { h.counter.isRunning }) {
                let short = try await browse("\(h.counter.baseURL)/pay", form: [("reference", reference), ("amount", "100000")])
                #expect(short.status == 409)
                let paid = try await browse("\(h.counter.baseURL)/pay", form: [("reference", reference), ("amount", "150000")])
                #expect(paid.status == 200 && paid.text.contains(#"id="authorization""#), "\(paid.text)")
            }
            #expect(try await h.settle.paymentStatus(id) == "requires_action")

            // The day's file lands in the inbox; one look imports it.
            let path = try h.counter.writeSettlementFile(to: h.inbox)
            let results = await h.scan()
            #expect(results.map(\.outcome) == ["processed"])
            #expect(h.files("processed") == [(path as NSString).lastPathComponent])
            #expect(try await h.settle.paymentStatus(id) == "succeeded")
            #expect(try await h.settle.store.eventCount(paymentID: id, type: "payment.succeeded") == 1)
            let report = try await h.settle.request(.GET, "/v1/providers/efecty/settlements/\(try #require(results.first?.detail))")
            #expect(report.status == 200)
            #expect((report.json["counts"] as? [String: Int])?["succeeded"] == 1 && report.json["lines"] as? Int == 1)
            #expect((report.json["items"] as? [[String: Any]])?.first?["payment"] as? String == id)
            #expect(report.json["source"] as? String == "inbox" && (report.json["sha256"] as? String)?.count == 64)
            // The merchant hears of it through its webhook.
            let deadline = ContinuousClock.now + .seconds(20)
            while !receiver.deliveries.contains(where: { ($0.json["data"] as? [String: Any]).flatMap { ($0["object"] as? [String: Any])?["id"] as? String } == id }) {
                guard ContinuousClock.now < deadline else { throw TestFailure("no payment.succeeded webhook") }
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(receiver.deliveries.first?.json["type"] as? String == "payment.succeeded")
            // The page now says so; the open-voucher list no longer has it.
            #expect(try await browse(page).text.contains(#"data-status="paid""#))
            #expect(!(try await h.settle.request(.GET, "/v1/providers/efecty/open_vouchers.csv").text.contains(reference)))
        }
    }

    /// The same file twice, overlapping files, a line twice in one file: each payment changes once.
    @Test(arguments: Engine.enabled)
    func filesSeenTwiceChangeNothingTwice(_ engine: Engine) async throws {
        try await withEfecty(engine) { h in
            var ids: [String] = []
            for _ in 0..<3 { ids.append(try #require(try await h.voucher()["id"] as? String)) }
            try await h.loadVouchers()
            let references = h.counter.vouchers.map(\.reference)
            for reference in references.prefix(2) { _ = try h.counter.pay(reference: reference, amountPesos: 150_000) }
            let first = Array(h.counter.settlementFile().utf8)
            let imported = try await h.settlements.importFile(provider: "efecty", bytes: first, filename: "a.csv", source: .api, actor: nil, mode: .test)
            #expect(imported.created && (imported.report["counts"]?["succeeded"]?.intValue) == 2)
            // The same bytes again, through the API and through the inbox: the first report, nothing changed.
            let again = try await h.settle.request(.POST, "/v1/providers/efecty/settlements", contentType: "text/csv", rawBody: first)
            #expect(again.status == 200 && again.json["id"] as? String == imported.report["id"]?.stringValue)
            _ = FileManager.default.createFile(atPath: (h.inbox as NSString).appendingPathComponent("copia.csv"), contents: Data(first))
            #expect(await h.scan().map(\.outcome) == ["processed"])
            // A file that repeats those two lines and adds a third payment, with one line twice.
            _ = try h.counter.pay(reference: references[2], amountPesos: 150_000)
            var options = EfectyEmulator.FileOptions()
            options.duplicateLine = true
            let overlap = try await h.settle.request(
                .POST, "/v1/providers/efecty/settlements", contentType: "text/csv",
                rawBody: Array(h.counter.settlementFile(options: options, includeSettled: true).utf8)
            )
            #expect(overlap.status == 201, "\(overlap.text)")
            #expect(overlap.json["counts"] as? [String: Int] == [
                "succeeded": 1, "requires_review": 0, "duplicate": 3, "already_paid": 0, "receipt_conflict": 0, "payment_closed": 0,
                "unknown_reference": 0,
            ])
            for id in ids {
                #expect(try await h.settle.paymentStatus(id) == "succeeded")
                #expect(try await h.settle.store.eventCount(paymentID: id, type: "payment.succeeded") == 1)
            }
        }
    }

    /// A cut file is refused whole (rejected/, with the line and the reason beside it), nothing applied; a wrong amount
    /// goes to review; an unknown reference is reported.
    @Test(arguments: Engine.enabled)
    func malformedFilesAndTheCountersFaults(_ engine: Engine) async throws {
        try await withEfecty(engine) { h in
            let first = try #require(try await h.voucher()["id"] as? String)
            let second = try #require(try await h.voucher()["id"] as? String)
            try await h.loadVouchers()
            for voucher in h.counter.vouchers { _ = try h.counter.pay(reference: voucher.reference, amountPesos: 150_000) }
            var cut = EfectyEmulator.FileOptions()
            cut.truncated = true
            let path = try h.counter.writeSettlementFile(to: h.inbox, options: cut)
            let name = (path as NSString).lastPathComponent
            #expect(await h.scan().map(\.outcome) == ["rejected"])
            #expect(h.files("rejected") == [name, "\(name).reason.txt"])
            let reason = try String(contentsOfFile: (h.inbox as NSString).appendingPathComponent("rejected/\(name).reason.txt"), encoding: .utf8)
            #expect(reason.contains("line 3:"), "\(reason)")
            #expect(try await h.settle.paymentStatus(first) == "requires_action")
            #expect(try await h.settle.paymentStatus(second) == "requires_action")
            let api = try await h.settle.request(
                .POST, "/v1/providers/efecty/settlements", contentType: "text/csv",
                rawBody: Array(try String(contentsOfFile: (h.inbox as NSString).appendingPathComponent("rejected/\(name)"), encoding: .utf8).utf8)
            )
            #expect(api.status == 400 && (api.json["error"] as? [String: Any])?["code"] as? String == "settlement_file_invalid", "\(api.text)")

            var faults = EfectyEmulator.FileOptions()
            faults.wrongAmount = true
            faults.unknownReference = true
            faults.separator = ";"
            faults.crlf = true
            faults.bom = true
            let report = try await h.settle.request(
                .POST, "/v1/providers/efecty/settlements", contentType: "text/csv",
                rawBody: Array(h.counter.settlementFile(options: faults, includeSettled: true).utf8)
            )
            #expect(report.status == 201, "\(report.text)")
            let counts = try #require(report.json["counts"] as? [String: Int])
            #expect(counts["requires_review"] == 1 && counts["succeeded"] == 1 && counts["unknown_reference"] == 1, "\(counts)")
            let statuses = [try await h.settle.paymentStatus(first), try await h.settle.paymentStatus(second)].compactMap { $0 }.sorted()
            #expect(statuses == ["requires_review", "succeeded"])
        }
    }

    /// An operator confirms a receipt while the file that reports it is imported: one change, whichever is first.
    /// The same receipt again changes nothing; another amount is refused; a key of the other mode finds nothing.
    @Test(arguments: Engine.enabled)
    func anOperatorRacesAFileLine(_ engine: Engine) async throws {
        try await withEfecty(engine) { h in
            let id = try #require(try await h.voucher()["id"] as? String)
            try await h.loadVouchers()
            let reference = try #require(h.counter.vouchers.first?.reference)
            let receipt = try h.counter.pay(reference: reference, amountPesos: 150_000)
            let file = Array(h.counter.settlementFile().utf8)
            let confirm = #"{"receipt_number":"\#(receipt.authorization)","paid_at":\#(Int(receipt.paidAt.timeIntervalSince1970)),"amount":15000000}"#
            async let confirmed = h.settle.request(.POST, "/v1/payments/\(id)/confirm_cash", json: confirm)
            async let imported = h.settle.request(.POST, "/v1/providers/efecty/settlements", contentType: "text/csv", rawBody: file)
            let (c, i) = try await (confirmed, imported)
            #expect(c.status == 200 && c.json["status"] as? String == "succeeded", "\(c.text)")
            #expect(i.status == 201, "\(i.text)")
            let outcome = ((i.json["items"] as? [[String: Any]])?.first?["outcome"] as? String) ?? ""
            #expect(["succeeded", "duplicate"].contains(outcome))
            #expect(try await h.settle.store.eventCount(paymentID: id, type: "payment.succeeded") == 1)
            let twice = try await h.settle.request(.POST, "/v1/payments/\(id)/confirm_cash", json: confirm)
            #expect(twice.status == 200 && twice.json["status"] as? String == "succeeded")
            #expect(try await h.settle.store.eventCount(paymentID: id, type: "payment.succeeded") == 1)

            let other = try #require(try await h.voucher()["id"] as? String)
            let wrong = try await h.settle.request(
                .POST, "/v1/payments/\(other)/confirm_cash", json: #"{"receipt_number":"EF9","paid_at":\#(Int(Date().timeIntervalSince1970)),"amount":100}"#
            )
            #expect(wrong.status == 400 && (wrong.json["error"] as? [String: Any])?["code"] as? String == "amount_mismatch")
            #expect(try await h.settle.paymentStatus(other) == "requires_action")
            // A live voucher: the test key cannot confirm it.
            let live = try await h.settle.settle.useCases.apiKeys.create(mode: .live, name: "live", actor: .operator("test", mode: .live))
            let liveVoucher = try #require(try await h.voucher(key: live.secret.value)["id"] as? String)
            let cross = try await h.settle.request(
                .POST, "/v1/payments/\(liveVoucher)/confirm_cash", json: #"{"receipt_number":"EF8","paid_at":\#(Int(Date().timeIntervalSince1970)),"amount":15000000}"#
            )
            #expect(cross.status == 404)
            // The audit names who made the change: the operator's key, or Efecty's file, whichever came first.
            let actors = try await h.settle.store.read { connection in
                try await connection.query("SELECT actor_kind, actor_id FROM audit_log WHERE target_id = \(id) AND action = 'payment.succeeded'")
                    .map { "\(try $0.string("actor_kind")):\(try $0.string("actor_id"))" }
            }
            #expect(actors.count == 1)
            #expect(actors.first?.hasPrefix("api_key:key_") == true || actors.first == "provider:efecty", "\(actors)")
            // A receipt another payment has: refused for the operator, reported for the file, changing nothing.
            let third = try await h.voucher()
            let thirdID = try #require(third["id"] as? String)
            let reused = try await h.settle.request(.POST, "/v1/payments/\(thirdID)/confirm_cash", json: confirm)
            #expect(reused.status == 409 && (reused.json["error"] as? [String: Any])?["code"] as? String == "receipt_already_used", "\(reused.text)")
            let thirdReference = try #require((third["voucher"] as? [String: Any])?["reference"] as? String)
            let conflicting = "reference,amount,paid_at,authorization\n\(thirdReference),150000,2026-12-01T10:15:00-05:00,\(receipt.authorization)\n"
            let conflict = try await h.settlements.importFile(
                provider: "efecty", bytes: Array(conflicting.utf8), filename: nil, source: .api, actor: nil, mode: .test
            )
            #expect(conflict.report["counts"]?["receipt_conflict"]?.intValue == 1)
            #expect(try await h.settle.paymentStatus(thirdID) == "requires_action")
        }
    }

    /// A voucher past its date stays open two days for the file that may report it, then expires; its page says so.
    /// A line paid after the voucher's date goes to review.
    @Test(arguments: Engine.enabled)
    func vouchersExpire(_ engine: Engine) async throws {
        try await withEfecty(engine) { h in
            let created = try await h.voucher(extra: #","expires_in":3600"#)
            let id = try #require(created["id"] as? String)
            _ = try await h.voucher(extra: #","expires_in":3600"#)
            let sandbox = try await h.settle.request(
                .POST, "/v1/payments", json: #"{"amount":5000,"currency":"USD","provider":"sandbox","reference":"s1","expires_in":3610}"#
            )
            let sandboxID = try #require(sandbox.json["id"] as? String)
            let providers = h.settle.settle.useCases.providers
            let held = Sweeper(store: h.settle.store, providers: providers, logger: Engine.logger, now: { Date().addingTimeInterval(3700) })
            // Two held vouchers fill a page of two; the payment behind them still expires.
            #expect(try await held.expireDue(limit: 2) == 1)
            #expect(try await h.settle.paymentStatus(sandboxID) == "expired")
            #expect(try await h.settle.paymentStatus(id) == "requires_action")
            let later = Sweeper(store: h.settle.store, providers: providers, logger: Engine.logger, now: { Date().addingTimeInterval(3600 + 48 * 3600 + 60) })
            #expect(try await later.expireDue() == 2)
            #expect(try await h.settle.paymentStatus(id) == "expired")
            #expect(try await browse(try #require(created["checkout_url"] as? String)).text.contains(#"data-status="expired""#))

            let late = try await h.voucher(extra: #","expires_in":60"#)
            let lateID = try #require(late["id"] as? String)
            let reference = try #require((late["voucher"] as? [String: Any])?["reference"] as? String)
            // The counter should have refused it; this one did not (its list said the voucher ran longer).
            h.counter.register(.init(reference: reference, amountPesos: 150_000, expiresAt: Date().addingTimeInterval(86_400)))
            _ = try h.counter.pay(reference: reference, amountPesos: 150_000, at: Date().addingTimeInterval(120))
            let report = try await h.settlements.importFile(
                provider: "efecty", bytes: Array(h.counter.settlementFile().utf8), filename: nil, source: .cli, actor: nil, mode: .test
            )
            #expect(report.report["counts"]?["requires_review"]?.intValue == 1)
            #expect(try await h.settle.paymentStatus(lateID) == "requires_review")
        }
    }

    /// Two vouchers drawn the same reference: the constraint refuses the second, which gets another.
    @Test(arguments: Engine.enabled)
    func aReferenceCollisionDrawsAnother(_ engine: Engine) async throws {
        try await withEfecty(engine) { h in
            let draws = Mutex(0)
            let provider = EfectyProvider(
                configuration: .init(agreement: Self.agreement, referencePrefix: "77"), context: ProviderContext(logger: Engine.logger),
                random: { count in
                    let n = draws.withLock { value -> Int in
                        value += 1
                        return value
                    }
                    return String(repeating: "0", count: count - 1) + (n <= 2 ? "1" : "2")
                }
            )
            let service = PaymentService(
                store: h.settle.store, providers: ProviderRegistry([provider]), publicURL: { h.settle.baseURL },
                pages: h.settle.settle.useCases.pageTokens, logger: Engine.logger
            )
            var references: [String] = []
            for order in ["a", "b"] {
                let (status, payment) = try await service.create(
                    CreatePaymentRequest(amount: 15_000_000, currency: "COP", provider: "efecty", reference: order, paymentMethod: PaymentMethod(type: "cash")),
                    caller: .operator("test", mode: .test), idempotency: nil
                )
                #expect(status == 201)
                references.append(try #require(payment.voucher?.reference))
            }
            #expect(references == ["7700000000000016", "7700000000000024"])
            #expect(draws.withLock { $0 } == 3)
        }
    }

    /// A file imported for test payments is imported again for live ones: the test import neither uses up the live
    /// receipts nor stands for the live import.
    @Test(arguments: Engine.enabled)
    func modesNeverStandForEachOther(_ engine: Engine) async throws {
        try await withEfecty(engine) { h in
            let live = try await h.settle.settle.useCases.apiKeys.create(mode: .live, name: "live", actor: .operator("test", mode: .live))
            let created = try await h.voucher(key: live.secret.value)
            let id = try #require(created["id"] as? String)
            let reference = try #require((created["voucher"] as? [String: Any])?["reference"] as? String)
            let file = Array("reference,amount,paid_at,authorization\n\(reference),150000,2026-12-01T10:15:00-05:00,EF77\n".utf8)
            let asTest = try await h.settle.request(.POST, "/v1/providers/efecty/settlements", contentType: "text/csv", rawBody: file)
            #expect(asTest.status == 201 && (asTest.json["counts"] as? [String: Int])?["unknown_reference"] == 1)
            #expect(try await h.settle.paymentStatus(id) == nil)  // the test key does not see the live payment
            let asLive = try await h.settlements.importFile(provider: "efecty", bytes: file, filename: nil, source: .cli, actor: nil, mode: .live)
            #expect(asLive.created && asLive.report["counts"]?["succeeded"]?.intValue == 1)
            // The test key cannot read the live report.
            let report = try await h.settle.request(.GET, "/v1/providers/efecty/settlements/\(try #require(asLive.report["id"]?.stringValue))")
            #expect(report.status == 404)
        }
    }

    /// What is not a regular, settled file is left alone: a link, a pipe (reading one would block), a file still being
    /// uploaded (by its suffix, or changed a moment ago).
    @Test func theInboxTakesOnlySettledRegularFiles() async throws {
        try await withEfecty(.sqlite) { h in
            let files = FileManager.default
            try files.createSymbolicLink(atPath: (h.inbox as NSString).appendingPathComponent("link.csv"), withDestinationPath: "/etc/passwd")
            #expect(mkfifo((h.inbox as NSString).appendingPathComponent("pipe.csv"), 0o600) == 0)
            files.createFile(atPath: (h.inbox as NSString).appendingPathComponent("upload.csv.part"), contents: Data("reference".utf8))
            files.createFile(atPath: (h.inbox as NSString).appendingPathComponent("fresh.csv"), contents: Data("reference,amount,paid_at,authorization\n".utf8))
            #expect(await h.scan(at: Date()).isEmpty)  // fresh.csv changed a moment ago
            let later = await h.scan()
            #expect(later.map(\.file) == ["fresh.csv"] && later.map(\.outcome) == ["processed"])
            #expect(h.files("").contains("link.csv") && h.files("").contains("pipe.csv") && h.files("").contains("upload.csv.part"))
        }
    }
}
