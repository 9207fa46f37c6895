import Foundation
import Logging
import Testing

@testable import SettleCore
@testable import SettleProviders

@Suite struct PaymeCheckoutTests {
    /// The protocol sheet's vectors: the docs' example, and payme-pkg's `generate_pay_link(id=197, amount=5000,
    /// return_url=…)` (the SDK multiplies sums by 100, so a=500000 tiyin).
    @Test func linkVectors() {
        let docs = PaymeCheckout.link(
            base: "https://checkout.paycom.uz", merchantID: "587f72c72cac0d162c722ae2", account: [("order_id", "197")], amount: 500
        )
        #expect(docs == "https://checkout.paycom.uz/bT01ODdmNzJjNzJjYWMwZDE2MmM3MjJhZTI7YWMub3JkZXJfaWQ9MTk3O2E9NTAw")
        let sdk = PaymeCheckout.link(
            base: "https://checkout.paycom.uz/", merchantID: "587f72c72cac0d162c722ae2", account: [("order_id", "197")],
            amount: 500_000, returnURL: "https://example.com/return"
        )
        #expect(
            sdk
                == "https://checkout.paycom.uz/bT01ODdmNzJjNzJjYWMwZDE2MmM3MjJhZTI7YWMub3JkZXJfaWQ9MTk3O2E9NTAwMDAwO2M9aHR0cHM6Ly9leGFtcGxlLmNvbS9yZXR1cm4="
        )
        let test = PaymeCheckout.link(
            base: PaymeConfiguration.testCheckoutBase, merchantID: "587f72c72cac0d162c722ae2", account: [("order_id", "197")],
            amount: 500_000, returnURL: "https://example.com/return"
        )
        #expect(test.hasPrefix("https://test.paycom.uz/bT01ODdmNzJjNzJjYWMwZDE2MmM3MjJhZTI7"))
    }

    @Test func defaultsFollowTheMode() {
        let test = PaymeConfiguration(merchantID: "m", key: "k")
        #expect(test.checkoutBase == "https://test.paycom.uz" && test.apiBase == "https://checkout.test.paycom.uz/api")
        let live = PaymeConfiguration(merchantID: "m", key: "k", mode: .live)
        #expect(live.checkoutBase == "https://checkout.paycom.uz" && live.apiBase == "https://checkout.paycom.uz/api")
        #expect(PaymeConfiguration(merchantID: "m", key: "k", checkoutBase: "http://127.0.0.1:1/").checkoutBase == "http://127.0.0.1:1")
    }

    @Test func providerFailsClosedWithoutItsSettings() {
        let context = ProviderContext(logger: Logger(label: "test"))
        #expect(PaymeProvider.make(settings: ["key": "k"], context: context).availability
            == .disabled(reason: "SETTLE_PAYME_MERCHANT_ID is not set"))
        #expect(PaymeProvider.make(settings: ["merchant_id": "m"], context: context).availability
            == .disabled(reason: "SETTLE_PAYME_KEY is not set"))
        #expect(PaymeProvider.make(settings: ["merchant_id": "m", "key": "k", "mode": "prod"], context: context).availability
            == .disabled(reason: "SETTLE_PAYME_MODE must be test or live"))
        let enabled = PaymeProvider.make(settings: ["merchant_id": "m", "key": "k"], context: context)
        #expect(enabled.availability == .enabled && enabled.modes == [.test])
        #expect(PaymeProvider.make(settings: ["merchant_id": "m", "key": "k", "mode": "live"], context: context).modes == [.live])
    }
}

@Suite struct PaymeMerchantAPIUnitTests {
    let api = PaymeMerchantAPI(name: "payme", configuration: .init(merchantID: "m", key: "TEST_KEY_123"), credentials: .none)

    func call(authorization: String?) -> InboundNotification {
        InboundNotification(
            provider: "payme", contentType: "application/json", headers: authorization.map { ["Authorization": $0] } ?? [:],
            body: [], receivedAt: Date()
        )
    }

    /// The sheet's vector: `Paycom:TEST_KEY_123` → `UGF5Y29tOlRFU1RfS0VZXzEyMw==`; anything else is refused.
    @Test func basicAuthVector() async {
        #expect(await api.authenticate(call(authorization: "Basic UGF5Y29tOlRFU1RfS0VZXzEyMw==")) == .valid)
        #expect(await api.authenticate(call(authorization: "basic UGF5Y29tOlRFU1RfS0VZXzEyMw==")) == .valid)
        for bad in [
            nil, "", "Basic", "Bearer UGF5Y29tOlRFU1RfS0VZXzEyMw==", "Basic UGF5Y29tOlRFU1RfS0VZXzEyNA==",
            "Basic " + Data("Other:TEST_KEY_123".utf8).base64EncodedString(), "Basic " + Data("TEST_KEY_123".utf8).base64EncodedString(),
            "Basic !!!",
        ] {
            #expect(await api.authenticate(call(authorization: bad)) == .invalid, "\(bad ?? "nil")")
        }
    }

