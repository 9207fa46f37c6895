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

/// Settle with `provider: "paystack"` against the Paystack emulator, over loopback, on every engine: a wallet top-up
/// through Paystack's checkout, credited once whether the webhook, the return or the sweep reports it (all at once
/// too); events that are only hints; forged signatures; declines; refunds queued and settled by Paystack's events.
@Suite(.serialized) struct PaystackFlowTests {
    static let secretKey = "sk_test_\(Identifier.randomToken(length: 40))"

    static func withEmulator<T: Sendable>(_ body: @Sendable (PaystackEmulator) async throws -> T) async throws -> T {
        let emulator = PaystackEmulator(configuration: .init(secretKey: secretKey, webhookURL: nil, port: 0), httpClient: testHTTPClient)
        return try await withRunning(emulator.application(logger: Engine.logger), isRunning: { emulator.isRunning }) { try await body(emulator) }
    }

    func withPaystack(_ engine: Engine, _ body: @Sendable (RunningSettle, PaystackEmulator) async throws -> Void) async throws {
        try await Self.withEmulator { emulator in
            try await withSettle(databaseURL: try await engine.makeDatabaseURL(), configure: { configuration in
                configuration.providers["paystack"] = ["secret_key": Self.secretKey, "api_base": emulator.baseURL]
                configuration.providerClients["paystack"] = ProviderClient.Configuration(
                    timeout: .seconds(3), retry: RetryPolicy(maxAttempts: 3, baseDelay: .milliseconds(10), maxDelay: .milliseconds(50))
                )
            }) { settle in
                emulator.webhookURL = "\(settle.baseURL)/v1/webhooks/paystack"
                try await body(settle, emulator)
            }
        }
    }

