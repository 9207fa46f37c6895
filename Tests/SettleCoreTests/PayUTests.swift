import Foundation
import Logging
import Testing

@testable import SettleCore
@testable import SettleProviders

/// PayU's signatures and amount texts against the protocol sheet's vectors (PayU's documentation examples, recomputed
/// with Python's hashlib), confirmations from hand-written form and JSON bodies, the response page's query, the
/// WebCheckout form field by field, and the settings. Every expected hash is written out, never computed with the code
/// under test.
@Suite struct PayUTests {
    static let apiKey = "4Vj8eK4rloUd272L48hsrarnUA"
    static let docText = ["508029", "TestPayU", "20000", "COP"]

    // MARK: - The sheet's vectors

    @Test(arguments: [
        (PayUSignature.Algorithm.md5, "7ee7cf808ce6a39b17481c54f2c57acc"),
        (.sha1, "fa890d3f94e12b5cdb62e8771453b99b78e7ccdc"),
        (.sha256, "af3899a22336b79db46006491d15813158826f944599bf3bf601e2327f898022"),
        (.hmacSHA256, "eaf61598d5593b366086c9a00aa5746ccad1a6e9b209a1a242fce224202b2b36"),
    ])
    func formSignature(algorithm: PayUSignature.Algorithm, expected: String) {
        #expect(PayUSignature.sign(algorithm, apiKey: Self.apiKey, hmacKey: Self.apiKey, Self.docText) == expected)
    }

