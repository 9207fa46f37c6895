import Foundation
import NIOHTTP1
@testable import Settle
import SettleCore
import SettleProviders
import SettleServer
import SettleStore
import Testing

/// Wallets over loopback on every engine: a top-up reported many ways at once (on two instances on PostgreSQL)
/// credits once; 100 concurrent debits never overdraw; transfers; a refund of a spent top-up; `verifyLedger` catching a
/// row altered behind Settle's back; and random sequences of movements checked against a model.
@Suite(.serialized) struct WalletFlowTests {
    func wallet(_ settle: RunningSettle, currency: String = "COP", extra: String = "") async throws -> String {
        let created = try await settle.request(
            .POST, "/v1/wallets", json: #"{"reference":"customer-\#(Identifier.randomToken(length: 6))","currency":"\#(currency)"\#(extra)}"#
        )
        #expect(created.status == 201, "\(created.text)")
        return try #require(created.json["id"] as? String)
    }

    func balance(_ settle: RunningSettle, _ wallet: String) async throws -> Int? {
        try await settle.request(.GET, "/v1/wallets/\(wallet)").json["balance"] as? Int
    }

    /// A sandbox top-up of `amount` COP into `wallet`, succeeded by its notification.
    func topUp(_ settle: RunningSettle, _ wallet: String, amount: Int64) async throws -> String {
        let id = try await settle.createPayment(amount: amount, extra: #","wallet":"\#(wallet)""#)
        let notifier = settle.notifier
        #expect(try await notifier.send(notifier.message(for: .approve, paymentID: id, amount: Money(minorUnits: amount, currency: .cop))) == 200)
        #expect(try await settle.paymentStatus(id) == "succeeded")
        return id
    }

    func debit(_ settle: RunningSettle, _ wallet: String, amount: Int64, key: String? = Identifier.randomToken(length: 12)) async throws
        -> RunningSettle.HTTPResult
    {
        try await settle.request(
            .POST, "/v1/wallets/\(wallet)/debits", json: #"{"amount":\#(amount),"reference":"order-\#(Identifier.randomToken(length: 6))"}"#,
            headers: key.map { [("idempotency-key", $0)] } ?? []
        )
    }

    func expectConsistent(_ store: Store) async throws {
        let discrepancy = try await store.verifyLedger()
        #expect(discrepancy == nil, "\(discrepancy?.description ?? "")")
    }

    /// Twenty distinct success notifications at once (alternating between instances where there are two), with the
    /// sweep running on each: one credit, one `wallet.credited`.
    func reportEverywhere(_ instances: [RunningSettle], paymentID: String, amount: Int64) async throws {
        let notifier = instances[0].notifier
        let messages = (0..<20).map { _ in notifier.message(for: .approve, paymentID: paymentID, amount: Money(minorUnits: amount, currency: .cop)) }
        let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
            for (index, message) in messages.enumerated() {
                let target = instances[index % instances.count]
                group.addTask { try await target.notifier.send(message) }
            }
            for instance in instances {
                group.addTask {
                    let sweeper = Sweeper(store: instance.store, providers: instance.settle.providers, logger: Engine.logger, now: { Date().addingTimeInterval(600) })
                    _ = try await sweeper.pollOpen()
                    return 200
                }
            }
            return try await group.reduce(into: [Int]()) { $0.append($1) }
        }
        #expect(statuses.allSatisfy { $0 == 200 }, "\(statuses)")
    }

    func expectCreditedOnce(_ settle: RunningSettle, wallet: String, paymentID: String, balance expected: Int) async throws {
        #expect(try await settle.paymentStatus(paymentID) == "succeeded")
        #expect(try await balance(settle, wallet) == expected)
        #expect(try await settle.store.eventCount(paymentID: paymentID, type: "wallet.credited") == 1)
        #expect(try await settle.store.eventCount(paymentID: paymentID, type: "payment.succeeded") == 1)
        #expect(try await settle.store.auditCount(targetID: paymentID, action: "payment.succeeded") == 1)
        try await expectConsistent(settle.store)
    }