    func create(_ settle: RunningSettle, amount: Int64 = 500_000, currency: String = "NGN", extra: String = #","customer":{"email":"ada@example.com"}"#)
        async throws -> RunningSettle.HTTPResult
    {
        try await settle.request(
            .POST, "/v1/payments",
            json: #"{"amount":\#(amount),"currency":"\#(currency)","provider":"paystack","reference":"topup-\#(Identifier.randomToken(length: 6))"\#(extra)}"#
        )
    }

    func wallet(_ settle: RunningSettle) async throws -> String {
        let created = try await settle.request(.POST, "/v1/wallets", json: #"{"reference":"app-user-\#(Identifier.randomToken(length: 5))","currency":"NGN"}"#)
        return try #require(created.json["id"] as? String)
    }

    /// The buyer on Paystack's checkout presses `action` (`pay`, `fail`, `abandon`); answers where Paystack sends them.
    func checkout(_ url: String, _ action: String) async throws -> String {
        let page = try await browse(url)
        #expect(page.status == 200 && page.text.contains(#"id="\#(action)""#), "\(page.status) \(page.text)")
        let answer = try await browse(url, form: [("action", action)])
        #expect(answer.status == 303 || answer.status == 302, "\(answer.status) \(answer.text)")
        return try #require(answer.location)
    }

    @Test(arguments: Engine.enabled)
    func aTopUpThroughPaystacksCheckoutIsVerifiedAndCreditedOnce(_ engine: Engine) async throws {
        try await withPaystack(engine) { settle, emulator in
            let providers = try await settle.request(.GET, "/v1/providers").json["data"] as? [[String: Any]] ?? []
            let paystack = try #require(providers.first { $0["name"] as? String == "paystack" })
            #expect(paystack["enabled"] as? Bool == true && paystack["modes"] as? [String] == ["test"])

            let walletID = try await wallet(settle)
            let created = try await create(settle, extra: #","customer":{"email":"ada@example.com"},"wallet":"\#(walletID)","return_url":"https://app.example/wallet""#)
            #expect(created.status == 201, "\(created.text)")
            let id = try #require(created.json["id"] as? String)
            let reference = try #require(created.json["provider_payment_id"] as? String)
            #expect(reference == id.replacingOccurrences(of: "_", with: "-"))
            let transaction = try #require(emulator.transaction(reference: reference))
            #expect(transaction.amount == 500_000 && transaction.currency == "NGN" && transaction.email == "ada@example.com")
            #expect(transaction.callbackURL?.hasPrefix("\(settle.baseURL)/checkout/return/\(id)/") == true)
            #expect(transaction.metadata?.contains(#""settle_payment_id":"\#(id)""#) == true, "\(transaction.metadata ?? "")")
            let url = try #require(created.json["checkout_url"] as? String)
            #expect(url == "\(emulator.baseURL)/checkout/\(transaction.accessCode)")

            // The buyer pays: charge.success (a hint) makes Settle verify; the wallet is credited once.
            let back = try await checkout(url, "pay")
            #expect(back.hasPrefix("\(settle.baseURL)/checkout/return/\(id)/") && back.contains("reference="), "\(back)")
            #expect(try await settle.paymentStatus(id) == "succeeded")
            #expect(emulator.apiCalls.contains("GET /transaction/verify/\(reference)"))
            let returned = try await browse(back)
            #expect(returned.status == 303 && returned.location == "https://app.example/wallet", "\(returned.status) \(returned.text)")
            // Paystack repeats its event: stored once, nothing more.
            let again = try #require(emulator.event(reference: reference))
            #expect(try await emulator.deliver(again) == 200)
            #expect(try await settle.request(.GET, "/v1/wallets/\(walletID)").json["balance"] as? Int == 500_000)
            #expect(try await settle.store.eventCount(paymentID: id, type: "wallet.credited") == 1)
            #expect(try await settle.store.eventCount(paymentID: id, type: "payment.succeeded") == 1)

            // Another top-up, approved while Settle heard nothing; then the return, the event and the sweep at once.
            emulator.webhookURL = nil
            let raced = try await create(settle, extra: #","customer":{"email":"ada@example.com"},"wallet":"\#(walletID)""#)
            let racedID = try #require(raced.json["id"] as? String)
            let racedReference = try #require(raced.json["provider_payment_id"] as? String)
            let racedBack = try await checkout(try #require(raced.json["checkout_url"] as? String), "pay")
            emulator.webhookURL = "\(settle.baseURL)/v1/webhooks/paystack"
            #expect(try await settle.paymentStatus(racedID) == "requires_action")
            let event = try #require(emulator.event(reference: racedReference))
            let sweeper = Sweeper(store: settle.store, providers: settle.settle.providers, logger: Engine.logger, now: { Date().addingTimeInterval(200) })
            let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<3 { group.addTask { try await browse(racedBack).status } }
                for _ in 0..<3 { group.addTask { try await emulator.deliver(event) } }
                group.addTask {
                    _ = try await sweeper.pollOpen()
                    return 0
                }
                return try await group.reduce(into: [Int]()) { $0.append($1) }
            }
            #expect(statuses.allSatisfy { [0, 200, 303].contains($0) }, "\(statuses)")
            #expect(try await settle.paymentStatus(racedID) == "succeeded")
            #expect(try await settle.request(.GET, "/v1/wallets/\(walletID)").json["balance"] as? Int == 1_000_000)
            #expect(try await settle.store.eventCount(paymentID: racedID, type: "wallet.credited") == 1)
            #expect(try await settle.store.verifyLedger() == nil)

            // Refused before Paystack is asked: no email, a currency Settle does not take through Paystack.
            let calls = emulator.apiCalls.count
            #expect(try await create(settle, extra: "").status == 400)
            #expect(try await create(settle, currency: "EUR").status == 400)
            #expect(emulator.apiCalls.count == calls)
        }
    }

    /// Two instances on one PostgreSQL database: the buyer's return on one, Paystack's event (twice) on the other, the
    /// sweep on both, all at once, for three top-ups of one wallet: each credited once.
    @Test(.enabled(if: Engine.enabled.contains(.postgres)))
    func aTopUpReportedEverywhereOnTwoInstancesIsCreditedOnce() async throws {
        let url = try await Engine.postgres.makeDatabaseURL()
        try await Self.withEmulator { emulator in
            let configure: @Sendable (inout SettleConfiguration) -> Void = { configuration in
                configuration.providers["paystack"] = ["secret_key": Self.secretKey, "api_base": emulator.baseURL]
            }
            try await withSettle(databaseURL: url, configure: configure) { first in
                try await withSettle(databaseURL: url, configure: configure) { second in
                    let walletID = try await wallet(first)
                    for round in 1...3 {
                        emulator.webhookURL = nil
                        let created = try await create(first, extra: #","customer":{"email":"ada@example.com"},"wallet":"\#(walletID)""#)
                        let id = try #require(created.json["id"] as? String)
                        let reference = try #require(created.json["provider_payment_id"] as? String)
                        let back = try await checkout(try #require(created.json["checkout_url"] as? String), "pay")
                        emulator.webhookURL = "\(second.baseURL)/v1/webhooks/paystack"
                        let event = try #require(emulator.event(reference: reference))
                        let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                            for _ in 0..<2 { group.addTask { try await browse(back).status } }
                            for _ in 0..<2 { group.addTask { try await emulator.deliver(event) } }
                            for instance in [first, second] {
                                group.addTask {
                                    let sweeper = Sweeper(
                                        store: instance.store, providers: instance.settle.providers, logger: Engine.logger, now: { Date().addingTimeInterval(200) }
                                    )
                                    _ = try await sweeper.pollOpen()
                                    return 0
                                }
                            }
                            return try await group.reduce(into: [Int]()) { $0.append($1) }
                        }
                        #expect(statuses.allSatisfy { [0, 200, 303].contains($0) }, "\(statuses)")
                        #expect(try await second.paymentStatus(id) == "succeeded")
                        #expect(try await second.store.eventCount(paymentID: id, type: "wallet.credited") == 1)
                        #expect(try await first.request(.GET, "/v1/wallets/\(walletID)").json["balance"] as? Int == 500_000 * round)
                    }
                    #expect(try await first.store.verifyLedger() == nil)
                }
            }
        }
    }

    @Test(arguments: Engine.enabled)
    func eventsAreHintsAndSignaturesAreChecked(_ engine: Engine) async throws {
        try await withPaystack(engine) { settle, emulator in
            let created = try await create(settle)
            let id = try #require(created.json["id"] as? String)
            let reference = try #require(created.json["provider_payment_id"] as? String)

            // Correctly signed, but the transaction is not paid: verify says so, nothing changes.
            emulator.faults.lieInEvents = true
            let lie = try #require(emulator.event(reference: reference))
            emulator.faults.lieInEvents = false
            #expect(try await emulator.deliver(lie) == 200)
            #expect(try await settle.paymentStatus(id) == "requires_action")

            // Signed with another key, or the body altered: 401, nothing stored.
            let stored = try await settle.store.counts().notifications
            emulator.faults.badSignature = true
            let forged = try #require(emulator.event(reference: reference))
            emulator.faults.badSignature = false
            #expect(try await emulator.deliver(forged) == 401)
            var altered = try #require(emulator.event(reference: reference))
            altered.body = Array(String(decoding: altered.body, as: UTF8.self).replacingOccurrences(of: "abandoned", with: "success").utf8)
            #expect(try await emulator.deliver(altered) == 401)
            var unsigned = try #require(emulator.event(reference: reference))
            unsigned.headers.removeAll { $0.0.lowercased() == "x-paystack-signature" }
            #expect(try await emulator.deliver(unsigned) == 401)
            #expect(try await settle.store.counts().notifications == stored)

            // Paystack down while verifying: 503, so Paystack sends it again.
            // The buyer pays. Paystack's charge.success carries the key the lying one had (its name and the transaction's
            // id), so it is stored as a repeat; the sweep's verify finds the payment.
            try await emulator.complete(reference: reference, status: "success")
            #expect(try await settle.paymentStatus(id) == "requires_action")
            let sweeper = Sweeper(store: settle.store, providers: settle.settle.providers, logger: Engine.logger, now: { Date().addingTimeInterval(200) })
            _ = try await sweeper.pollOpen()
            #expect(try await settle.paymentStatus(id) == "succeeded")
            let downCreated = try await create(settle)
            let downID = try #require(downCreated.json["id"] as? String)
            let downReference = try #require(downCreated.json["provider_payment_id"] as? String)
            emulator.webhookURL = nil
            try await emulator.complete(reference: downReference, status: "success")
            emulator.webhookURL = "\(settle.baseURL)/v1/webhooks/paystack"
            emulator.faults.failNextAPICalls = 10
            #expect(try await emulator.deliver(try #require(emulator.event(reference: downReference))) == 503)
            emulator.faults.failNextAPICalls = 0
            #expect(try await settle.paymentStatus(downID) == "requires_action")
            #expect(try await emulator.deliver(try #require(emulator.event(reference: downReference))) == 200)
            #expect(try await settle.paymentStatus(downID) == "succeeded")

            // A declined checkout: the return page verifies and fails the payment with Paystack's words.
            let declined = try await create(settle)
            let declinedID = try #require(declined.json["id"] as? String)
            let back = try await checkout(try #require(declined.json["checkout_url"] as? String), "fail")
            _ = try await browse(back)
            let failed = try await settle.request(.GET, "/v1/payments/\(declinedID)").json
            #expect(failed["status"] as? String == "failed", "\(failed)")
            #expect((failed["failure"] as? [String: Any])?["message"] as? String == "Declined")
            // Abandoned: the payment keeps waiting (it expires on its own).
            let abandoned = try await create(settle)
            let abandonedID = try #require(abandoned.json["id"] as? String)
            _ = try await browse(try await checkout(try #require(abandoned.json["checkout_url"] as? String), "abandon"))
            #expect(try await settle.paymentStatus(abandonedID) == "requires_action")
        }
    }

    /// Refunds are queued at Paystack and settled by `refund.processed` / `refund.failed`; a top-up's failed refund gives
    /// the wallet its amount back.
    @Test(arguments: Engine.enabled)
    func refundsAreSettledByPaystacksEvents(_ engine: Engine) async throws {
        try await withPaystack(engine) { settle, emulator in
            let walletID = try await wallet(settle)
            let created = try await create(settle, extra: #","customer":{"email":"ada@example.com"},"wallet":"\#(walletID)""#)
            let id = try #require(created.json["id"] as? String)
            _ = try await checkout(try #require(created.json["checkout_url"] as? String), "pay")
            #expect(try await settle.paymentStatus(id) == "succeeded")

            let part = try await settle.request(.POST, "/v1/refunds", json: #"{"payment":"\#(id)","amount":200000}"#)
            #expect(part.status == 201 && part.json["status"] as? String == "pending", "\(part.text)")
            #expect(try await settle.request(.GET, "/v1/wallets/\(walletID)").json["balance"] as? Int == 300_000)
            await emulator.flushEvents()  // refund.processed
            let partID = try #require(part.json["id"] as? String)
            #expect(try await settle.request(.GET, "/v1/refunds/\(partID)").json["status"] as? String == "succeeded")
            #expect(try await settle.request(.GET, "/v1/payments/\(id)").json["amount_refunded"] as? Int == 200_000)

            emulator.faults.pendingRefunds = true
            let rest = try await settle.request(.POST, "/v1/refunds", json: #"{"payment":"\#(id)"}"#)
            #expect(rest.status == 201 && rest.json["status"] as? String == "pending" && rest.json["amount"] as? Int == 300_000, "\(rest.text)")
            #expect(try await settle.request(.GET, "/v1/wallets/\(walletID)").json["balance"] as? Int == 0)
            let providerRefundID = try #require(rest.json["provider_refund_id"] as? String)
            let paystackRefund = try #require(Int64(providerRefundID))
            await emulator.settleRefund(paystackRefund, processed: false)
            let restID = try #require(rest.json["id"] as? String)
            #expect(try await settle.request(.GET, "/v1/refunds/\(restID)").json["status"] as? String == "failed")
            #expect(try await settle.request(.GET, "/v1/wallets/\(walletID)").json["balance"] as? Int == 300_000)
            #expect(try await settle.store.verifyLedger() == nil)
        }
    }
}
