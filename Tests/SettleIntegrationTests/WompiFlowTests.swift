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
import Synchronization
import Testing

/// Settle with `provider: "wompi"` against the Wompi emulator, over loopback, on every engine: every method end to
/// end, each sandbox outcome, the buyer's return with a lost event, the sweep, forged and replayed events, the bank
/// list, API failures.
@Suite(.serialized) struct WompiFlowTests {
    static let publicKey = "pub_test_\(Identifier.randomToken(length: 16))"
    static let privateKey = "prv_test_\(Identifier.randomToken(length: 16))"
    static let eventsSecret = "test_events_\(Identifier.randomToken(length: 16))"
    static let integritySecret = "test_integrity_\(Identifier.randomToken(length: 16))"

    static func emulator(eventsURL: String? = nil) -> WompiEmulator {
        WompiEmulator(
            configuration: .init(
                publicKey: publicKey, privateKey: privateKey, eventsSecret: eventsSecret, integritySecret: integritySecret,
                eventsURL: eventsURL, port: 0
            ),
            httpClient: testHTTPClient
        )
    }

    static func withEmulator<T: Sendable>(_ body: @Sendable (WompiEmulator) async throws -> T) async throws -> T {
        let emulator = Self.emulator()
        return try await withRunning(emulator.application(logger: Engine.logger), isRunning: { emulator.isRunning }) { try await body(emulator) }
    }

    static func settings(_ emulator: WompiEmulator) -> ProviderSettings {
        [
            "public_key": publicKey, "private_key": privateKey, "events_secret": eventsSecret, "integrity_secret": integritySecret,
            "api_base": "\(emulator.baseURL)/v1", "checkout_base": "\(emulator.baseURL)/p/",
        ]
    }

    func withWompi(
        _ engine: Engine, configure: @escaping @Sendable (inout SettleConfiguration) -> Void = { _ in },
        _ body: @Sendable (RunningSettle, WompiEmulator) async throws -> Void
    ) async throws {
        try await Self.withEmulator { emulator in
            try await withSettle(databaseURL: try await engine.makeDatabaseURL(), configure: { configuration in
                configuration.providers["wompi"] = Self.settings(emulator)
                configuration.providerClients["wompi"] = ProviderClient.Configuration(
                    timeout: .seconds(3), retry: RetryPolicy(maxAttempts: 3, baseDelay: .milliseconds(10), maxDelay: .milliseconds(50))
                )
                configure(&configuration)
            }) { settle in
                emulator.eventsURL = "\(settle.baseURL)/v1/webhooks/wompi"
                try await body(settle, emulator)
            }
        }
    }

