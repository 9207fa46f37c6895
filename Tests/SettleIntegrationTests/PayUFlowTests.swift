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
import Testing

/// Settle with `provider: "payu"` against the PayU emulator, over loopback, on every engine: the WebCheckout form
/// posted from Settle's page, PSE and Efecty cash end to end, confirmations repeated with new transaction ids, forged,
/// tampered and stale-format confirmations, an amount mismatch, the response page's tampered query, a lost
/// confirmation found by the sweep, and an expired voucher.
@Suite(.serialized) struct PayUFlowTests {
    static let apiKey = "ApiKey\(Identifier.randomToken(length: 20))"
    static let apiLogin = "Login\(Identifier.randomToken(length: 10))"

    static func withEmulator<T: Sendable>(_ body: @Sendable (PayUEmulator) async throws -> T) async throws -> T {
        let emulator = PayUEmulator(configuration: .init(apiKey: apiKey, apiLogin: apiLogin, port: 0), httpClient: testHTTPClient)
        return try await withRunning(emulator.application(logger: Engine.logger), isRunning: { emulator.isRunning }) { try await body(emulator) }
    }

    func withPayU(_ engine: Engine, _ body: @Sendable (RunningSettle, PayUEmulator) async throws -> Void) async throws {
        try await Self.withEmulator { emulator in
            try await withSettle(databaseURL: try await engine.makeDatabaseURL(), configure: { configuration in
                configuration.providers["payu"] = [
                    "merchant_id": "508029", "account_id": "512321", "api_key": Self.apiKey, "api_login": Self.apiLogin,
                    "checkout_base": emulator.checkoutURL, "api_base": emulator.apiURL, "reports_base": emulator.reportsURL,
                ]
                configuration.providerClients["payu"] = ProviderClient.Configuration(
                    timeout: .seconds(3), retry: RetryPolicy(maxAttempts: 3, baseDelay: .milliseconds(10), maxDelay: .milliseconds(50))
                )
            }) { settle in
                try await body(settle, emulator)
            }
        }
    }

