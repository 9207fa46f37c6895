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

/// Settle with `provider: "omise"` against the Omise emulator, over loopback, on every engine: cards on Settle's page
/// tokenized at the vault, 3-D Secure, declines, PromptPay's QR, events that are only hints, refunds, reconciliation;
/// and Omise's official Python SDK against the emulator.
@Suite(.serialized) struct OmiseFlowTests {
    static let secretKey = "skey_test_\(Identifier.randomToken(length: 16))"
    static let publicKey = "pkey_test_\(Identifier.randomToken(length: 16))"
    static let webhookSecret = Data((0..<32).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()

    static func withEmulator<T: Sendable>(_ body: @Sendable (OmiseEmulator) async throws -> T) async throws -> T {
        let emulator = OmiseEmulator(
            configuration: .init(secretKey: secretKey, publicKey: publicKey, webhookSecret: webhookSecret, webhookURL: nil, port: 0),
            httpClient: testHTTPClient
        )
        return try await withRunning(emulator.application(logger: Engine.logger), isRunning: { emulator.isRunning }) { try await body(emulator) }
    }

    func withOmise(_ engine: Engine, _ body: @Sendable (RunningSettle, OmiseEmulator) async throws -> Void) async throws {
        try await Self.withEmulator { emulator in
            try await withSettle(databaseURL: try await engine.makeDatabaseURL(), configure: { configuration in
                configuration.providers["omise"] = [
                    "secret_key": Self.secretKey, "public_key": Self.publicKey, "webhook_secret": Self.webhookSecret,
                    "api_base": emulator.baseURL, "vault_base": emulator.baseURL,
                ]
                configuration.providerClients["omise"] = ProviderClient.Configuration(
                    timeout: .seconds(3), retry: RetryPolicy(maxAttempts: 3, baseDelay: .milliseconds(10), maxDelay: .milliseconds(50))
                )
            }) { settle in
                emulator.webhookURL = "\(settle.baseURL)/v1/webhooks/omise"
                try await body(settle, emulator)
            }
        }
    }

    func create(_ settle: RunningSettle, amount: Int64 = 150_000, currency: String = "THB", method: String? = nil, extra: String = "") async throws
        -> RunningSettle.HTTPResult
    {
        let methodJSON = method.map { #","payment_method":{"type":"\#($0)"}"# } ?? ""
        return try await settle.request(
            .POST, "/v1/payments",
            json: #"{"amount":\#(amount),"currency":"\#(currency)","provider":"omise","reference":"receipt-\#(Identifier.randomToken(length: 6))"\#(methodJSON)\#(extra)}"#
        )
    }

    /// What the card page's script does: the card to the vault with the public key, then the token back to Settle.
    func payOnCardPage(_ settle: RunningSettle, _ emulator: OmiseEmulator, url: String, number: String) async throws -> BrowserPage {
        let page = try await browse(url)
        #expect(page.status == 200, "\(page.text)")
        let vault = try #require(page.text.range(of: #"data-vault=""#).map { String(page.text[$0.upperBound...].prefix { $0 != "\"" }) })
        let key = try #require(page.text.range(of: #"data-key=""#).map { String(page.text[$0.upperBound...].prefix { $0 != "\"" }) })
        #expect(vault == "\(emulator.baseURL)/tokens" && key == Self.publicKey)
        var request = HTTPClientRequest(url: vault)
        request.method = .POST
        request.headers.add(name: "authorization", value: "Basic " + Data("\(key):".utf8).base64EncodedString())
        request.headers.add(name: "content-type", value: "application/json")
        request.body = .bytes(ByteBuffer(string: #"{"card":{"name":"Somchai Prasert","number":"\#(number)","expiration_month":10,"expiration_year":2031,"security_code":"123"}}"#))
        let response = try await testHTTPClient.execute(request, timeout: .seconds(10))
        let token = try JSONSerialization.jsonObject(with: Data(Array(buffer: try await response.body.collect(upTo: 1 << 16)))) as? [String: Any]
        let id = try #require(token?["id"] as? String)
        return try await browse(url, form: [("card_token", id)])
    }

    /// A vault token for a card, as the card page's script gets one.
    func vaultToken(_ emulator: OmiseEmulator, number: String) async throws -> String {
        var request = HTTPClientRequest(url: "\(emulator.baseURL)/tokens")
        request.method = .POST
        request.headers.add(name: "authorization", value: "Basic " + Data("\(Self.publicKey):".utf8).base64EncodedString())
        request.headers.add(name: "content-type", value: "application/json")
        request.body = .bytes(ByteBuffer(string: #"{"card":{"name":"A","number":"\#(number)","expiration_month":10,"expiration_year":2031,"security_code":"1"}}"#))
        let response = try await testHTTPClient.execute(request, timeout: .seconds(10))
        let token = try JSONSerialization.jsonObject(with: Data(Array(buffer: try await response.body.collect(upTo: 1 << 16)))) as? [String: Any]
        return try #require(token?["id"] as? String)
    }

    @Test(arguments: Engine.enabled)
    func cardsOnSettlesPage(_ engine: Engine) async throws {
        try await withOmise(engine) { settle, emulator in
            let providers = try await settle.request(.GET, "/v1/providers").json["data"] as? [[String: Any]] ?? []
            let omise = try #require(providers.first { $0["name"] as? String == "omise" })
            #expect(omise["enabled"] as? Bool == true && omise["modes"] as? [String] == ["test"])
            #expect(omise["payment_methods"] as? [String] == ["checkout", "card", "promptpay"])

            let created = try await create(settle)
            #expect(created.status == 201, "\(created.text)")
            let id = try #require(created.json["id"] as? String)
            let url = try #require(created.json["checkout_url"] as? String)
            #expect(url == "\(settle.baseURL)/pay/\(id)/\(settle.settle.useCases.pageTokens.token(.formPage, paymentID: id))")
            let page = try await browse(url)
            let policy = try #require(page.headers.first(name: "content-security-policy"))
            #expect(policy.contains("connect-src \(emulator.baseURL);") && policy.contains("form-action 'self'") && policy.contains("script-src 'nonce-"))
            // The card's own fields carry no name: only the token is ever posted to Settle.
            let named = page.text.components(separatedBy: "<input").dropFirst().map { $0.prefix { $0 != ">" } }.filter { $0.contains(" name=") }
            #expect(named.count == 1 && named.first?.contains(#"name="card_token""#) == true, "\(named)")
            #expect(page.text.components(separatedBy: "<input").count == 1 + 6)  // the token and the five card fields

            let paid = try await payOnCardPage(settle, emulator, url: url, number: "4242424242424242")
            #expect(paid.status == 303 && paid.location?.hasPrefix("\(settle.baseURL)/checkout/return/\(id)/") == true, "\(paid.status) \(paid.text)")
            #expect(try await settle.paymentStatus(id) == "succeeded")
            let payment = try await settle.request(.GET, "/v1/payments/\(id)").json
            let charge = try #require(payment["provider_payment_id"] as? String)
            #expect(charge.hasPrefix("chrg_test_") && emulator.charge(charge)?.metadata["settle_payment_id"] == id)
            #expect(emulator.charge(charge)?.amount == 150_000 && emulator.charge(charge)?.currency == "thb")
            #expect(try await settle.store.eventCount(paymentID: id, type: "payment.succeeded") == 1)
            // The page again: no second charge, the buyer is sent to the return page.
            let again = try await browse(url, form: [("card_token", "tokn_test_other000000")])
            #expect(again.status == 303 && emulator.apiCalls.filter { $0 == "POST /charges" }.count == 1)

            // A declined card fails the payment with Omise's words.
            let declined = try #require(try await create(settle).json["checkout_url"] as? String)
            let declinedID = try #require(declined.split(separator: "/").dropLast().last.map(String.init))
            _ = try await payOnCardPage(settle, emulator, url: declined, number: "4000000000000002")
            let failed = try await settle.request(.GET, "/v1/payments/\(declinedID)").json
            #expect(failed["status"] as? String == "failed")
            #expect((failed["failure"] as? [String: Any])?["code"] as? String == "insufficient_fund")

            // Something that is not a vault token: 400, nothing charged, the payment still waits.
            let forged = try #require(try await create(settle).json["checkout_url"] as? String)
            let forgedID = try #require(forged.split(separator: "/").dropLast().last.map(String.init))
            let calls = emulator.apiCalls.filter { $0 == "POST /charges" }.count
            #expect(try await browse(forged, form: [("card_token", "4242424242424242")]).status == 400)
            #expect(try await browse(forged, form: []).status == 400)
            #expect(emulator.apiCalls.filter { $0 == "POST /charges" }.count == calls)
            #expect(try await settle.paymentStatus(forgedID) == "requires_action")

            // Two cards posted at once for one payment (a double click, two instances): one charge at Omise.
            let twice = try #require(try await create(settle).json["checkout_url"] as? String)
            let twiceID = try #require(twice.split(separator: "/").dropLast().last.map(String.init))
            let tokens = try await [vaultToken(emulator, number: "4242424242424242"), vaultToken(emulator, number: "4242424242424242")]
            let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                for token in tokens { group.addTask { try await browse(twice, form: [("card_token", token)]).status } }
                return try await group.reduce(into: [Int]()) { $0.append($1) }
            }
            #expect(statuses.allSatisfy { $0 == 303 || $0 == 409 }, "\(statuses)")
            #expect(emulator.charges.filter { $0.metadata["settle_payment_id"] == twiceID }.count == 1)
            #expect(try await settle.paymentStatus(twiceID) == "succeeded")

            // A charge whose answer never reached Settle (its id was never recorded): its event, re-fetched, names the
            // payment in the charge's metadata, and the payment is found.
            let orphan = try #require(try await create(settle).json["id"] as? String)
            var direct = HTTPClientRequest(url: "\(emulator.baseURL)/charges")
            direct.method = .POST
            direct.headers.add(name: "authorization", value: "Basic " + Data("\(Self.secretKey):".utf8).base64EncodedString())
            direct.headers.add(name: "content-type", value: "application/json")
            direct.body = .bytes(ByteBuffer(string: #"{"amount":150000,"currency":"thb","card":"\#(try await vaultToken(emulator, number: "4242424242424242"))","return_uri":"https://x.example/","metadata":{"settle_payment_id":"\#(orphan)"}}"#))
            let made = try JSONSerialization.jsonObject(with: Data(Array(buffer: try await testHTTPClient.execute(direct, timeout: .seconds(10)).body.collect(upTo: 1 << 16)))) as? [String: Any]
            let orphanCharge = try #require(made?["id"] as? String)
            #expect(try await emulator.deliver(try #require(emulator.event(chargeID: orphanCharge))) == 200)
            #expect(try await settle.paymentStatus(orphan) == "succeeded")
            #expect(try await settle.request(.GET, "/v1/payments/\(orphan)").json["provider_payment_id"] as? String == orphanCharge)

            // Refused before anything is stored.
            #expect(try await create(settle, amount: 1999).status == 400)
            #expect(try await create(settle, currency: "EUR").status == 400)
            #expect(try await create(settle, currency: "USD", method: "promptpay").status == 400)
        }
    }

    @Test(arguments: Engine.enabled)
    func threeDSecureAndEventsThatAreOnlyHints(_ engine: Engine) async throws {
        try await withOmise(engine) { settle, emulator in
            let created = try await create(settle, extra: #","return_url":"https://shop.example/done""#)
            let id = try #require(created.json["id"] as? String)
            let secure = try await payOnCardPage(settle, emulator, url: try #require(created.json["checkout_url"] as? String), number: "4000000000003063")
            // The bank's check is on Omise's origin: Settle's page takes the buyer there (a redirect after the card form's
            // POST would be blocked by its form-action).
            #expect(secure.status == 200, "\(secure.status) \(secure.text)")
            let authorize = try #require(secure.text.range(of: #"id="continue" class="approve" href=""#).map { String(secure.text[$0.upperBound...].prefix { $0 != "\"" }) })
            #expect(authorize.hasPrefix("\(emulator.baseURL)/payments/"), "\(authorize)")
            #expect(secure.text.contains("location.replace("))
            #expect(try await settle.paymentStatus(id) == "requires_action")
            let charge = try #require(try await settle.request(.GET, "/v1/payments/\(id)").json["provider_payment_id"] as? String)
            // The card page again, once a charge is made: the return page, never a second card.
            let again = try await browse(try #require(created.json["checkout_url"] as? String))
            #expect(again.status == 303)

            // A correctly signed event whose body lies: Settle asks Omise, which still says pending.
            emulator.faults.lieInEvents = true
            let lie = try #require(emulator.event(chargeID: charge))
            #expect(try await emulator.deliver(lie) == 200)
            #expect(try await settle.paymentStatus(id) == "requires_action")
            emulator.faults.lieInEvents = false
            // A forged or stale signature: 401, nothing stored.
            emulator.faults.badSignature = true
            #expect(try await emulator.deliver(try #require(emulator.event(chargeID: charge))) == 401)
            emulator.faults.badSignature = false

            // The buyer passes 3-D Secure: Omise's event (re-fetched) succeeds the payment; back on Settle's page, the
            // buyer goes on to the shop.
            let back = try await browse(authorize, form: [("action", "approve")])
            #expect(back.status == 302, "\(back.text)")
            #expect(try await settle.paymentStatus(id) == "succeeded")
            let returned = try await browse(try #require(back.location))
            #expect(returned.status == 303 && returned.location == "https://shop.example/done")
            #expect(try await settle.store.eventCount(paymentID: id, type: "payment.succeeded") == 1)

            // The event lost, the return page asks Omise.
            let lost = try await create(settle)
            let lostID = try #require(lost.json["id"] as? String)
            let step = try await payOnCardPage(settle, emulator, url: try #require(lost.json["checkout_url"] as? String), number: "4000000000003063")
            let stepURL = try #require(step.text.range(of: #"href=""#).map { String(step.text[$0.upperBound...].prefix { $0 != "\"" }) })
            emulator.webhookURL = nil
            let lostBack = try await browse(stepURL, form: [("action", "approve")])
            emulator.webhookURL = "\(settle.baseURL)/v1/webhooks/omise"
            #expect(try await settle.paymentStatus(lostID) == "requires_action")
            _ = try await browse(try #require(lostBack.location))
            #expect(try await settle.paymentStatus(lostID) == "succeeded")
        }
    }

    @Test(arguments: Engine.enabled)
    func promptPayShowsItsQR(_ engine: Engine) async throws {
        try await withOmise(engine) { settle, emulator in
            let created = try await create(settle, method: "promptpay")
            #expect(created.status == 201, "\(created.text)")
            let id = try #require(created.json["id"] as? String)
            let url = try #require(created.json["checkout_url"] as? String)
            #expect(url.hasPrefix("\(settle.baseURL)/checkout/return/\(id)/"))
            let charge = try #require(created.json["provider_payment_id"] as? String)
            let page = try await browse(url)
            #expect(page.status == 200 && page.text.contains(#"<img id="qr""#) && page.text.contains("banking app"), "\(page.text)")
            let qr = try await browse(url + "/qr")
            #expect(qr.status == 200 && qr.headers.first(name: "content-type") == "image/svg+xml" && qr.text.contains("<svg"))
            #expect(try await browse(url.replacingOccurrences(of: "/checkout/return/\(id)/", with: "/checkout/return/\(id)/x") + "/qr").status == 404)
            try await emulator.complete(chargeID: charge, status: "successful")
            #expect(try await settle.paymentStatus(id) == "succeeded")
            #expect(try await browse(url + "/qr").status == 404)
            // One left unscanned expires at Omise: so does the payment.
            let unscanned = try await create(settle, method: "promptpay")
            let unscannedID = try #require(unscanned.json["id"] as? String)
            try await emulator.complete(chargeID: try #require(unscanned.json["provider_payment_id"] as? String), status: "expired")
            #expect(try await settle.paymentStatus(unscannedID) == "expired")
            // Omise down while the source is made: nothing half-made is left waiting.
            emulator.faults.failNextAPICalls = 10
            let down = try await create(settle, method: "promptpay")
            emulator.faults.failNextAPICalls = 0
            #expect(down.status == 503 || down.status == 502, "\(down.status) \(down.text)")
        }
    }

    @Test(arguments: Engine.enabled)
    func refundsAndReconciliation(_ engine: Engine) async throws {
        try await withOmise(engine) { settle, emulator in
            let from = Date().addingTimeInterval(-60)
            let created = try await create(settle)
            let id = try #require(created.json["id"] as? String)
            _ = try await payOnCardPage(settle, emulator, url: try #require(created.json["checkout_url"] as? String), number: "4242424242424242")
            let refund = try await settle.request(.POST, "/v1/refunds", json: #"{"payment":"\#(id)","amount":50000}"#)
            #expect(refund.status == 201 && refund.json["status"] as? String == "succeeded", "\(refund.text)")
            let charge = try #require(try await settle.request(.GET, "/v1/payments/\(id)").json["provider_payment_id"] as? String)
            #expect(emulator.charge(charge)?.refundedAmount == 50_000)
            #expect(emulator.charge(charge)?.refunds.first?.id == refund.json["provider_refund_id"] as? String)
            let open = try #require(try await create(settle, method: "promptpay").json["id"] as? String)
            let report = try await settle.reconcile("omise", from: from, to: Date().addingTimeInterval(5), apply: false)
            #expect(report["counts"] as? [String: Int] == [
                "matched": 3, "status_mismatch": 0, "amount_mismatch": 0, "currency_mismatch": 0, "missing_at_provider": 0, "missing_in_settle": 0,
            ], "\(report) \(open)")
        }
    }

    /// Omise's official Python SDK against the emulator, only its base URLs changed (`.ci/run` installs it from PyPI).
    @Test func theOfficialSDKDrivesTheEmulator() async throws {
        try await Self.withEmulator { emulator in
            let (status, text) = try await runSDKScript("omise_sdk.py", arguments: [emulator.baseURL, Self.secretKey, Self.publicKey])
            #expect(status == 0 && text.hasSuffix("ok\n"), "\(text)")
        }
    }
}