    @Test func confirmationSignatures() {
        #expect(PayUSignature.sign(.md5, apiKey: Self.apiKey, ["508029", "TestPayU05", "150.26", "USD", "4"]) == "1d95778a651e11a0ab93c2169a519cd6")
        // The documentation labels this hash state 6; it is state 4's. State 6 gives another.
        #expect(PayUSignature.sign(.md5, apiKey: Self.apiKey, ["508029", "TestPayU04", "150.0", "USD", "4"]) == "b607a2c2fa100e0947b206d41864fb86")
        #expect(PayUSignature.sign(.md5, apiKey: Self.apiKey, ["508029", "TestPayU04", "150.0", "USD", "6"]) == "df67936f918887b2aa31688a77a10fe1")
        // HMAC-SHA256 under the panel's key (`test123` in PayU's examples), the ApiKey still first in the text.
        #expect(
            PayUSignature.sign(.hmacSHA256, apiKey: Self.apiKey, hmacKey: "test123", ["508029", "PayUTest01", "150.0", "USD", "4"])
                == "65fb2b3452572784e23e7d6480359fd2507c54dd285ca3c4dceffb8764cfb66f"
        )
        #expect(
            PayUSignature.sign(.hmacSHA256, apiKey: Self.apiKey, hmacKey: "test123", ["508029", "PayUTest01", "150.25", "USD", "4"])
                == "7770a7933b90570a078fcacce1790eb13079cdf8f8a6e900b79f4f5eb96b8024"
        )
    }

    @Test func responsePageSignatures() throws {
        let low = try #require(PayUSignature.responsePageValue("150.25"))
        let high = try #require(PayUSignature.responsePageValue("150.35"))
        #expect(low == "150.2")
        #expect(high == "150.4")
        #expect(PayUSignature.sign(.md5, apiKey: Self.apiKey, ["508029", "TestPayU04", low, "USD", "6"]) == "00286dc735bd9eaa8ae3a3a4cbb40688")
        #expect(PayUSignature.sign(.md5, apiKey: Self.apiKey, ["508029", "TestPayU04", high, "USD", "6"]) == "9df2bb60e2838170009040982967923f")
    }

    @Test func apiOrderSignature() {
        #expect(
            PayUSignature.sign(.md5, apiKey: Self.apiKey, ["508029", "PRODUCT_TEST_2021-06-23T19:59:43.229Z", "65000", "COP"])
                == "1d6c33aed575c4974ad5c0be7c6a1c87"
        )
    }

    @Test(arguments: [
        ("150.00", "150.0"), ("150.20", "150.2"), ("150.26", "150.26"), ("20000.00", "20000.0"), ("150", "150.0"), ("150.2", "150.2"),
        ("150.05", "150.05"), ("0.10", "0.1"), ("150.000", "150.0"),
    ])
    func confirmationValue(value: String, expected: String) {
        #expect(PayUSignature.confirmationValue(value) == expected)
    }

    @Test(arguments: [
        ("150.25", "150.2"), ("150.35", "150.4"), ("150.00", "150.0"), ("150.05", "150.0"), ("150.15", "150.2"), ("150.96", "151.0"),
        ("150.94", "150.9"), ("150", "150.0"), ("0.05", "0.0"), ("9.95", "10.0"),
    ])
    func responsePageValue(value: String, expected: String) {
        #expect(PayUSignature.responsePageValue(value) == expected)
    }

    @Test(arguments: ["", "150.001", "1e3", "-1", ".5", "5.", "1,000", " 150", "150.0.0", "NaN", "99999999999999999999", "92233720368547758"])
    func amountTextsRefused(text: String) {
        #expect(PayUSignature.hundredths(text) == nil)
        #expect(PayUSignature.confirmationValue(text) == nil)
    }

    @Test func hundredthsAtTheEdgeOfInt64() {
        #expect(PayUSignature.hundredths("92233720368547757.99") == 9_223_372_036_854_775_799)
    }

    @Test func amountsLeaveAsExactText() {
        #expect(PayUSignature.amountText(Money(minorUnits: 2_000_000, currency: .cop)) == "20000")
        #expect(PayUSignature.amountText(Money(minorUnits: 2_000_050, currency: .cop)) == "20000.50")
        #expect(PayUSignature.amountText(Money(minorUnits: 2_000_005, currency: .cop)) == "20000.05")
        #expect(PayUSignature.amountText(Money(minorUnits: 15_026, currency: Currency.lookup("USD")!)) == "150.26")
    }

    // MARK: - Confirmations

    static let received = Date(timeIntervalSince1970: 1_800_000_000)

    static func provider(signature: String = "md5", hmacKey: String? = nil, mode: String = "test") -> PayUProvider {
        PayUProvider(
            configuration: PayUConfiguration(
                merchantID: "508029", accountID: "512321", apiKey: apiKey, apiLogin: "pRRXKOl8ikMmt9u", hmacKey: hmacKey, mode: mode,
                signature: signature, checkoutBase: "https://checkout.example/ppp-web-gateway-payu/", apiBase: "http://127.0.0.1:1/payments",
                reportsBase: "http://127.0.0.1:1/reports"
            ),
            context: ProviderContext(logger: Logger(label: "test"), client: .init(timeout: .milliseconds(500), retry: RetryPolicy(maxAttempts: 1)))
        )
    }

    /// A confirmation as PayU posts it, written out by hand.
    static func form(
        state: String = "4", value: String = "150000.00", sign: String? = "3d21a3fcd4e3abee6c0a13e4bc7a5e50", merchant: String = "508029",
        transaction: String = "7e3b9c1e-1d2a-4c55-9b7a-3f1b2a6d9c01"
    ) -> [UInt8] {
        var text =
            "merchant_id=\(merchant)&state_pol=\(state)&response_code_pol=\(state == "4" ? "1" : "5")&response_message_pol=\(state == "4" ? "APPROVED" : "ENTITY_DECLINED")"
            + "&reference_sale=pay_T3st0001&reference_pol=1400449740&transaction_id=\(transaction)&value=\(value)&currency=COP&tax=0.00"
            + "&payment_method_type=2&payment_method_name=VISA&email_buyer=comprador%40example.com&transaction_date=2026-12-01+10%3A15%3A00&test=1"
        if let sign { text += "&sign=\(sign)" }
        return Array(text.utf8)
    }

    static func notification(_ body: [UInt8], contentType: String = "application/x-www-form-urlencoded") -> InboundNotification {
        InboundNotification(provider: "payu", contentType: contentType, headers: ["content-type": contentType], body: body, receivedAt: received)
    }

    static func authenticate(_ body: [UInt8], contentType: String = "application/x-www-form-urlencoded", provider: PayUProvider = provider())
        throws(NotificationRejection) -> PayUProvider.SignedConfirmation
    {
        try provider.authenticate(notification(body, contentType: contentType))
    }

    static func rejection(_ body: [UInt8], contentType: String = "application/x-www-form-urlencoded", provider: PayUProvider = provider())
        -> NotificationRejection?
    {
        do {
            _ = try authenticate(body, contentType: contentType, provider: provider)
            return nil
        } catch {
            return error
        }
    }

    @Test func approvedConfirmation() throws {
        #expect(
            try Self.authenticate(Self.form())
                == .init(reference: "pay_T3st0001", order: "1400449740", statePol: "4", amountMinorUnits: 15_000_000, currency: "COP", test: true)
        )
    }

    @Test func declinedConfirmation() throws {
        #expect(try Self.authenticate(Self.form(state: "6", sign: "8f00c78bdad8c5ed493a38f1a11e8c0e")).statePol == "6")
    }

    @Test func jsonConfirmation() throws {
        let body = Array(
            #"{"merchant_id":"508029","state_pol":"4","reference_sale":"pay_T3st0001","reference_pol":"1400449740","value":150000.00,"currency":"COP","sign":"3d21a3fcd4e3abee6c0a13e4bc7a5e50","transaction_id":"x"}"#
                .utf8
        )
        let signed = try Self.authenticate(body, contentType: "application/json")
        #expect(signed.amountMinorUnits == 15_000_000 && signed.order == "1400449740" && !signed.test)
    }

    @Test func sha256Confirmation() {
        let provider = Self.provider(signature: "sha256")
        #expect(Self.rejection(Self.form(sign: "0053f7aa0902be34ed55d4d77c71060504feaf9f62de1247c4772b4598b7aa7b"), provider: provider) == nil)
        #expect(Self.rejection(Self.form(), provider: provider)?.code == .invalidSignature)
    }

    @Test func forgedConfirmationsAreRefused() {
        // Tampered value under the original sign; a missing sign; another merchant's; an uppercase-hex sign passes.
        #expect(Self.rejection(Self.form(value: "999.00"))?.code == .invalidSignature)
        #expect(Self.rejection(Self.form(sign: nil))?.code == .invalidSignature)
        #expect(Self.rejection(Self.form(sign: ""))?.code == .invalidSignature)
        #expect(Self.rejection(Self.form(sign: "0" + String(repeating: "f", count: 31)))?.code == .invalidSignature)
        #expect(Self.rejection(Self.form(merchant: "999999"))?.code == .invalidSignature)
        #expect(Self.rejection(Array("not a form".utf8))?.code == .invalidSignature)
        #expect(Self.rejection(Array("{".utf8), contentType: "application/json")?.code == .invalidSignature)
        #expect(Self.rejection(Self.form(sign: "3D21A3FCD4E3ABEE6C0A13E4BC7A5E50")) == nil)
    }

    /// A stale-format sign: the value's text signed as posted (`150000.00`) instead of PayU's `new_value`.
    @Test func staleFormatSignIsRefused() {
        // md5(ApiKey~508029~pay_T3st0001~150000.00~COP~4)
        #expect(Self.rejection(Self.form(sign: "4d0130d8c6927c5169ad6353f115a1f5"))?.code == .invalidSignature)
    }

    @Test func disabledProviderRefusesFailClosed() {
        let provider = PayUProvider(configuration: PayUConfiguration(merchantID: "508029", accountID: "512321"), context: ProviderContext(logger: Logger(label: "test")))
        #expect(Self.rejection(Self.form(), provider: provider)?.code == .providerDisabled)
    }

    /// A genuine sign is not enough: the order is confirmed with PayU's queries API (unreachable here: 503, PayU
    /// sends it again), since the sign covers neither the order nor the response code.
    @Test func confirmationsAreConfirmedWithPayU() async {
        do {
            _ = try await Self.provider().verify(Self.notification(Self.form()))
            Issue.record("a confirmation was applied without asking PayU")
        } catch {
            #expect(error.code == .unavailable)
        }
    }

    /// A test transaction reported to a live account is stored and never acted on (no call to PayU needed).
    @Test func testTransactionsOnALiveAccountAreNotActedOn() async throws {
        let verified = try await Self.provider(mode: "live").verify(Self.notification(Self.form()))
        #expect(verified.events.map(\.outcome) == [nil])
        #expect(verified.events.map(\.type) == ["confirmation:test_transaction"])
    }

    @Test(arguments: [
        ("4", ProviderOutcome.succeeded), ("6", .failed), ("104", .failed), ("5", .expired), ("7", .processing), ("12", .processing),
        ("14", .processing),
    ])
    func states(state: String, outcome: ProviderOutcome) {
        #expect(PayUProvider.outcome(statePol: state) == outcome)
    }

    // MARK: - The response page

    static let payment = Payment(
        id: "pay_T3st0001", mode: .test, status: .requiresAction, amount: Money(minorUnits: 15_000_000, currency: .cop), provider: "payu",
        reference: "order-1", description: "Pedido 1", customer: Customer(email: "comprador@example.com", name: "Ana Pérez"),
        createdAt: received, updatedAt: received
    )

    static let responseQuery = [
        "merchantId": "508029", "referenceCode": "pay_T3st0001", "TX_VALUE": "150000.00", "currency": "COP", "transactionState": "4",
        "signature": "3d21a3fcd4e3abee6c0a13e4bc7a5e50",
    ]

    @Test func tamperedResponsePageIsUnverified() async throws {
        for (field, value) in [("transactionState", "6"), ("TX_VALUE", "1.00"), ("referenceCode", "pay_Other"), ("signature", "00")] {
            var query = Self.responseQuery
            query[field] = value
            do {
                _ = try await Self.provider().confirmReturn(of: Self.payment, query: query)
                Issue.record("a query with a changed \(field) was accepted")
            } catch {
                #expect(error.code == .unverified, "\(field)")
            }
        }
        // A return with no PayU query asks nothing.
        #expect(try await Self.provider().confirmReturn(of: Self.payment, query: ["other": "1"]) == nil)
    }

    /// A genuine query goes on to PayU's queries API (unreachable here): the query itself is never applied.
    @Test func genuineResponsePageAsksPayU() async {
        do {
            _ = try await Self.provider().confirmReturn(of: Self.payment, query: Self.responseQuery)
            Issue.record("the query was applied without asking PayU")
        } catch {
            #expect(error.code == .unavailable)
        }
    }

    // MARK: - The WebCheckout form

    @Test func checkoutFormFieldByField() throws {
        let form = try #require(
            try Self.provider().checkoutForm(
                for: Self.payment,
                ProviderLinks(notificationURL: "https://settle.example/v1/webhooks/payu", returnPageURL: "https://settle.example/checkout/return/pay_T3st0001/tok")
            )
        )
        #expect(form.action == "https://checkout.example/ppp-web-gateway-payu/")
        #expect(
            form.fields == [
                .init("merchantId", "508029"), .init("accountId", "512321"), .init("description", "Pedido 1"),
                .init("referenceCode", "pay_T3st0001"), .init("amount", "150000"), .init("tax", "0"), .init("taxReturnBase", "0"),
                .init("currency", "COP"), .init("signature", "de8c4e6ed6f0f961ddbcd9ba1d76b9e8"), .init("algorithmSignature", "MD5"),
                .init("buyerEmail", "comprador@example.com"), .init("buyerFullName", "Ana Pérez"), .init("test", "1"),
                .init("responseUrl", "https://settle.example/checkout/return/pay_T3st0001/tok"),
                .init("confirmationUrl", "https://settle.example/v1/webhooks/payu"),
            ]
        )
        var cents = Self.payment
        cents.amount = Money(minorUnits: 15_000_050, currency: .cop)
        let signed = try #require(try Self.provider().checkoutForm(for: cents, ProviderLinks(notificationURL: "n", returnPageURL: "r")))
        #expect(signed.fields.first { $0.name == "amount" }?.value == "150000.50")
        #expect(signed.fields.first { $0.name == "signature" }?.value == "3f7cb41b84200bc2cb26638c6c8154a2")
    }

    // MARK: - Payments and settings

    @Test func paymentsRefusedBeforeStoring() {
        func code(_ change: (inout Payment) -> Void) -> String? {
            var payment = Self.payment
            change(&payment)
            do {
                try Self.provider().validate(payment)
                return nil
            } catch {
                return error.providerCode
            }
        }
        #expect(code { _ in } == nil)
        #expect(code { $0.amount = Money(minorUnits: 1000, currency: Currency.lookup("USD")!) } == "currency")
        #expect(code { $0.customer = nil } == "customer.email")
        #expect(code { $0.paymentMethod = PaymentMethod(type: "cash") } == nil)
        #expect(code { $0.paymentMethod = PaymentMethod(type: "cash"); $0.amount = Money(minorUnits: 1_999_900, currency: .cop) } == "amount")
        #expect(code { $0.paymentMethod = PaymentMethod(type: "cash"); $0.amount = Money(minorUnits: 600_000_100, currency: .cop) } == "amount")
        #expect(code { $0.paymentMethod = PaymentMethod(type: "cash", fields: ["network": "su_red"]); $0.amount = Money(minorUnits: 300_000, currency: .cop) } == nil)
        #expect(code { $0.paymentMethod = PaymentMethod(type: "cash"); $0.amount = Money(minorUnits: 15_000_050, currency: .cop) } == "amount")
        #expect(code { $0.paymentMethod = PaymentMethod(type: "pse", fields: ["legal_id": "1"]) } == "customer.phone")
    }

    @Test func settings() {
        #expect(Self.provider().availability == .enabled)
        #expect(Self.provider().modes == [.test])
        #expect(PayUProvider(configuration: .init(), context: ProviderContext(logger: Logger(label: "t"))).availability == .disabled(reason: "SETTLE_PAYU_MERCHANT_ID is not set"))
        #expect(Self.provider(signature: "sha512").availability == .disabled(reason: "SETTLE_PAYU_SIGNATURE must be one of md5, sha1, sha256, hmac-sha256"))
        #expect(
            Self.provider(signature: "hmac-sha256").availability
                == .disabled(reason: "SETTLE_PAYU_HMAC_KEY is not set (PayU's HMAC-SHA256 signatures use the key set in its panel)")
        )
        #expect(Self.provider(signature: "hmac-sha256", hmacKey: "test123").availability == .enabled)
        #expect(Self.provider(mode: "prod").availability == .disabled(reason: "SETTLE_PAYU_MODE must be test or live"))
        #expect(Self.provider(mode: "live").startupRefusal == "SETTLE_PAYU_MODE is live but SETTLE_PAYU_MERCHANT_ID is PayU's public sandbox merchant")
        #expect(Self.provider().startupRefusal == nil)
        // Nothing printed of the provider carries a credential.
        #expect(!"\(Self.provider().configuration)".contains(Self.apiKey))
    }
}