    func create(
        _ settle: RunningSettle, amount: Int64 = 15_000_000, method: String? = nil, extra: String = "", returnURL: Bool = true,
        customer: String = #"{"email":"comprador@example.com","name":"Ana Pérez","phone":"3001234567"}"#
    ) async throws -> [String: Any] {
        let methodJSON = method.map { #","payment_method":\#($0)"# } ?? ""
        let result = try await settle.request(
            .POST, "/v1/payments",
            json: #"{"amount":\#(amount),"currency":"COP","provider":"payu","reference":"order-\#(Identifier.randomToken(length: 6))","description":"Pedido de prueba"\#(returnURL ? #","return_url":"https://shop.example/thanks""# : ""),"customer":\#(customer)\#(methodJSON)\#(extra)}"#
        )
        #expect(result.status == 201, "\(result.text)")
        return result.json
    }

    /// The form on Settle's page: its action and hidden fields, as a browser reads them.
    static func form(in html: String) throws -> (action: String, fields: [(String, String)]) {
        func attribute(_ name: String, in tag: Substring) -> String? {
            guard let start = tag.range(of: "\(name)=\"") else { return nil }
            return unescape(String(tag[start.upperBound...].prefix { $0 != "\"" }))
        }
        let formTag = try #require(html.range(of: "<form ").map { html[$0.lowerBound...].prefix { $0 != ">" } })
        let action = try #require(attribute("action", in: formTag))
        var fields: [(String, String)] = []
        var rest = html[...]
        while let open = rest.range(of: "<input ") {
            let tag = rest[open.lowerBound...].prefix { $0 != ">" }
            if let name = attribute("name", in: tag) { fields.append((name, attribute("value", in: tag) ?? "")) }
            rest = rest[open.upperBound...]
        }
        return (action, fields)
    }

    static func unescape(_ text: String) -> String {
        text.replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&#39;", with: "'").replacingOccurrences(of: "&lt;", with: "<")
            .replacingOccurrences(of: "&gt;", with: ">").replacingOccurrences(of: "&amp;", with: "&")
    }

    /// Opens the checkout link on Settle, posts its form to PayU's WebCheckout and picks an outcome on the card page;
    /// returns where PayU sends the buyer back.
    func payOnWebCheckout(_ checkoutURL: String, outcome: String) async throws -> String {
        let page = try await browse(checkoutURL)
        #expect(page.status == 200, "\(page.text)")
        let (action, fields) = try Self.form(in: page.text)
        let card = try await browse(action, form: fields)
        #expect(card.status == 200, "\(card.text)")
        let order = try #require(try Self.form(in: card.text).fields.first { $0.0 == "order" }?.1)
        let paid = try await browse(action.hasSuffix("/") ? action + "pay" : action + "/pay", form: [("order", order), ("outcome", outcome)])
        #expect(paid.status == 302, "\(paid.text)")
        return try #require(paid.location)
    }

    func notificationRows(_ settle: RunningSettle, paymentID: String) async throws -> Int64 {
        try await settle.store.read { connection in
            try await connection.query("SELECT COUNT(*) AS n FROM notifications WHERE payment_id = \(paymentID)").first?.int("n") ?? 0
        }
    }

    // MARK: - Cards on WebCheckout

    @Test(arguments: Engine.enabled)
    func cardsOnWebCheckout(_ engine: Engine) async throws {
        try await withPayU(engine) { settle, emulator in
            let providers = try await settle.request(.GET, "/v1/providers").json["data"] as? [[String: Any]] ?? []
            let payu = try #require(providers.first { $0["name"] as? String == "payu" })
            #expect(payu["enabled"] as? Bool == true && payu["modes"] as? [String] == ["test"])
            #expect(payu["payment_methods"] as? [String] == ["checkout", "pse", "cash"])

            let created = try await create(settle)
            let id = try #require(created["id"] as? String)
            let url = try #require(created["checkout_url"] as? String)
            let token = settle.settle.useCases.pageTokens.token(.formPage, paymentID: id)
            #expect(url == "\(settle.baseURL)/pay/\(id)/\(token)")

            // Settle's page: the signed form, submitted on load by a script its policy allows, posting only to PayU.
            let page = try await browse(url)
            #expect(page.status == 200)
            let policy = try #require(page.headers.first(name: "content-security-policy"))
            let origin = String(emulator.baseURL)
            #expect(policy.contains("form-action \(origin);") && policy.contains("script-src 'nonce-"), "\(policy)")
            #expect(page.text.contains(#"<script nonce=""#) && page.text.contains(#"<button type="submit""#))
            let (action, fields) = try Self.form(in: page.text)
            #expect(action == emulator.checkoutURL)
            #expect(fields.map(\.0) == [
                "merchantId", "accountId", "description", "referenceCode", "amount", "tax", "taxReturnBase", "currency", "signature",
                "algorithmSignature", "buyerEmail", "buyerFullName", "telephone", "test", "responseUrl", "confirmationUrl",
            ])
            #expect(fields.first { $0.0 == "amount" }?.1 == "150000" && fields.first { $0.0 == "referenceCode" }?.1 == id)
            #expect(fields.first { $0.0 == "confirmationUrl" }?.1 == "\(settle.baseURL)/v1/webhooks/payu")
            // Without the token, nothing.
            #expect(try await browse("\(settle.baseURL)/pay/\(id)/wrong").status == 404)

            // PayU refuses a form whose amount was changed after Settle signed it.
            let tampered = fields.map { $0.0 == "amount" ? ($0.0, "1500") : $0 }
            let refused = try await browse(action, form: tampered)
            #expect(refused.status == 403 && refused.text.contains("Firma inválida"))

            // Approved: the confirmation arrives before the buyer is back; the return page then sends them on.
            let back = try await payOnWebCheckout(url, outcome: "approve")
            #expect(back.hasPrefix("\(settle.baseURL)/checkout/return/\(id)/"), "\(back)")
            #expect(try await settle.paymentStatus(id) == "succeeded")
            let returned = try await browse(back)
            #expect(returned.status == 303 && returned.location == "https://shop.example/thanks")
            #expect(try await settle.store.eventCount(paymentID: id, type: "payment.succeeded") == 1)
            // The link now leads to the return page.
            let again = try await browse(url)
            #expect(again.status == 303 && again.location?.contains("/checkout/return/\(id)/") == true)

            let declined = try await create(settle)
            let declinedID = try #require(declined["id"] as? String)
            _ = try await payOnWebCheckout(try #require(declined["checkout_url"] as? String), outcome: "decline")
            let failed = try await settle.request(.GET, "/v1/payments/\(declinedID)").json
            #expect(failed["status"] as? String == "failed")
            // PayU's words, from its queries API (the confirmation's response code is not signed).
            #expect(failed["failure"] as? [String: String] == ["code": "entity_declined", "message": "ENTITY_DECLINED"])
        }
    }