    /// A key stored by `ChangePassword` replaces the configured one.
    @Test func storedKeyWins() async {
        let rotated = PaymeMerchantAPI(
            name: "payme", configuration: .init(merchantID: "m", key: "TEST_KEY_123"),
            credentials: StoredCredentials { name in name == "key" ? "NEW_KEY" : nil }
        )
        #expect(await rotated.authenticate(call(authorization: "Basic UGF5Y29tOlRFU1RfS0VZXzEyMw==")) == .invalid)
        let header = "Basic " + Data("Paycom:NEW_KEY".utf8).base64EncodedString()
        #expect(await rotated.authenticate(call(authorization: header)) == .valid)
    }

    @Test func changePasswordIsRedactedForStorage() throws {
        let request = try JSONValue.parse(Array(#"{"id":7,"method":"ChangePassword","params":{"password":"s3cret"}}"#.utf8))
        let stored = String(decoding: PaymeMerchantAPI.redactingPassword(request), as: UTF8.self)
        #expect(stored == #"{"id":7,"method":"ChangePassword","params":{"password":"[redacted]"}}"#)
    }

    @Test func errorsCarryThreeLanguagesAndTheField() {
        let body = String(decoding: PaymeRPC.error(.orderNotFound("order_id"), id: .int(5)).body, as: UTF8.self)
        #expect(body.contains(#""code":-31050"#) && body.contains(#""data":"order_id""#) && body.contains(#""id":5"#))
        for language in ["ru", "uz", "en"] { #expect(body.contains("\"\(language)\":")) }
    }
}

@Suite struct JSONParsingTests {
    @Test func readsExactTypes() throws {
        let value = try JSONValue.parse(Array(#" {"a": 500000, "b": "x\"y\u00e9\ud83d\ude00", "c": [true, false, null], "d": -1, "e": {}} "#.utf8))
        #expect(value["a"] == .int(500_000))
        #expect(value["b"] == .string("x\"yé😀"))
        #expect(value["c"] == .array([.bool(true), .bool(false), .null]))
        #expect(value["d"] == .int(-1))
        #expect(value["e"] == .object([]))
        #expect(value["missing"] == nil)
    }

    /// A fraction, an exponent or an integer beyond Int64 is never an integer.
    @Test func nonIntegersStayLiterals() throws {
        let value = try JSONValue.parse(Array(#"{"a": 500000.0, "b": 5e5, "c": 99999999999999999999}"#.utf8))
        #expect(value["a"] == .string("500000.0"))
        #expect(value["b"] == .string("5e5"))
        #expect(value["c"] == .string("99999999999999999999"))
    }

    @Test(arguments: ["", "{", "{\"a\":}", "[1,]", "{\"a\":1} x", "01", "\"\u{01}\"", "nul", "{'a':1}", "-", "1."])
    func refusesMalformed(_ text: String) {
        #expect(throws: JSONValue.ParseError.self) { try JSONValue.parse(Array(text.utf8)) }
    }

    /// Repeated keys keep their first value; the check is a hash lookup, so 50,000 keys parse in linear time.
    @Test func manyAndRepeatedKeys() throws {
        let keys = (0..<50_000).map { "\"k\($0)\":\($0)" }.joined(separator: ",")
        let value = try JSONValue.parse(Array("{\(keys),\"k0\":-1}".utf8))
        guard case .object(let members) = value else { Issue.record("not an object"); return }
        #expect(members.count == 50_000)
        #expect(value["k0"] == .int(0))
        #expect(value["k49999"] == .int(49_999))
    }

    @Test func nestingIsBounded() {
        #expect(throws: JSONValue.ParseError.self) { try JSONValue.parse(Array((String(repeating: "[", count: 100_000)).utf8)) }
        #expect((try? JSONValue.parse(Array((String(repeating: "[", count: 63) + String(repeating: "]", count: 63)).utf8))) != nil)
    }

    @Test func roundTripsSerializedValues() throws {
        let value = JSONValue.object([("k", .string("line\nbreak \u{2028}")), ("n", .int(Int64.min)), ("a", .array([.null]))])
        #expect(try JSONValue.parse(value.bytes()) == value)
    }
}