    @Test(arguments: Engine.enabled)
    func aTopUpIsCreditedOnceInItsTransition(_ engine: Engine) async throws {
        try await withSettle(databaseURL: try await engine.makeDatabaseURL()) { settle in
            let walletID = try await wallet(settle, extra: #","metadata":{"app_user":"42"}"#)
            let shown = try await settle.request(.GET, "/v1/wallets/\(walletID)").json
            #expect(shown["object"] as? String == "wallet" && shown["balance"] as? Int == 0 && shown["currency"] as? String == "COP")
            #expect(shown["allow_negative"] as? Bool == false && (shown["metadata"] as? [String: String]) == ["app_user": "42"])

            let payment = try await settle.createPayment(amount: 150_000, extra: #","wallet":"\#(walletID)""#)
            #expect(try await settle.request(.GET, "/v1/payments/\(payment)").json["wallet"] as? String == walletID)
            #expect(try await settle.request(.GET, "/v1/wallets/\(walletID)").json["pending_top_ups"] as? Int == 150_000)
            try await reportEverywhere([settle], paymentID: payment, amount: 150_000)
            try await expectCreditedOnce(settle, wallet: walletID, paymentID: payment, balance: 150_000)
            #expect(try await settle.request(.GET, "/v1/wallets/\(walletID)").json["pending_top_ups"] as? Int == 0)
            let entries = try await settle.request(.GET, "/v1/wallets/\(walletID)/entries").json["data"] as? [[String: Any]] ?? []
            #expect(entries.count == 1)
            #expect(entries.first?["kind"] as? String == "top_up" && entries.first?["amount"] as? Int == 150_000)
            #expect(entries.first?["balance_after"] as? Int == 150_000 && entries.first?["payment"] as? String == payment)
            #expect(entries.first?["counter_account"] as? String == "acct_test_sandbox_received_cop")

            // The ledger's own key, not only the payment's status, refuses a second credit of the same payment.
            let stored = try #require(try await settle.store.payment(id: payment))
            let second = try await settle.store.write { tx in
                try await tx.post(
                    LedgerTransfer(
                        id: Identifier.make("tr"), mode: .test, kind: .topUp, amount: stored.amount, from: "acct_test_sandbox_received_cop",
                        to: walletID, paymentID: payment, createdAt: Date()
                    )
                ) == nil
            }
            #expect(second)
            #expect(try await balance(settle, walletID) == 150_000)

            // A top-up whose amount does not match goes to review and credits nothing until an operator decides.
            let reviewed = try await settle.createPayment(amount: 50_000, extra: #","wallet":"\#(walletID)""#)
            let notifier = settle.notifier
            #expect(try await notifier.send(notifier.message(for: .approve, paymentID: reviewed, amount: Money(minorUnits: 40_000, currency: .cop))) == 200)
            #expect(try await settle.paymentStatus(reviewed) == "requires_review")
            #expect(try await balance(settle, walletID) == 150_000)
            let resolved = try await settle.request(.POST, "/v1/payments/\(reviewed)/resolve", json: #"{"status":"succeeded","note":"paid in full, checked"}"#)
            #expect(resolved.status == 200, "\(resolved.text)")
            try await expectCreditedOnce(settle, wallet: walletID, paymentID: reviewed, balance: 200_000)

            // Refused before anything is stored: another currency, an unknown wallet, something that is not a wallet id.
            let usd = try await wallet(settle, currency: "USD")
            let payments = try await settle.store.counts().payments
            let wrongCurrency = try await settle.request(
                .POST, "/v1/payments", json: #"{"amount":150000,"currency":"COP","provider":"sandbox","reference":"r","wallet":"\#(usd)"}"#
            )
            #expect(wrongCurrency.status == 400 && wrongCurrency.errorCode == "wallet_currency", "\(wrongCurrency.text)")
            let unknown = try await settle.request(
                .POST, "/v1/payments", json: #"{"amount":150000,"currency":"COP","provider":"sandbox","reference":"r","wallet":"wal_nothere"}"#
            )
            #expect(unknown.status == 400 && unknown.errorCode == "wallet_not_found", "\(unknown.text)")
            let notAWallet = try await settle.request(
                .POST, "/v1/payments", json: #"{"amount":150000,"currency":"COP","provider":"sandbox","reference":"r","wallet":"pay_x"}"#
            )
            #expect(notAWallet.status == 400, "\(notAWallet.text)")
            #expect(try await settle.store.counts().payments == payments)
        }
    }

    @Test(.enabled(if: Engine.enabled.contains(.postgres)))
    func aTopUpReportedOnTwoInstancesAtOnceIsCreditedOnce() async throws {
        let url = try await Engine.postgres.makeDatabaseURL()
        try await withSettle(databaseURL: url) { first in
            try await withSettle(databaseURL: url) { second in
                let walletID = try await wallet(first)
                var expected = 0
                for _ in 0..<3 {
                    let payment = try await first.createPayment(amount: 150_000, extra: #","wallet":"\#(walletID)""#)
                    try await reportEverywhere([first, second], paymentID: payment, amount: 150_000)
                    expected += 150_000
                    try await expectCreditedOnce(second, wallet: walletID, paymentID: payment, balance: expected)
                }
            }
        }
    }

    /// 100 debits at once that together ask for more than the wallet holds: exactly as many as fit succeed, the rest
    /// are `402 insufficient_funds` naming the balance, and the wallet ends at zero, never below.
    func hundredDebits(_ instances: [RunningSettle]) async throws {
        let settle = instances[0]
        let walletID = try await wallet(settle)
        _ = try await topUp(settle, walletID, amount: 150_000)
        let results = try await withThrowingTaskGroup(of: (Int, String?).self) { group in
            for index in 0..<100 {
                let target = instances[index % instances.count]
                group.addTask {
                    let result = try await debit(target, walletID, amount: 2_000)
                    return (result.status, result.errorCode)
                }
            }
            return try await group.reduce(into: [(Int, String?)]()) { $0.append($1) }
        }
        #expect(results.filter { $0.0 == 201 }.count == 75, "\(results)")
        #expect(results.filter { $0.0 == 402 && $0.1 == "insufficient_funds" }.count == 25, "\(results)")
        #expect(try await balance(settle, walletID) == 0)
        let debits = try await settle.request(.GET, "/v1/wallets/\(walletID)/entries?limit=100").json["data"] as? [[String: Any]] ?? []
        #expect(debits.filter { $0["kind"] as? String == "debit" }.count == 75)
        // Newest first, each with the balance it left.
        #expect(debits.first?["balance_after"] as? Int == 0 && debits.last?["kind"] as? String == "top_up")
        let refused = try await debit(settle, walletID, amount: 1)
        #expect(refused.status == 402 && refused.text.contains("holds 0"), "\(refused.text)")
        try await expectConsistent(settle.store)
    }

    @Test(arguments: Engine.enabled)
    func aHundredConcurrentDebitsNeverOverdraw(_ engine: Engine) async throws {
        try await withSettle(databaseURL: try await engine.makeDatabaseURL()) { settle in
            try await hundredDebits([settle])
        }
    }

    @Test(.enabled(if: Engine.enabled.contains(.postgres)))
    func aHundredConcurrentDebitsOnTwoInstancesNeverOverdraw() async throws {
        let url = try await Engine.postgres.makeDatabaseURL()
        try await withSettle(databaseURL: url) { first in
            try await withSettle(databaseURL: url) { second in try await hundredDebits([first, second]) }
        }
    }

    @Test(arguments: Engine.enabled)
    func debitsAndTransfersMoveMoneyOnce(_ engine: Engine) async throws {
        try await withSettle(databaseURL: try await engine.makeDatabaseURL()) { settle in
            let alice = try await wallet(settle)
            let bob = try await wallet(settle)
            _ = try await topUp(settle, alice, amount: 150_000)

            // A retry with the same key replays the debit; another body under it is refused; without a key nothing moves.
            func spend(_ body: String) async throws -> RunningSettle.HTTPResult {
                try await settle.request(.POST, "/v1/wallets/\(alice)/debits", json: body, headers: [("idempotency-key", "spend-1")])
            }
            let first = try await spend(#"{"amount":10000,"reference":"order-1","description":"GPU hours"}"#)
            #expect(first.status == 201 && first.json["kind"] as? String == "debit", "\(first.text)")
            #expect(first.json["from"] as? String == alice && first.json["to"] as? String == "acct_test_spent_cop")
            let retried = try await spend(#"{"amount":10000,"reference":"order-1","description":"GPU hours"}"#)
            #expect(retried.status == 201 && retried.json["id"] as? String == first.json["id"] as? String, "\(retried.text)")
            #expect(try await spend(#"{"amount":20000,"reference":"order-1"}"#).status == 422)
            #expect(try await balance(settle, alice) == 140_000)
            let noKey = try await debit(settle, alice, amount: 10_000, key: nil)
            #expect(noKey.status == 400 && noKey.errorCode == "idempotency_key_required", "\(noKey.text)")
            #expect(try await debit(settle, alice, amount: 0).status == 400)
            // Past SETTLE_MAX_AMOUNT (schemathesis found a debit near Int64.max answered 503 once balances overflowed).
            let huge = try await debit(settle, alice, amount: 9_223_372_036_854_775_806)
            #expect(huge.status == 400 && huge.errorCode == "amount_too_large", "\(huge.text)")
            #expect(try await debit(settle, "wal_nothere", amount: 10).status == 404)

            let moved = try await settle.request(
                .POST, "/v1/transfers", json: #"{"from":"\#(alice)","to":"\#(bob)","amount":40000,"reference":"gift"}"#, headers: [("idempotency-key", "gift-1")]
            )
            #expect(moved.status == 201 && moved.json["kind"] as? String == "transfer", "\(moved.text)")
            let again = try await settle.request(
                .POST, "/v1/transfers", json: #"{"from":"\#(alice)","to":"\#(bob)","amount":40000,"reference":"gift"}"#, headers: [("idempotency-key", "gift-1")]
            )
            #expect(again.status == 201 && again.json["id"] as? String == moved.json["id"] as? String, "\(again.text)")
            #expect(again.headers.first(name: "idempotent-replayed") == "true")
            #expect(try await balance(settle, alice) == 100_000)
            #expect(try await balance(settle, bob) == 40_000)
            let transferID = try #require(moved.json["id"] as? String)
            #expect(try await settle.request(.GET, "/v1/transfers/\(transferID)").json["amount"] as? Int == 40_000)
            #expect(try await settle.store.counts().events >= 3)

            let usd = try await wallet(settle, currency: "USD")
            let crossCurrency = try await settle.request(
                .POST, "/v1/transfers", json: #"{"from":"\#(alice)","to":"\#(usd)","amount":1,"reference":"x"}"#, headers: [("idempotency-key", "x-1")]
            )
            #expect(crossCurrency.status == 400 && crossCurrency.errorCode == "wallet_currency", "\(crossCurrency.text)")
            let toItself = try await settle.request(
                .POST, "/v1/transfers", json: #"{"from":"\#(alice)","to":"\#(alice)","amount":1,"reference":"x"}"#, headers: [("idempotency-key", "x-2")]
            )
            #expect(toItself.status == 400 && toItself.errorCode == "same_wallet", "\(toItself.text)")
            let tooMuch = try await settle.request(
                .POST, "/v1/transfers", json: #"{"from":"\#(bob)","to":"\#(alice)","amount":40001,"reference":"x"}"#, headers: [("idempotency-key", "x-3")]
            )
            #expect(tooMuch.status == 402 && tooMuch.errorCode == "insufficient_funds", "\(tooMuch.text)")

            // A wallet created allowing it may go below zero.
            let credit = try await wallet(settle, extra: #","allow_negative":true"#)
            #expect(try await debit(settle, credit, amount: 5_000).status == 201)
            #expect(try await balance(settle, credit) == -5_000)

            let listed = try await settle.request(.GET, "/v1/wallets?limit=2").json
            #expect((listed["data"] as? [[String: Any]])?.count == 2 && listed["has_more"] as? Bool == true)
            try await expectConsistent(settle.store)
        }
    }

    /// A refund of a top-up leaves the wallet first: refused while the balance no longer covers it (nothing refunded,
    /// nothing asked of the provider), allowed with `allow_negative`; a refund that fails gives the wallet its amount back.
    @Test(arguments: Engine.enabled)
    func refundingASpentTopUp(_ engine: Engine) async throws {
        try await withSettle(databaseURL: try await engine.makeDatabaseURL()) { settle in
            let walletID = try await wallet(settle)
            let payment = try await topUp(settle, walletID, amount: 150_000)
            #expect(try await debit(settle, walletID, amount: 100_000).status == 201)

            let refused = try await settle.request(.POST, "/v1/refunds", json: #"{"payment":"\#(payment)"}"#)
            #expect(refused.status == 402 && refused.errorCode == "insufficient_funds", "\(refused.text)")
            #expect(refused.text.contains("holds 50000"), "\(refused.text)")
            #expect((try await settle.request(.GET, "/v1/refunds?payment=\(payment)").json["data"] as? [[String: Any]])?.isEmpty == true)
            #expect(try await settle.request(.GET, "/v1/payments/\(payment)").json["amount_refunded"] as? Int == 0)

            let part = try await settle.request(.POST, "/v1/refunds", json: #"{"payment":"\#(payment)","amount":50000}"#)
            #expect(part.status == 201 && part.json["status"] as? String == "succeeded", "\(part.text)")
            #expect(try await balance(settle, walletID) == 0)
            let rest = try await settle.request(.POST, "/v1/refunds", json: #"{"payment":"\#(payment)","allow_negative":true}"#)
            #expect(rest.status == 201 && rest.json["amount"] as? Int == 100_000, "\(rest.text)")
            #expect(try await balance(settle, walletID) == -100_000)
            #expect(try await settle.store.eventCount(paymentID: payment, type: "wallet.debited") == 2)
            try await expectConsistent(settle.store)

            // A pending refund that fails: the wallet gets its amount back.
            let other = try await wallet(settle)
            let pendingPayment = try await settle.createPayment(amount: 80_000, extra: #","wallet":"\#(other)","metadata":{"sandbox_refunds":"pending"}"#)
            let notifier = settle.notifier
            #expect(try await notifier.send(notifier.message(for: .approve, paymentID: pendingPayment, amount: Money(minorUnits: 80_000, currency: .cop))) == 200)
            let pending = try await settle.request(.POST, "/v1/refunds", json: #"{"payment":"\#(pendingPayment)","amount":30000}"#)
            #expect(pending.status == 201 && pending.json["status"] as? String == "pending", "\(pending.text)")
            #expect(try await balance(settle, other) == 50_000)
            let refundID = try #require(pending.json["id"] as? String)
            let page = try await browse("\(settle.baseURL)/sandbox/refunds/\(refundID)")
            let token = try #require(page.text.range(of: #"name="token" value=""#).map { String(page.text[$0.upperBound...].prefix { $0 != "\"" }) })
            #expect(try await browse("\(settle.baseURL)/sandbox/refunds/\(refundID)", form: [("token", token), ("action", "fail")]).status == 303)
            #expect(try await balance(settle, other) == 80_000)
            let kinds = (try await settle.request(.GET, "/v1/wallets/\(other)/entries").json["data"] as? [[String: Any]] ?? []).compactMap { $0["kind"] as? String }
            #expect(kinds == ["refund_reversal", "refund", "top_up"])
            try await expectConsistent(settle.store)
        }
    }

    /// `verifyLedger` (what `settle ledger verify` runs) names a row altered behind Settle's back.
    @Test(arguments: Engine.enabled)
    func verifyCatchesAlteredRows(_ engine: Engine) async throws {
        try await withSettle(databaseURL: try await engine.makeDatabaseURL()) { settle in
            let walletID = try await wallet(settle)
            let payment = try await topUp(settle, walletID, amount: 150_000)
            #expect(try await debit(settle, walletID, amount: 20_000).status == 201)
            try await expectConsistent(settle.store)

            try await settle.store.write { tx in _ = try await tx.query("UPDATE ledger_accounts SET balance = balance + 1 WHERE id = \(walletID)") }
            #expect(try await settle.store.verifyLedger()?.description.contains("account \(walletID) shows a balance of 130001") == true)
            // The metric (checked at most every five minutes per instance; this is its first check).
            let metrics = try await settle.request(.GET, "/metrics", auth: false).text
            #expect(metrics.contains("settle_ledger_discrepancy 1"), "\(metrics.split(separator: "\n").filter { $0.contains("ledger") })")
            try await settle.store.write { tx in _ = try await tx.query("UPDATE ledger_accounts SET balance = balance - 1 WHERE id = \(walletID)") }
            try await expectConsistent(settle.store)

            try await settle.store.write { tx in
                _ = try await tx.query("UPDATE ledger_entries SET amount = amount - 5 WHERE account_id = \(walletID) AND amount = -20000")
            }
            #expect(try await settle.store.verifyLedger()?.description.hasPrefix("transfer tr_") == true)
            try await settle.store.write { tx in
                _ = try await tx.query("UPDATE ledger_entries SET amount = amount + 5 WHERE account_id = \(walletID) AND amount = -20005")
            }
            try await expectConsistent(settle.store)

            try await settle.store.write { tx in _ = try await tx.query("DELETE FROM ledger_transfers WHERE payment_id = \(payment)") }
            #expect(try await settle.store.verifyLedger() != nil)
        }
    }

    /// Random sequences of top-ups, debits, transfers and refunds (in-process, through the use cases) against a model:
    /// every balance equals the model's, none that may not is ever below zero, and the ledger verifies after each step.
    @Test(arguments: [UInt64(0x5E77_1E), 0xC0FFEE, 0x2026_1202])
    func randomMovementsKeepTheLedgerWhole(seed: UInt64) async throws {
        try await withSettle(databaseURL: try await Engine.sqlite.makeDatabaseURL()) { settle in try await randomMovements(settle, seed: seed) }
    }

    struct TopUp {
        var payment: String
        var wallet: String
        var left: Int
    }

    func randomMovements(_ settle: RunningSettle, seed: UInt64) async throws {
        do {
            var generator = SeededGenerator(seed: seed)
            var wallets: [String] = []
            var model: [String: Int] = [:]
            var topUps: [TopUp] = []
            for _ in 0..<3 {
                let id = try await wallet(settle)
                wallets.append(id)
                model[id] = 0
            }
            for step in 0..<120 {
                let walletID = wallets[Int.random(in: 0..<wallets.count, using: &generator)]
                switch Int.random(in: 0..<4, using: &generator) {
                case 0:
                    let amount = Int64(Int.random(in: 1...20, using: &generator) * 1_000) + 100_000
                    let payment = try await topUp(settle, walletID, amount: amount)
                    model[walletID, default: 0] += Int(amount)
                    topUps.append(TopUp(payment: payment, wallet: walletID, left: Int(amount)))
                case 1:
                    let amount = Int.random(in: 1...60_000, using: &generator)
                    let result = try await debit(settle, walletID, amount: Int64(amount))
                    if amount <= model[walletID, default: 0] {
                        #expect(result.status == 201, "step \(step): \(result.text)")
                        model[walletID, default: 0] -= amount
                    } else {
                        #expect(result.status == 402, "step \(step): \(result.text)")
                    }
                case 2:
                    let target = wallets.filter { $0 != walletID }[Int.random(in: 0..<(wallets.count - 1), using: &generator)]
                    let amount = Int.random(in: 1...60_000, using: &generator)
                    let result = try await settle.request(
                        .POST, "/v1/transfers", json: #"{"from":"\#(walletID)","to":"\#(target)","amount":\#(amount),"reference":"s\#(step)"}"#,
                        headers: [("idempotency-key", "step-\(step)")]
                    )
                    if amount <= model[walletID, default: 0] {
                        #expect(result.status == 201, "step \(step): \(result.text)")
                        model[walletID, default: 0] -= amount
                        model[target, default: 0] += amount
                    } else {
                        #expect(result.status == 402, "step \(step): \(result.text)")
                    }
                default:
                    guard let index = topUps.indices.randomElement(using: &generator), topUps[index].left > 0 else { continue }
                    let entry = topUps[index]
                    let amount = Int.random(in: 1...entry.left, using: &generator)
                    let result = try await settle.request(.POST, "/v1/refunds", json: #"{"payment":"\#(entry.payment)","amount":\#(amount)}"#)
                    if amount <= model[entry.wallet, default: 0] {
                        #expect(result.status == 201, "step \(step): \(result.text)")
                        model[entry.wallet, default: 0] -= amount
                        topUps[index].left -= amount
                    } else {
                        #expect(result.status == 402, "step \(step): \(result.text)")
                    }
                }
                if step % 10 == 9 {
                    for id in wallets { #expect(try await balance(settle, id) == model[id], "step \(step), wallet \(id)") }
                    try await expectConsistent(settle.store)
                }
            }
            #expect(model.values.allSatisfy { $0 >= 0 })
        }
    }
}

/// A small deterministic generator (SplitMix64), so a failing sequence can be replayed.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