    /// PayU sends each confirmation again with a new transaction id: three deliveries, one change, one stored row.
    @Test(arguments: Engine.enabled)
    func aConfirmationThreeTimesChangesOnce(_ engine: Engine) async throws {
        try await withPayU(engine) { settle, emulator in
            emulator.faults.extraConfirmations = 2
            let created = try await create(settle)
            let id = try #require(created["id"] as? String)
            _ = try await payOnWebCheckout(try #require(created["checkout_url"] as? String), outcome: "approve")
            let order = try #require(emulator.order(referenceCode: id))
            let sent = emulator.sentConfirmations.filter { $0.hasPrefix("\(order.id):4:") }
            #expect(sent.count == 3)
            #expect(Set(sent).count == 3, "the retries must carry new transaction ids")
            #expect(try await settle.paymentStatus(id) == "succeeded")
            #expect(try await settle.store.eventCount(paymentID: id, type: "payment.succeeded") == 1)
            #expect(try await notificationRows(settle, paymentID: id) == 1)
        }
    }

    /// Two tabs, one payment, an account that lets a reference be paid twice: the second approval changes nothing but
    /// is stored flagged, naming both orders.
    @Test(arguments: Engine.enabled)
    func aSecondApprovedOrderIsFlagged(_ engine: Engine) async throws {
        try await withPayU(engine) { settle, emulator in
            emulator.faults.allowPaidReference = true
            let created = try await create(settle)
            let id = try #require(created["id"] as? String)
            let url = try #require(created["checkout_url"] as? String)
            let (action, fields) = try Self.form(in: try await browse(url).text)
            for _ in 0..<2 {
                let card = try await browse(action, form: fields)
                let order = try #require(try Self.form(in: card.text).fields.first { $0.0 == "order" }?.1)
                #expect(try await browse(action + "pay", form: [("order", order), ("outcome", "approve")]).status == 302)
            }
            #expect(try await settle.paymentStatus(id) == "succeeded")
            #expect(try await settle.store.eventCount(paymentID: id, type: "payment.succeeded") == 1)
            let flagged = try await settle.store.read { connection in
                try await connection.query("SELECT COUNT(*) AS n FROM notifications WHERE payment_id = \(id) AND detail LIKE 'another_provider_payment_succeeded%'").first?.int("n") ?? 0
            }
            #expect(flagged == 1)
        }
    }

    /// Forged, tampered, unsigned and stale-format confirmations: 401, nothing changes; a mismatched amount that PayU
    /// signed goes to review.
    @Test(arguments: Engine.enabled)
    func confirmationsAreVerified(_ engine: Engine) async throws {
        try await withPayU(engine) { settle, emulator in
            emulator.faults.dropConfirmations = true
            let created = try await create(settle)
            let id = try #require(created["id"] as? String)
            _ = try await payOnWebCheckout(try #require(created["checkout_url"] as? String), outcome: "approve")
            #expect(try await settle.paymentStatus(id) == "requires_action")
            let order = try #require(emulator.order(referenceCode: id))
            let url = "\(settle.baseURL)/v1/webhooks/payu"
            for forged in [
                emulator.confirmation(orderID: order.id, signWithKey: "AnotherApiKey0000000000"),
                emulator.confirmation(orderID: order.id, omitSign: true),
            ] {
                #expect(try await emulator.deliver(try #require(forged), to: url) == 401)
            }
            // The body changed after signing: the state 4 sign over a state 6 body, and a value altered.
            let genuine = try #require(emulator.confirmation(orderID: order.id))
            let body = String(decoding: genuine.body, as: UTF8.self)
            for altered in [body.replacingOccurrences(of: "state_pol=4", with: "state_pol=6"), body.replacingOccurrences(of: "value=150000.00", with: "value=1500.00")] {
                #expect(altered != body)
                #expect(try await emulator.deliver((genuine.headers, Array(altered.utf8)), to: url) == 401)
            }
            #expect(try await settle.paymentStatus(id) == "requires_action")
            #expect(try await emulator.deliver(genuine, to: url) == 200)
            #expect(try await settle.paymentStatus(id) == "succeeded")

            // The order is not signed: the same genuine sign naming another order is refused (PayU holds no such order for
            // this payment), and a replay after the success changes nothing.
            let renamed = body.replacingOccurrences(of: "reference_pol=\(order.id)", with: "reference_pol=\(order.id + 9000)")
            #expect(renamed != body)
            #expect(try await emulator.deliver((genuine.headers, Array(renamed.utf8)), to: url) == 401)
            #expect(try await emulator.deliver(genuine, to: url) == 200)
            #expect(try await notificationRows(settle, paymentID: id) == 1)

            // PayU's record says another amount than the payment's: review, never success.
            let other = try await create(settle)
            let otherID = try #require(other["id"] as? String)
            _ = try await payOnWebCheckout(try #require(other["checkout_url"] as? String), outcome: "approve")
            let otherOrder = try #require(emulator.order(referenceCode: otherID))
            emulator.alter(orderID: otherOrder.id, cents: 14_999_900)
            #expect(try await emulator.deliver(try #require(emulator.confirmation(orderID: otherOrder.id)), to: url) == 200)
            #expect(try await settle.paymentStatus(otherID) == "requires_review")

            // JSON, as some accounts send it, is read the same way.
            emulator.faults.confirmationsAsJSON = true
            let third = try await create(settle)
            let thirdID = try #require(third["id"] as? String)
            _ = try await payOnWebCheckout(try #require(third["checkout_url"] as? String), outcome: "approve")
            let thirdOrder = try #require(emulator.order(referenceCode: thirdID))
            let json = try #require(emulator.confirmation(orderID: thirdOrder.id))
            #expect(json.headers.contains { $0.0 == "content-type" && $0.1.hasPrefix("application/json") })
            #expect(try await emulator.deliver(json, to: url) == 200)
            #expect(try await settle.paymentStatus(thirdID) == "succeeded")
        }
    }

    /// The response page's query is verified and never applied: a tampered one shows an error page and changes
    /// nothing; a genuine one is confirmed with PayU's queries API.
    @Test(arguments: Engine.enabled)
    func theResponsePageIsCheckedWithPayU(_ engine: Engine) async throws {
        try await withPayU(engine) { settle, emulator in
            emulator.faults.dropConfirmations = true
            let created = try await create(settle)
            let id = try #require(created["id"] as? String)
            let back = try await payOnWebCheckout(try #require(created["checkout_url"] as? String), outcome: "approve")
            let order = try #require(emulator.order(referenceCode: id))
            let base = String(back.prefix { $0 != "?" })
            let queries = emulator.commands.filter { $0 == "reports:ORDER_DETAIL_BY_REFERENCE_CODE" }.count
            let tampered = try await browse("\(base)?\(try #require(emulator.responseQuery(orderID: order.id, tamper: true)))")
            #expect(tampered.status == 400 && tampered.text.contains("provider_response_unverified"), "\(tampered.text)")
            #expect(try await settle.paymentStatus(id) == "requires_action")
            #expect(emulator.commands.filter { $0 == "reports:ORDER_DETAIL_BY_REFERENCE_CODE" }.count == queries, "a tampered query reached PayU")

            let returned = try await browse(back)
            #expect(returned.status == 303 && returned.location == "https://shop.example/thanks")
            #expect(try await settle.paymentStatus(id) == "succeeded")
            #expect(emulator.commands.contains("reports:ORDER_DETAIL_BY_REFERENCE_CODE"))

            // A query that verifies but says APPROVED while PayU holds the order pending: PayU's word wins, and the
            // waiting page refreshes without the query, so PayU is not asked on every reload.
            let pending = try await create(settle, returnURL: false)
            let pendingID = try #require(pending["id"] as? String)
            let pendingBack = try await payOnWebCheckout(try #require(pending["checkout_url"] as? String), outcome: "pending")
            let pendingOrder = try #require(emulator.order(referenceCode: pendingID))
            let claimed = try await browse("\(String(pendingBack.prefix { $0 != "?" }))?\(try #require(emulator.responseQuery(orderID: pendingOrder.id, claimState: "APPROVED")))")
            #expect(claimed.status == 200)
            #expect(try await settle.paymentStatus(pendingID) == "processing")
            let refresh = try #require(claimed.text.range(of: #"http-equiv="refresh" content="5;url="#).map { claimed.text[$0.upperBound...].prefix { $0 != "\"" } })
            #expect(!refresh.contains("?") && refresh.hasPrefix("/checkout/return/\(pendingID)/"), "\(refresh)")
        }
    }

    /// A lost confirmation: the sweep asks PayU's queries API once the payment has been quiet, and a checkout the buyer
    /// never submitted (PayU holds no order for it) simply expires.
    @Test(arguments: Engine.enabled)
    func aLostConfirmationIsFoundByTheSweep(_ engine: Engine) async throws {
        try await withPayU(engine) { settle, emulator in
            emulator.faults.dropConfirmations = true
            let created = try await create(settle)
            let id = try #require(created["id"] as? String)
            _ = try await payOnWebCheckout(try #require(created["checkout_url"] as? String), outcome: "approve")
            let abandoned = try await create(settle, extra: #","expires_in":900"#)
            let abandonedID = try #require(abandoned["id"] as? String)
            let providers = settle.settle.useCases.providers
            #expect(try await Sweeper(store: settle.store, providers: providers, logger: Engine.logger).pollOpen() == 0)
            let later = Sweeper(store: settle.store, providers: providers, logger: Engine.logger, now: { Date().addingTimeInterval(600) })
            #expect(try await later.pollOpen() == 2)
            #expect(try await settle.paymentStatus(id) == "succeeded")
            #expect(try await settle.request(.GET, "/v1/payments/\(id)").json["provider_payment_id"] as? String == String(try #require(emulator.order(referenceCode: id)).id))
            #expect(try await settle.paymentStatus(abandonedID) == "requires_action")
            // Past its expiry PayU has no order for it (its answer is an error; a PING shows the credentials are good).
            let overdue = Sweeper(store: settle.store, providers: providers, logger: Engine.logger, now: { Date().addingTimeInterval(1000) })
            // PayU refusing the query is no answer: nothing expires on an error.
            emulator.faults.unknownReferenceIsError = true
            #expect(try await overdue.expireDue() == 0)
            #expect(try await settle.paymentStatus(abandonedID) == "requires_action")
            emulator.faults.unknownReferenceIsError = false
            #expect(try await overdue.expireDue() == 1)
            #expect(try await settle.paymentStatus(abandonedID) == "expired")
        }
    }

    // MARK: - PSE

    @Test(arguments: Engine.enabled)
    func pseGoesToTheBank(_ engine: Engine) async throws {
        try await withPayU(engine) { settle, emulator in
            let banks = try await settle.request(.GET, "/v1/providers/payu/pse_banks")
            #expect(banks.status == 200, "\(banks.text)")
            #expect(banks.json["data"] as? [[String: String]] == [["code": "1022", "name": "BANCO QUE APRUEBA"], ["code": "1051", "name": "BANCO QUE RECHAZA"]])
            _ = try await settle.request(.GET, "/v1/providers/payu/pse_banks")
            #expect(emulator.commands.filter { $0 == "payments:GET_BANKS_LIST" }.count == 1)

            let pse = #"{"type":"pse","bank":"1022","user_type":"natural","legal_id_type":"CC","legal_id":"1020304050"}"#
            let created = try await create(settle, method: pse)
            let id = try #require(created["id"] as? String)
            let order = try #require(emulator.order(referenceCode: id))
            #expect(created["provider_payment_id"] as? String == String(order.id))
            #expect(created["checkout_url"] as? String == "\(emulator.baseURL)/pse/\(order.id)")
            #expect(order.paymentMethod == "PSE" && order.amount == "150000")
            let submitted = try #require(emulator.apiBodies.last { $0.contains("SUBMIT_TRANSACTION") })
            #expect(submitted.contains(#""extraParameters":{"RESPONSE_URL":"\#(settle.baseURL)/checkout/return/\#(id)/"#), "\(submitted)")
            #expect(submitted.contains(#""FINANCIAL_INSTITUTION_CODE":"1022","USER_TYPE":"N","PSE_REFERENCE2":"CC","PSE_REFERENCE3":"1020304050"}"#))
            #expect(submitted.contains(#""dniType":"CC""#))

            let paid = try await browse("\(emulator.baseURL)/pse/\(order.id)", form: [("outcome", "approve")])
            #expect(paid.status == 302)
            #expect(try await settle.paymentStatus(id) == "succeeded")
            let returned = try await browse(try #require(paid.location))
            #expect(returned.status == 303 && returned.location == "https://shop.example/thanks")

            // PSE without its fields, or without the buyer's phone: 400 before anything is stored.
            let missing = try await settle.request(
                .POST, "/v1/payments",
                json: #"{"amount":15000000,"currency":"COP","provider":"payu","reference":"x","customer":{"email":"a@example.com","name":"A"},"payment_method":\#(pse)}"#
            )
            #expect(missing.status == 400 && (missing.json["error"] as? [String: Any])?["param"] as? String == "customer.phone", "\(missing.text)")
        }
    }

    // MARK: - Cash

    @Test(arguments: Engine.enabled)
    func efectyCashEndToEnd(_ engine: Engine) async throws {
        try await withPayU(engine) { settle, emulator in
            let created = try await create(settle, method: #"{"type":"cash","network":"efecty"}"#, extra: #","expires_in":172800"#)
            let id = try #require(created["id"] as? String)
            let order = try #require(emulator.order(referenceCode: id))
            let voucher = try #require(created["voucher"] as? [String: Any])
            #expect(voucher["network"] as? String == "efecty")
            #expect(voucher["reference"] as? String == String(order.id))
            let receipt = try #require(voucher["receipt_url"] as? String)
            #expect(receipt.hasPrefix("\(emulator.baseURL)/ppp-web-gateway-payu/app/v2?vid=\(order.id)Y"))
            #expect((voucher["receipt_pdf_url"] as? String)?.contains("/ppp-web-gateway-payu/receipt?vid=") == true)
            #expect(created["checkout_url"] as? String == receipt)
            let expiresAt = try #require(voucher["expires_at"] as? Int)
            #expect(abs(expiresAt - Int(Date().timeIntervalSince1970) - 172_800) < 5)
            #expect(created["expires_at"] as? Int == expiresAt)

            // The order Settle sent, pinned field by field.
            let submitted = try #require(emulator.apiBodies.last { $0.contains("SUBMIT_TRANSACTION") })
            let expected = try #require(try JSONValue.parse(Array(submitted.utf8))["transaction"]?["order"]?["signature"]?.stringValue)
            let expiration = try #require(try JSONValue.parse(Array(submitted.utf8))["transaction"]?["expirationDate"]?.stringValue)
            #expect(
                submitted == #"{"language":"es","command":"SUBMIT_TRANSACTION","test":true,"merchant":{"apiKey":"\#(Self.apiKey)","apiLogin":"\#(Self.apiLogin)"},"transaction":{"order":{"accountId":"512321","referenceCode":"\#(id)","description":"Pedido de prueba","language":"es","signature":"\#(expected)","notifyUrl":"\#(settle.baseURL)/v1/webhooks/payu","additionalValues":{"TX_VALUE":{"value":150000,"currency":"COP"},"TX_TAX":{"value":0,"currency":"COP"},"TX_TAX_RETURN_BASE":{"value":0,"currency":"COP"}},"buyer":{"fullName":"Ana Pérez","emailAddress":"comprador@example.com","contactPhone":"3001234567"}},"payer":{"fullName":"Ana Pérez","emailAddress":"comprador@example.com","contactPhone":"3001234567"},"type":"AUTHORIZATION_AND_CAPTURE","paymentMethod":"EFECTY","paymentCountry":"CO","ipAddress":"127.0.0.1","expirationDate":"\#(expiration)"}}"#,
                "\(submitted)"
            )

            let page = try await browse(receipt)
            #expect(page.status == 200 && page.text.contains(String(order.id)))
            #expect(try await emulator.payAtCounter(orderID: order.id))
            #expect(try await settle.paymentStatus(id) == "succeeded")
            #expect(try await settle.store.eventCount(paymentID: id, type: "payment.succeeded") == 1)
            #expect(try await emulator.payAtCounter(orderID: order.id) == false)  // paid once

            // PayU's limits are enforced before calling: under 20.000 or over 6.000.000 pesos, 400 param amount.
            for amount in [1_999_900, 600_000_100] {
                let refused = try await settle.request(
                    .POST, "/v1/payments",
                    json: #"{"amount":\#(amount),"currency":"COP","provider":"payu","reference":"x","customer":{"email":"a@example.com","name":"A"},"payment_method":{"type":"cash"}}"#
                )
                #expect(refused.status == 400 && (refused.json["error"] as? [String: Any])?["param"] as? String == "amount", "\(refused.text)")
            }
            let usd = try await settle.request(
                .POST, "/v1/payments", json: #"{"amount":5000,"currency":"USD","provider":"payu","reference":"x","customer":{"email":"a@example.com"}}"#
            )
            #expect(usd.status == 400 && (usd.json["error"] as? [String: Any])?["param"] as? String == "currency")
        }
    }

    /// A voucher past its date: PayU's expiry confirmation closes it; one PayU never reports is expired by the sweep
    /// once the grace for late counter reports has passed; the counter refuses an expired voucher.
    @Test(arguments: Engine.enabled)
    func vouchersExpire(_ engine: Engine) async throws {
        try await withPayU(engine) { settle, emulator in
            let reported = try await create(settle, method: #"{"type":"cash"}"#, extra: #","expires_in":3600"#)
            let reportedID = try #require(reported["id"] as? String)
            let reportedOrder = try #require(emulator.order(referenceCode: reportedID)).id
            try await emulator.expire(orderID: reportedOrder)
            #expect(try await settle.paymentStatus(reportedID) == "expired")
            #expect(try await emulator.payAtCounter(orderID: reportedOrder) == false, "the counter took an expired voucher")

            emulator.faults.dropConfirmations = true
            let silent = try await create(settle, amount: 5_000_000, method: #"{"type":"cash","network":"su_red"}"#, extra: #","expires_in":3600"#)
            let silentID = try #require(silent["id"] as? String)
            let providers = settle.settle.useCases.providers
            let justAfter = Sweeper(store: settle.store, providers: providers, logger: Engine.logger, now: { Date().addingTimeInterval(3700) })
            #expect(try await justAfter.expireDue() == 0, "a voucher must stay open for late counter reports")
            let afterGrace = Sweeper(store: settle.store, providers: providers, logger: Engine.logger, now: { Date().addingTimeInterval(3600 + 7300) })
            #expect(try await afterGrace.expireDue() == 1)
            #expect(try await settle.paymentStatus(silentID) == "expired")
        }
    }

    /// PayU down: an order is never sent twice (PayU takes no idempotency key), so a failed one fails the payment with
    /// 503; a query is retried until PayU answers.
    @Test(arguments: Engine.enabled)
    func apiFailures(_ engine: Engine) async throws {
        try await withPayU(engine) { settle, emulator in
            emulator.faults.failNextAPICalls = 1
            let refused = try await settle.request(
                .POST, "/v1/payments",
                json: #"{"amount":5000000,"currency":"COP","provider":"payu","reference":"cash-1","customer":{"email":"a@example.com","name":"A"},"payment_method":{"type":"cash"}}"#
            )
            #expect(refused.status == 503, "\(refused.text)")
            #expect(emulator.commands.filter { $0 == "payments:SUBMIT_TRANSACTION" }.count == 1)

            emulator.faults.dropConfirmations = true
            let created = try await create(settle)
            let id = try #require(created["id"] as? String)
            let back = try await payOnWebCheckout(try #require(created["checkout_url"] as? String), outcome: "approve")
            emulator.faults.failNextAPICalls = 2
            let returned = try await browse(back)
            #expect(returned.status == 303, "\(returned.text)")
            #expect(try await settle.paymentStatus(id) == "succeeded")
            #expect(emulator.commands.filter { $0 == "reports:ORDER_DETAIL_BY_REFERENCE_CODE" }.count == 3)
        }
    }

    // MARK: - Refunds

    /// A card payment is refunded with PayU's REFUND, pending while PayU reviews it; the sweep asks the queries API and
    /// applies the decision. Whole pesos only; one refund in review at a time; cash waits for an operator.
    @Test(arguments: Engine.enabled)
    func refundsArePendingUntilPayUDecides(_ engine: Engine) async throws {
        try await withPayU(engine) { settle, emulator in
            let created = try await create(settle)
            let id = try #require(created["id"] as? String)
            _ = try await payOnWebCheckout(try #require(created["checkout_url"] as? String), outcome: "approve")
            #expect(try await settle.paymentStatus(id) == "succeeded")
            let cents = try await settle.request(.POST, "/v1/refunds", json: #"{"payment":"\#(id)","amount":5000050}"#)
            #expect(cents.status == 400 && cents.errorCode == "refund_not_supported", "\(cents.text)")
            let part = try await settle.request(.POST, "/v1/refunds", json: #"{"payment":"\#(id)","amount":5000000}"#)
            #expect(part.status == 201 && part.json["status"] as? String == "pending", "\(part.text)")
            let refundID = try #require(part.json["id"] as? String)
            let transaction = try #require(part.json["provider_refund_id"] as? String)
            #expect(emulator.refundTransactions.map(\.cents) == [5_000_000])
            #expect(emulator.refundTransactions.first?.state == "PENDING")
            let body = try #require(emulator.apiBodies.last)
            #expect(body.contains(#""type":"REFUND""#) && body.contains(#""TX_VALUE":{"value":50000,"currency":"COP"}"#), "\(body)")
            // A second while the first is in review is never sent: it waits for an operator.
            let second = try await settle.request(.POST, "/v1/refunds", json: #"{"payment":"\#(id)","amount":1000000}"#)
            #expect(second.status == 201 && second.json["status"] as? String == "requires_action", "\(second.text)")
            #expect(emulator.refundTransactions.count == 1)

            // Still in review: asking changes nothing.
            let later = RefundService(store: settle.store, providers: settle.settle.useCases.providers, now: { Date().addingTimeInterval(600) }, logger: Engine.logger)
            #expect(try await later.askAboutPending() == 1)
            #expect(try await settle.request(.GET, "/v1/refunds/\(refundID)").json["status"] as? String == "pending")
            // Asked again only after ten minutes.
            #expect(try await later.askAboutPending() == 0)
            emulator.settleRefund(transactionID: transaction, approved: true)
            let muchLater = RefundService(store: settle.store, providers: settle.settle.useCases.providers, now: { Date().addingTimeInterval(1300) }, logger: Engine.logger)
            #expect(try await muchLater.askAboutPending() == 1)
            let refund = try await settle.request(.GET, "/v1/refunds/\(refundID)").json
            #expect(refund["status"] as? String == "succeeded", "\(refund)")
            #expect(try await settle.request(.GET, "/v1/payments/\(id)").json["amount_refunded"] as? Int == 5_000_000)
            #expect(try await settle.store.eventCount(paymentID: id, type: "refund.succeeded") == 1)

            // A declined refund fails and frees its amount.
            let confirmed = try await settle.request(.POST, "/v1/refunds/\(try #require(second.json["id"] as? String))/confirm", json: #"{"note":"paid back by transfer"}"#)
            #expect(confirmed.status == 200)
            let rest = try await settle.request(.POST, "/v1/refunds", json: #"{"payment":"\#(id)"}"#)
            #expect(rest.status == 201 && rest.json["status"] as? String == "pending" && rest.json["amount"] as? Int == 9_000_000, "\(rest.text)")
            emulator.settleRefund(transactionID: try #require(rest.json["provider_refund_id"] as? String), approved: false)
            #expect(try await muchLater.askAboutPending() == 1)
            #expect(try await settle.request(.GET, "/v1/refunds/\(try #require(rest.json["id"] as? String))").json["status"] as? String == "failed")
            #expect(try await settle.store.eventCount(paymentID: id, type: "refund.failed") == 1)
        }
    }
}