    /// A payment through the API; returns its JSON.
    func create(
        _ settle: RunningSettle, amount: Int64 = 5_000_000, method: String? = nil,
        customer: String = #"{"email":"comprador@example.com","name":"Ana Pérez"}"#, extra: String = ""
    ) async throws -> [String: Any] {
        let methodJSON = method.map { #","payment_method":\#($0)"# } ?? ""
        let result = try await settle.request(
            .POST, "/v1/payments",
            json: #"{"amount":\#(amount),"currency":"COP","provider":"wompi","reference":"order-\#(Identifier.randomToken(length: 6))","return_url":"https://shop.example/thanks","customer":\#(customer)\#(methodJSON)\#(extra)}"#
        )
        #expect(result.status == 201, "\(result.text)")
        return result.json
    }

    /// Pays a checkout link by card on the emulator's Web Checkout; returns where Wompi sends the buyer back.
    func payByCard(_ checkoutURL: String, card: String) async throws -> String {
        let page = try await browse(checkoutURL)
        #expect(page.status == 200, "\(page.text)")
        let session = try #require(page.text.range(of: #"name="session" value=""#).map { range in
            String(page.text[range.upperBound...].prefix { $0 != "\"" })
        })
        let paid = try await browse(checkoutURL.components(separatedBy: "/p/")[0] + "/p/pay", form: [("session", session), ("card_number", card)])
        #expect(paid.status == 302)
        return try #require(paid.location)
    }

    func payment(_ settle: RunningSettle, _ id: String) async throws -> [String: Any] {
        try await settle.request(.GET, "/v1/payments/\(id)").json
    }

    @Test(arguments: Engine.enabled)
    func cardsOnWebCheckoutApproveAndDecline(_ engine: Engine) async throws {
        try await withWompi(engine) { settle, emulator in
            let providers = try await settle.request(.GET, "/v1/providers").json["data"] as? [[String: Any]] ?? []
            let wompi = try #require(providers.first { $0["name"] as? String == "wompi" })
            #expect(wompi["enabled"] as? Bool == true && wompi["modes"] as? [String] == ["test"])
            #expect(wompi["payment_methods"] as? [String] == ["checkout", "pse", "nequi", "bancolombia_transfer"])

            let created = try await create(settle)
            let id = try #require(created["id"] as? String)
            let url = try #require(created["checkout_url"] as? String)
            #expect(url.hasPrefix("\(emulator.baseURL)/p/?public-key=\(Self.publicKey)&currency=COP&amount-in-cents=5000000&reference=\(id)&signature%3Aintegrity="))
            let returnPage = settle.baseURL.replacingOccurrences(of: ":", with: "%3A").replacingOccurrences(of: "/", with: "%2F")
            #expect(url.contains("&redirect-url=\(returnPage)%2Fcheckout%2Freturn%2F\(id)%2F"), "\(url)")
            #expect(url.hasSuffix("&customer-data%3Aemail=comprador%40example.com&customer-data%3Afull-name=Ana%20P%C3%A9rez"))
            #expect(created["provider_payment_id"] is NSNull)

            let back = try await payByCard(url, card: "4242 4242 4242 4242")
            #expect(back.hasPrefix("\(settle.baseURL)/checkout/return/\(id)/"), "\(back)")
            #expect(back.contains("?id="))
            #expect(try await settle.paymentStatus(id) == "succeeded")
            let returned = try await browse(back)
            #expect(returned.status == 303 && returned.location == "https://shop.example/thanks")
            #expect(try await settle.store.eventCount(paymentID: id, type: "payment.succeeded") == 1)

            let declined = try await create(settle)
            let declinedID = try #require(declined["id"] as? String)
            _ = try await payByCard(try #require(declined["checkout_url"] as? String), card: "4111111111111111")
            let failed = try await payment(settle, declinedID)
            #expect(failed["status"] as? String == "failed")
            #expect((failed["failure"] as? [String: Any])?["code"] as? String == "declined")
            #expect((failed["failure"] as? [String: Any])?["message"] as? String == "Fondos insuficientes")

            // Wompi refuses a link whose amount was changed after Settle signed it.
            let tampered = url.replacingOccurrences(of: "amount-in-cents=5000000", with: "amount-in-cents=500000")
            let refused = try await browse(tampered)
            #expect(refused.status == 403 && refused.text.contains("firma de integridad"))
        }
    }

    /// Amounts that are not whole pesos, other currencies and PSE without its fields: 400 before anything is stored.
    @Test(arguments: Engine.enabled)
    func refusedBeforeAnythingIsStored(_ engine: Engine) async throws {
        try await withWompi(engine) { settle, emulator in
            for (body, param) in [
                (#"{"amount":5000050,"currency":"COP","provider":"wompi","reference":"r1"}"#, "amount"),
                (#"{"amount":5000,"currency":"USD","provider":"wompi","reference":"r2"}"#, "currency"),
                (#"{"amount":5000000,"currency":"COP","provider":"wompi","reference":"r3","customer":{"email":"a@example.com"},"payment_method":{"type":"pse","bank":"1"}}"#, "payment_method.user_type"),
                (#"{"amount":5000000,"currency":"COP","provider":"wompi","reference":"r4","payment_method":{"type":"nequi","phone":"3991111111"}}"#, "customer.email"),
            ] {
                let refused = try await settle.request(.POST, "/v1/payments", json: body)
                #expect(refused.status == 400, "\(refused.text)")
                #expect((refused.json["error"] as? [String: Any])?["param"] as? String == param, "\(refused.text)")
            }
            #expect((try await settle.request(.GET, "/v1/payments").json["data"] as? [Any])?.isEmpty == true)
            #expect(emulator.apiCalls.isEmpty)
        }
    }

    /// PSE: the bank's page, bank `1` approves and `2` declines; Bancolombia: approve. The PSE request is pinned to
    /// hand-written JSON with a signature computed here.
    @Test(arguments: Engine.enabled)
    func pseAndBancolombiaGoToTheBank(_ engine: Engine) async throws {
        try await withWompi(engine) { settle, emulator in
            let pse = #"{"type":"pse","bank":"1","user_type":"natural","legal_id_type":"CC","legal_id":"1032456789"}"#
            let created = try await create(settle, method: pse, extra: #","description":"Suscripción anual al marketplace de Bogotá""#)
            let id = try #require(created["id"] as? String)
            let transaction = try #require(created["provider_payment_id"] as? String)
            #expect(created["checkout_url"] as? String == "\(emulator.baseURL)/bank/\(transaction)")

            let sent = try #require(emulator.receivedCreateBodies.last)
            let expiration = try #require(sent.range(of: #""expiration_time":""#).map { String(sent[$0.upperBound...].prefix { $0 != "\"" }) })
            #expect(expiration.count == 24 && expiration.hasSuffix(".000Z"))
            let signature = SHA256.hash(data: Array("\(id)5000000COP\(expiration)\(Self.integritySecret)".utf8)).map { String(format: "%02x", $0) }.joined()
            let token = settle.settle.useCases.pageTokens.token(.returnPage, paymentID: id)
            #expect(
                sent == #"{"acceptance_token":"\#(emulator.acceptanceToken)","accept_personal_auth":"#
                    + #""\#(try #require(sent.range(of: #""accept_personal_auth":""#).map { String(sent[$0.upperBound...].prefix { $0 != "\"" }) }))","#
                    + #""amount_in_cents":5000000,"currency":"COP","signature":"\#(signature)","customer_email":"comprador@example.com","#
                    + #""reference":"\#(id)","payment_method":{"type":"PSE","user_type":0,"user_legal_id_type":"CC","user_legal_id":"1032456789","#
                    + #""financial_institution_code":"1","payment_description":"Suscripción anual al marketpla"},"#
                    + #""redirect_url":"\#(settle.baseURL)/checkout/return/\#(id)/\#(token)","expiration_time":"\#(expiration)","#
                    + #""customer_data":{"full_name":"Ana Pérez","legal_id":"1032456789","legal_id_type":"CC"}}"#
            )

            let bank = try await browse(try #require(created["checkout_url"] as? String))
            #expect(bank.status == 200 && bank.text.contains("Banco que aprueba"))
            let back = try await browse("\(emulator.baseURL)/bank/\(transaction)", form: [("action", "pay")])
            #expect(back.location == "\(settle.baseURL)/checkout/return/\(id)/\(token)?id=\(transaction)")
            #expect(try await settle.paymentStatus(id) == "succeeded")

            let declining = try await create(settle, method: pse.replacingOccurrences(of: #""bank":"1""#, with: #""bank":"2""#))
            let declinedTransaction = try #require(declining["provider_payment_id"] as? String)
            _ = try await browse("\(emulator.baseURL)/bank/\(declinedTransaction)", form: [("action", "pay")])
            #expect(try await settle.paymentStatus(try #require(declining["id"] as? String)) == "failed")

            let bancolombia = try await create(settle, method: #"{"type":"bancolombia_transfer"}"#)
            let bancolombiaTransaction = try #require(bancolombia["provider_payment_id"] as? String)
            #expect(bancolombia["checkout_url"] as? String == "\(emulator.baseURL)/bank/\(bancolombiaTransaction)")
            _ = try await browse("\(emulator.baseURL)/bank/\(bancolombiaTransaction)", form: [("action", "approve")])
            #expect(try await settle.paymentStatus(try #require(bancolombia["id"] as? String)) == "succeeded")
        }
    }

    /// Nequi: the buyer waits on Settle's page (instructions, refreshing) while approving in the app; the sandbox
    /// numbers decide; the waiting page then sends the buyer to the merchant.
    @Test(arguments: Engine.enabled)
    func nequiWaitsOnSettlesPage(_ engine: Engine) async throws {
        try await withWompi(engine) { settle, emulator in
            let created = try await create(settle, method: #"{"type":"nequi","phone":"3991111111"}"#)
            let id = try #require(created["id"] as? String)
            let transaction = try #require(created["provider_payment_id"] as? String)
            let waiting = try #require(created["checkout_url"] as? String)
            #expect(waiting.hasPrefix("\(settle.baseURL)/checkout/return/\(id)/"))
            let page = try await browse(waiting)
            #expect(page.status == 200 && page.text.contains("phone ending in 1111") && page.text.contains(#"http-equiv="refresh""#), "\(page.text)")
            #expect(try await settle.paymentStatus(id) == "processing")  // Wompi's PENDING event
            try await emulator.respondInNequi(transactionID: transaction)
            #expect(try await settle.paymentStatus(id) == "succeeded")
            let done = try await browse(waiting)
            #expect(done.status == 303 && done.location == "https://shop.example/thanks")

            // The number from the customer's phone; 3992222222 declines.
            let declining = try await create(settle, method: #"{"type":"nequi"}"#, customer: #"{"email":"b@example.com","phone":"+57 399 222 2222"}"#)
            try await emulator.respondInNequi(transactionID: try #require(declining["provider_payment_id"] as? String))
            #expect(try await settle.paymentStatus(try #require(declining["id"] as? String)) == "failed")

            // Any other sandbox number: Wompi's ERROR, a failure with its message.
            let erring = try await create(settle, method: #"{"type":"nequi","phone":"3993333333"}"#)
            try await emulator.respondInNequi(transactionID: try #require(erring["provider_payment_id"] as? String))
            let failed = try await payment(settle, try #require(erring["id"] as? String))
            #expect(failed["status"] as? String == "failed")
            #expect((failed["failure"] as? [String: Any])?["code"] as? String == "error")
        }
    }

    /// Events lost: the buyer's return asks Wompi for the transaction it names and settles the payment once; a
    /// transaction of another payment named there changes nothing; a buyer who never comes back is settled by the
    /// sweep, by reference (no transaction id known) or by id.
    @Test(arguments: Engine.enabled)
    func lostEventsAreRecoveredOnReturnAndByTheSweep(_ engine: Engine) async throws {
        try await withWompi(engine) { settle, emulator in
            emulator.eventsURL = nil
            let first = try await create(settle)
            let firstID = try #require(first["id"] as? String)
            let back = try await payByCard(try #require(first["checkout_url"] as? String), card: "4242424242424242")
            #expect(try await settle.paymentStatus(firstID) == "requires_action")
            for _ in 0..<2 {
                let returned = try await browse(back)
                #expect(returned.status == 303 && returned.location == "https://shop.example/thanks")
            }
            #expect(try await settle.paymentStatus(firstID) == "succeeded")
            #expect(try await settle.store.eventCount(paymentID: firstID, type: "payment.succeeded") == 1)
            let firstTransaction = String(try #require(back.split(separator: "=").last))

            // Another payment's return link naming the first payment's transaction: nothing happens to it.
            let other = try await create(settle)
            let otherID = try #require(other["id"] as? String)
            let token = settle.settle.useCases.pageTokens.token(.returnPage, paymentID: otherID)
            let forged = try await browse("\(settle.baseURL)/checkout/return/\(otherID)/\(token)?id=\(firstTransaction)")
            #expect(forged.status == 200)
            #expect(try await settle.paymentStatus(otherID) == "requires_action")

            // Paid, events lost, never back: the sweep asks by reference once the payment has been quiet.
            _ = try await payByCard(try #require(other["checkout_url"] as? String), card: "4242424242424242")
            let pse = try await create(settle, method: #"{"type":"pse","bank":"2","user_type":"legal","legal_id_type":"NIT","legal_id":"900123456-7"}"#)
            let pseID = try #require(pse["id"] as? String)
            _ = try await browse("\(emulator.baseURL)/bank/\(try #require(pse["provider_payment_id"] as? String))", form: [("action", "pay")])
            let providers = settle.settle.useCases.providers
            let early = Sweeper(store: settle.store, providers: providers, logger: Engine.logger)
            #expect(try await early.pollOpen() == 0)  // not quiet long enough yet
            let later = Sweeper(store: settle.store, providers: providers, logger: Engine.logger, now: { Date().addingTimeInterval(600) })
            #expect(try await later.pollOpen() == 2)
            #expect(try await settle.paymentStatus(otherID) == "succeeded")
            let failed = try await payment(settle, pseID)
            #expect(failed["status"] as? String == "failed")
            #expect((failed["failure"] as? [String: Any])?["message"] as? String == "Transacción rechazada por el banco")
            #expect(try await settle.request(.GET, "/v1/payments/\(otherID)").json["provider_payment_id"] as? String != nil)
            #expect(try await later.pollOpen() == 0)  // settled payments are not asked again
        }
    }

    /// Forged, tampered, replayed, stale, reordered, duplicated, out-of-order and mismatched events.
    @Test(arguments: Engine.enabled)
    func eventsAreVerifiedAndAppliedOnce(_ engine: Engine) async throws {
        try await withWompi(engine) { settle, emulator in
            let created = try await create(settle, method: #"{"type":"nequi","phone":"3991111111"}"#)
            let id = try #require(created["id"] as? String)
            let transaction = try #require(created["provider_payment_id"] as? String)
            let pending = try #require(emulator.event(transactionID: transaction))
            try await emulator.finish(transactionID: transaction, status: "APPROVED", message: nil)

            // Forged secret, a body changed after signing, a stale timestamp, no checksum: 401, nothing changes.
            let other = try await create(settle, method: #"{"type":"nequi","phone":"3991111111"}"#)
            let otherID = try #require(other["id"] as? String)
            let otherTransaction = try #require(other["provider_payment_id"] as? String)
            try await emulator.finish(transactionID: otherTransaction, status: "PENDING", message: nil)  // no change, re-sent
            var approved = try #require(emulator.event(transactionID: otherTransaction, secret: "test_events_forged000000"))
            approved.id = "forged"
            let url = "/v1/webhooks/wompi"
            func post(_ body: [UInt8], headers: [(String, String)] = []) async throws -> Int {
                try await settle.request(.POST, url, headers: headers, auth: false, contentType: "application/json", rawBody: body).status
            }
            let approvedState = try #require(emulator.event(transactionID: otherTransaction)).body
            #expect(try await post(approved.body) == 401)
            let tampered = Array(String(decoding: approvedState, as: UTF8.self).replacingOccurrences(of: #""status":"PENDING""#, with: #""status":"APPROVED""#).utf8)
            #expect(try await post(tampered) == 401)
            let stale = try #require(emulator.event(transactionID: otherTransaction, timestamp: Int64(Date().timeIntervalSince1970) - 37 * 3600))
            #expect(try await post(stale.body) == 401)
            #expect(try await post(Array(#"{"event":"transaction.updated","data":{"transaction":{"id":"x","status":"APPROVED","reference":"\#(otherID)","amount_in_cents":5000000,"currency":"COP"}}}"#.utf8)) == 401)
            #expect(try await settle.paymentStatus(otherID) == "processing")

            // The late PENDING after APPROVED, a duplicate APPROVED: one change.
            #expect(try await emulator.deliver(pending) == 200)
            #expect(try await emulator.sendEvent(transactionID: transaction) == 200)
            #expect(try await settle.paymentStatus(id) == "succeeded")
            #expect(try await settle.store.eventCount(paymentID: id, type: "payment.succeeded") == 1)

            // Properties listed in another order still verify.
            var faults = emulator.faults
            faults.reorderProperties = true
            faults.duplicateEvents = true
            emulator.faults = faults
            try await emulator.respondInNequi(transactionID: otherTransaction)
            #expect(try await settle.paymentStatus(otherID) == "succeeded")
            #expect(try await settle.store.eventCount(paymentID: otherID, type: "payment.succeeded") == 1)
            emulator.faults = .init()

            // Wompi signs the id, status and amount, not the reference. A genuine event replayed with another
            // payment's reference still verifies, but what it does not sign is read from Wompi by the signed id: it
            // applies to its own payment (already succeeded: nothing), never to the renamed one.
            // The genuine event is intercepted before Settle sees it and sent renamed.
            let victim = try await create(settle, method: #"{"type":"nequi","phone":"3991111111"}"#)
            let victimID = try #require(victim["id"] as? String)
            let paid = try await create(settle, method: #"{"type":"nequi","phone":"3991111111"}"#)
            let paidID = try #require(paid["id"] as? String)
            let paidTransaction = try #require(paid["provider_payment_id"] as? String)
            emulator.eventsURL = nil
            try await emulator.finish(transactionID: paidTransaction, status: "APPROVED", message: nil)
            emulator.eventsURL = "\(settle.baseURL)/v1/webhooks/wompi"
            let genuine = try #require(emulator.event(transactionID: paidTransaction))
            let renamed = Array(String(decoding: genuine.body, as: UTF8.self).replacingOccurrences(of: paidID, with: victimID).utf8)
            #expect(renamed != genuine.body)
            #expect(try await post(renamed) == 200)
            #expect(try await settle.paymentStatus(victimID) == "processing", "a renamed event paid another payment")
            #expect(try await settle.paymentStatus(paidID) == "succeeded")

            // Wompi's API down while confirming: 503, nothing stored, so Wompi sends it again.
            emulator.faults.failNextAPICalls = 100
            #expect(try await post(genuine.body) == 503)
            emulator.faults = .init()
        }
    }

    /// A mismatched amount in an event that signs every field it carries (so Settle takes it as it is) sends the
    /// payment to review.
    @Test(arguments: Engine.enabled)
    func aMismatchedAmountGoesToReview(_ engine: Engine) async throws {
        try await withWompi(engine) { settle, emulator in
            emulator.eventsURL = nil
            let created = try await create(settle, method: #"{"type":"nequi","phone":"3991111111"}"#)
            let id = try #require(created["id"] as? String)
            let transaction = try #require(created["provider_payment_id"] as? String)
            try await emulator.finish(transactionID: transaction, status: "APPROVED", message: nil)
            emulator.eventsURL = "\(settle.baseURL)/v1/webhooks/wompi"
            let everyField = ["transaction.id", "transaction.status", "transaction.amount_in_cents", "transaction.currency", "transaction.reference"]
            let event = try #require(emulator.event(transactionID: transaction, amountInCents: 4_999_900, properties: everyField))
            #expect(try await emulator.deliver(event) == 200)
            #expect(try await settle.paymentStatus(id) == "requires_review")
            #expect(!emulator.apiCalls.contains("GET /v1/transactions/\(transaction)"), "a fully signed event was confirmed with the API")
        }
    }

    /// A void after approval is a full refund, with its event; a void before any success changes nothing.
    @Test(arguments: Engine.enabled)
    func aVoidAfterApprovalIsAFullRefund(_ engine: Engine) async throws {
        try await withWompi(engine) { settle, emulator in
            let created = try await create(settle)
            let id = try #require(created["id"] as? String)
            let back = try await payByCard(try #require(created["checkout_url"] as? String), card: "4242424242424242")
            let transaction = String(try #require(back.split(separator: "=").last))
            var void = HTTPClientRequest(url: "\(emulator.baseURL)/v1/transactions/\(transaction)/void")
            void.method = .POST
            void.headers.add(name: "authorization", value: "Bearer \(Self.privateKey)")
            #expect(try await testHTTPClient.execute(void, timeout: .seconds(10)).status == .ok)
            let refunded = try await payment(settle, id)
            #expect(refunded["status"] as? String == "succeeded")
            #expect(refunded["amount_refunded"] as? Int == 5_000_000)
            #expect(try await settle.store.eventCount(paymentID: id, type: "payment.refunded") == 1)
            #expect(try await emulator.sendEvent(transactionID: transaction) == 200)  // the VOIDED event again
            #expect(try await settle.store.eventCount(paymentID: id, type: "payment.refunded") == 1)
            // A void made at Wompi is a refund too.
            let refunds = try await settle.request(.GET, "/v1/refunds?payment=\(id)").json["data"] as? [[String: Any]] ?? []
            #expect(refunds.map { $0["status"] as? String } == ["succeeded"] && refunds.first?["provider_refund_id"] as? String == transaction)
        }
    }

    /// A refund asked of Settle voids the card payment at Wompi, in full; a part is refused before anything is asked;
    /// a PSE payment's refund waits for an operator.
    @Test(arguments: Engine.enabled)
    func refundsVoidCardPaymentsInFull(_ engine: Engine) async throws {
        try await withWompi(engine) { settle, emulator in
            let created = try await create(settle)
            let id = try #require(created["id"] as? String)
            _ = try await payByCard(try #require(created["checkout_url"] as? String), card: "4242424242424242")
            #expect(try await settle.paymentStatus(id) == "succeeded")
            let part = try await settle.request(.POST, "/v1/refunds", json: #"{"payment":"\#(id)","amount":1000000}"#)
            #expect(part.status == 400 && (part.json["error"] as? [String: Any])?["code"] as? String == "refund_not_supported", "\(part.text)")
            let full = try await settle.request(.POST, "/v1/refunds", json: #"{"payment":"\#(id)"}"#)
            #expect(full.status == 201 && full.json["status"] as? String == "succeeded", "\(full.text)")
            let transaction = try #require(full.json["provider_refund_id"] as? String)
            #expect(emulator.transaction(transaction)?.status == "VOIDED")
            #expect(emulator.apiCalls.contains("POST /v1/transactions/\(transaction)/void"))
            let payment = try await payment(settle, id)
            #expect(payment["amount_refunded"] as? Int == 5_000_000 && payment["refunded"] as? Bool == true)
            #expect(try await settle.store.eventCount(paymentID: id, type: "refund.succeeded") == 1)
            #expect(try await settle.store.eventCount(paymentID: id, type: "payment.refunded") == 1)
            let refunds = try await settle.request(.GET, "/v1/refunds?payment=\(id)").json["data"] as? [[String: Any]] ?? []
            #expect(refunds.count == 1, "the VOIDED event made a second refund")

            let pse = try await create(settle, method: #"{"type":"pse","bank":"1","user_type":"natural","legal_id_type":"CC","legal_id":"1020304050"}"#)
            let pseID = try #require(pse["id"] as? String)
            _ = try await browse("\(emulator.baseURL)/bank/\(try #require(pse["provider_payment_id"] as? String))", form: [("action", "pay")])
            #expect(try await settle.paymentStatus(pseID) == "succeeded")
            let manual = try await settle.request(.POST, "/v1/refunds", json: #"{"payment":"\#(pseID)","amount":1000000}"#)
            #expect(manual.status == 201 && manual.json["status"] as? String == "requires_action", "\(manual.text)")
        }
    }

    @Test(arguments: Engine.enabled)
    func pseBanksAreListedAndCached(_ engine: Engine) async throws {
        try await withWompi(engine) { settle, emulator in
            for _ in 0..<2 {
                let banks = try await settle.request(.GET, "/v1/providers/wompi/pse_banks")
                #expect(banks.status == 200, "\(banks.text)")
                let data = banks.json["data"] as? [[String: String]]
                #expect(data == [["code": "1", "name": "Banco que aprueba"], ["code": "2", "name": "Banco que declina"]])
                #expect(banks.json["stale"] as? Bool == false && banks.json["object"] as? String == "list")
            }
            #expect(emulator.apiCalls.filter { $0.hasSuffix("/v1/pse/financial_institutions") }.count == 1)
            #expect(try await settle.request(.GET, "/v1/providers/wompi/nothing").status == 404)
            #expect(try await settle.request(.GET, "/v1/providers/stripe/pse_banks").status == 404)
            #expect(try await settle.request(.GET, "/v1/providers/wompi/pse_banks", auth: false).status == 401)
        }
    }

    /// Served for a day; then fetched again; when Wompi is down, the last list, marked stale with its age; with
    /// nothing fetched yet, Wompi being down is an error.
    @Test func theBankListIsServedStaleWhenWompiIsDown() async throws {
        try await Self.withEmulator { emulator in
            let clock = Mutex(Date())
            let context = ProviderContext(
                httpClient: testHTTPClient, logger: Engine.logger, now: { clock.withLock { $0 } },
                client: .init(timeout: .seconds(2), retry: RetryPolicy(maxAttempts: 1), breakerThreshold: 100)
            )
            let provider = WompiProvider.make(settings: Self.settings(emulator), context: context)
            var faults = emulator.faults
            faults.failNextAPICalls = 1
            emulator.faults = faults
            await #expect(throws: ProviderError.self) { _ = try await provider.resource("pse_banks", mode: .test) }
            let first = try #require(try await provider.resource("pse_banks", mode: .test))
            #expect(first.items.count == 2 && !first.stale)
            clock.withLock { $0 = $0.addingTimeInterval(23 * 3600) }
            #expect(try await provider.resource("pse_banks", mode: .test)?.stale == false)
            #expect(emulator.apiCalls.count == 2)
            clock.withLock { $0 = $0.addingTimeInterval(2 * 3600) }
            faults.failNextAPICalls = 1
            emulator.faults = faults
            let stale = try #require(try await provider.resource("pse_banks", mode: .test))
            #expect(stale.stale && stale.items == first.items && stale.fetchedAt == first.fetchedAt)
            #expect(try await provider.resource("pse_banks", mode: .test)?.stale == false)  // Wompi is back
            #expect(emulator.apiCalls.count == 4)
        }
    }

    @Test(arguments: Engine.enabled)
    func apiFailuresRetryThenTheBreakerOpens(_ engine: Engine) async throws {
        try await withWompi(engine, configure: {
            $0.providerClients["wompi"]?.breakerThreshold = 2
            $0.providerClients["wompi"]?.breakerCooldown = .seconds(30)
        }) { settle, emulator in
            // One 500 on the merchant's tokens: retried. The create itself is never sent twice.
            var faults = emulator.faults
            faults.failNextAPICalls = 1
            emulator.faults = faults
            let created = try await create(settle, method: #"{"type":"nequi","phone":"3991111111"}"#)
            #expect(created["status"] as? String != "failed")
            #expect(emulator.apiCalls.filter { $0.hasPrefix("GET /v1/merchants/") }.count == 2)

            // Slow answers time out; Wompi failing for good: typed 503s, failed payments, then the breaker is open.
            faults.failNextAPICalls = 1000
            emulator.faults = faults
            let body = #"{"amount":5000000,"currency":"COP","provider":"wompi","reference":"r","customer":{"email":"c@example.com"},"payment_method":{"type":"nequi","phone":"3991111111"}}"#
            for _ in 0..<2 {
                let failed = try await settle.request(.POST, "/v1/payments", json: body)
                #expect(failed.status == 503 && failed.errorCode == "provider_unavailable", "\(failed.text)")
            }
            let calls = emulator.apiCalls.count
            let fast = try await settle.request(.POST, "/v1/payments", json: body)
            #expect(fast.status == 503 && fast.text.contains("circuit open"), "\(fast.text)")
            #expect(emulator.apiCalls.count == calls)
            let failed = try await settle.request(.GET, "/v1/payments?status=failed").json["data"] as? [[String: Any]] ?? []
            #expect(failed.count == 3)
        }
    }

    @Test func keysOfTwoEnvironmentsAreRefusedAtStartup() async throws {
        do {
            _ = try await withSettle(databaseURL: try await Engine.sqlite.makeDatabaseURL(), configure: { configuration in
                configuration.providers["wompi"] = [
                    "public_key": Self.publicKey, "private_key": "prv_prod_\(Identifier.randomToken(length: 16))",
                    "events_secret": Self.eventsSecret, "integrity_secret": Self.integritySecret,
                ]
            }) { _ in Issue.record("Settle started with test and production Wompi keys") }
        } catch let error as SettleError {
            #expect(error.code == .configurationRefused)
            #expect(error.message.contains("SETTLE_WOMPI_PRIVATE_KEY is a production credential"))
            #expect(!error.message.contains(Self.eventsSecret))
        }
    }

    /// Reconciliation asks Wompi about each payment (by its transaction, else by reference): a card payment whose
    /// event and return were both lost is found, and applied with `apply`; a voided payment is its refund.
    @Test(arguments: Engine.enabled)
    func reconcileAsksAboutEachPayment(_ engine: Engine) async throws {
        try await withWompi(engine) { settle, emulator in
            let from = Date().addingTimeInterval(-60)
            let paid = try #require(try await create(settle)["id"] as? String)
            let refunded = try await create(settle)
            let refundedID = try #require(refunded["id"] as? String)
            _ = try await payByCard(try #require(try await payment(settle, paid)["checkout_url"] as? String), card: "4242424242424242")
            _ = try await payByCard(try #require(refunded["checkout_url"] as? String), card: "4242424242424242")
            let full = try await settle.request(.POST, "/v1/refunds", json: #"{"payment":"\#(refundedID)"}"#)
            #expect(full.status == 201 && full.json["status"] as? String == "succeeded", "\(full.text)")
            let open = try #require(try await create(settle)["id"] as? String)
            let lost = try await create(settle)
            let lostID = try #require(lost["id"] as? String)
            emulator.eventsURL = nil  // its event never arrives, and the buyer never comes back
            _ = try await payByCard(try #require(lost["checkout_url"] as? String), card: "4242424242424242")
            emulator.eventsURL = "\(settle.baseURL)/v1/webhooks/wompi"
            #expect(try await settle.paymentStatus(lostID) == "requires_action")
            let to = Date().addingTimeInterval(5)

            let report = try await settle.reconcile("wompi", from: from, to: to, apply: false)
            #expect(report["counts"] as? [String: Int] == [
                "matched": 4, "status_mismatch": 1, "amount_mismatch": 0, "currency_mismatch": 0, "missing_at_provider": 0, "missing_in_settle": 0,
            ], "\(report)")
            let items = try await settle.request(.GET, "/v1/reconciliations/\(try #require(report["id"] as? String))/items?limit=100").json["data"] as? [[String: Any]] ?? []
            #expect(items.first { $0["payment"] as? String == lostID }?["class"] as? String == "status_mismatch")
            #expect(items.first { $0["payment"] as? String == open }?["class"] as? String == "matched")
            #expect(items.contains { $0["type"] as? String == "refund" && $0["payment"] as? String == refundedID && $0["class"] as? String == "matched" })
            let applied = try await settle.reconcile("wompi", from: from, to: to, apply: true)
            #expect(applied["applied"] as? Int == 1, "\(applied)")
            #expect(try await settle.paymentStatus(lostID) == "succeeded")
            #expect(try await settle.paymentStatus(paid) == "succeeded")
        }
    }
}
