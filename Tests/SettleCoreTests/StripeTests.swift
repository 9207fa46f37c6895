import Foundation
import Testing

@testable import SettleCore
@testable import SettleProviders

@Suite struct StripeSignatureTests {
    let secret = "whsec_test_secret_1234567890"
    let payload = Array(
        #"{"id":"evt_test_1","object":"event","type":"checkout.session.completed","data":{"object":{"id":"cs_test_1","object":"checkout.session","payment_status":"paid"}}}"#.utf8
    )

    /// The vector computed with Stripe's official SDK (`generate_signature_header`).
    @Test func officialSDKVector() throws {
        #expect(StripeSignature.header(secret: secret, timestamp: 1_700_000_000, body: payload)
            == "t=1700000000,v1=09e7b30fafc6f439c0e5f4bdce119c156d297c29226b51912b75ce1b91e6ab83")
        try StripeSignature.verify(
            header: "t=1700000000,v1=09e7b30fafc6f439c0e5f4bdce119c156d297c29226b51912b75ce1b91e6ab83", body: payload,
            secret: secret, now: Date(timeIntervalSince1970: 1_700_000_000)
        )
    }

    @Test func everyV1IsTriedAndTheRestRefused() throws {
        let at = Date(timeIntervalSince1970: 1_700_000_000)
        let good = "09e7b30fafc6f439c0e5f4bdce119c156d297c29226b51912b75ce1b91e6ab83"
        try StripeSignature.verify(header: "t=1700000000,v1=deadbeef,v0=abc,v1=\(good)", body: payload, secret: secret, now: at)
        #expect(throws: StripeSignature.Failure.noMatchingSignature) {
            try StripeSignature.verify(header: "t=1700000000,v1=\(good)", body: payload + [0x20], secret: secret, now: at)
        }
        #expect(throws: StripeSignature.Failure.noMatchingSignature) {
            try StripeSignature.verify(header: "t=1700000000,v1=\(good)", body: payload, secret: "whsec_other", now: at)
        }
        #expect(throws: StripeSignature.Failure.timestampOutsideTolerance) {
            try StripeSignature.verify(header: "t=1700000000,v1=\(good)", body: payload, secret: secret, now: at.addingTimeInterval(301))
        }
        #expect(throws: StripeSignature.Failure.missingHeader) {
            try StripeSignature.verify(header: nil, body: payload, secret: secret, now: at)
        }
        #expect(throws: StripeSignature.Failure.malformedHeader) {
            try StripeSignature.verify(header: "v1=\(good)", body: payload, secret: secret, now: at)
        }
    }
}

@Suite struct StripeSignatureExtremeTests {
    /// `t=` at its extremes is a malformed header or outside tolerance, never an overflow.
    @Test(arguments: ["-9223372036854775808", "9223372036854775807", "9223372036854775808", "1e308", "-0", "+1700000000", ""])
    func extremeTimestampsAreRefused(_ t: String) {
        let body = Array("{}".utf8)
        #expect(throws: StripeSignature.Failure.malformedHeader) {
            try StripeSignature.verify(header: "t=\(t),v1=00", body: body, secret: "whsec_x", now: Date(timeIntervalSince1970: 1_700_000_000))
        }
    }

    @Test func farTimestampsAreOutsideTolerance() {
        #expect(throws: StripeSignature.Failure.timestampOutsideTolerance) {
            try StripeSignature.verify(header: "t=999999999999999999,v1=00", body: [], secret: "whsec_x", now: Date(timeIntervalSince1970: 1_700_000_000))
        }
    }
}

@Suite struct StripeCurrencyTests {
    @Test(arguments: [
        ("JPY", Int64(1000), Int64(1000)), ("KRW", 5000, 5000), ("CLP", 990, 990), ("VND", 20000, 20000),
        ("COP", 150_000, 150_000), ("USD", 1999, 1999), ("THB", 35_000, 35_000), ("ISK", 5, 500),
        ("KWD", 1500, 1500), ("BHD", 12_340, 12_340), ("MGA", 15_000, 150), ("UGX", 3700, 3700),
    ])
    func amounts(code: String, minor: Int64, stripe: Int64) throws {
        let currency = try #require(Currency.lookup(code))
        #expect(try StripeCurrency.amount(Money(minorUnits: minor, currency: currency)) == stripe)
        #expect(StripeCurrency.minorUnits(stripeAmount: stripe, currency: currency) == minor)
    }

    @Test func refusedWithoutRounding() throws {
        // Three-decimal currencies must end in 0; Settle refuses rather than rounds.
        #expect(throws: StripeCurrency.Unsupported.self) { try StripeCurrency.amount(Money(minorUnits: 1501, currency: .kwd)) }
        // MGA has cents in ISO 4217 but Stripe takes whole ariary.
        #expect(throws: StripeCurrency.Unsupported.self) { try StripeCurrency.amount(Money(minorUnits: 15_050, currency: Currency.lookup("MGA")!)) }
        // Currencies Stripe does not take at all.
        for code in ["CLF", "UYW", "IQD"] {
            #expect(throws: StripeCurrency.Unsupported.self) { try StripeCurrency.amount(Money(minorUnits: 100, currency: Currency.lookup(code)!)) }
        }
        #expect(StripeCurrency.minorUnits(stripeAmount: 550, currency: Currency.lookup("ISK")!) == nil)
    }
}

@Suite struct StripeEventMappingTests {
    func event(_ type: String, paymentStatus: String = "paid", amount: Int64 = 150_000, currency: String = "cop", object: String = "checkout.session")
        -> ProviderEvent
    {
        let body = Array(
            #"{"id":"evt_1","object":"event","type":"\#(type)","data":{"object":{"id":"cs_test_9","object":"\#(object)","status":"complete","payment_status":"\#(paymentStatus)","amount_total":\#(amount),"currency":"\#(currency)"}}}"#.utf8
        )
        return StripeProvider.event(from: StripeEventEnvelope(id: "evt_1", type: type), body: body)
    }

    @Test(arguments: [
        ("checkout.session.completed", "paid", ProviderOutcome?.some(.succeeded)),
        ("checkout.session.completed", "unpaid", .some(.processing)),
        ("checkout.session.completed", "no_payment_required", nil),
        ("checkout.session.async_payment_succeeded", "paid", .some(.succeeded)),
        ("checkout.session.async_payment_failed", "unpaid", .some(.failed)),
        ("checkout.session.expired", "unpaid", .some(.expired)),
        ("payment_intent.succeeded", "paid", nil),
        ("customer.created", "paid", nil),
    ])
    func mapping(type: String, paymentStatus: String, outcome: ProviderOutcome?) {
        let mapped = event(type, paymentStatus: paymentStatus)
        #expect(mapped.outcome == outcome)
        #expect(mapped.target == .providerPayment(id: "cs_test_9"))
        #expect(mapped.amountMinorUnits == 150_000)
        #expect(mapped.currencyCode == "COP")
        #expect(mapped.eventID == "evt_1")
    }

    @Test func amountsComeBackInISOUnitsAndOddOnesNeverMatch() {
        #expect(event("checkout.session.completed", amount: 500, currency: "isk").amountMinorUnits == 5)
        #expect(event("checkout.session.completed", amount: 550, currency: "isk").amountMinorUnits == -1)
        #expect(event("checkout.session.completed", currency: "zzz").amountMinorUnits == -1)
        // Events about other objects are stored and acknowledged, never acted on.
        let other = event("checkout.session.completed", object: "payment_intent")
        #expect(other.outcome == nil)
        #expect(other.target == nil)
    }

    @Test func formEncodingUsesBracketsAndKeepsOrder() {
        var form = StripeForm()
        form.add("line_items[0][price_data][unit_amount]", "150000")
        form.add("metadata[settle_payment_id]", "pay_1")
        form.add("success_url", "https://shop.example/a b?x=1&y=2")
        form.add("skipped", nil)
        #expect(form.encoded
            == "line_items%5B0%5D%5Bprice_data%5D%5Bunit_amount%5D=150000&metadata%5Bsettle_payment_id%5D=pay_1&success_url=https%3A%2F%2Fshop.example%2Fa%20b%3Fx%3D1%26y%3D2")
        // Read back with the independent form decoder the emulator uses.
        let decoded = FormURLEncoded.pairs(Array(form.encoded.utf8))
        #expect(decoded.map(\.0) == ["line_items[0][price_data][unit_amount]", "metadata[settle_payment_id]", "success_url"])
        #expect(decoded.last?.1 == "https://shop.example/a b?x=1&y=2")
    }

    @Test func circuitBreaker() {
        var breaker = CircuitBreakerState(threshold: 2, cooldown: .seconds(10))
        let t0 = Date(timeIntervalSince1970: 0)
        func allow(_ seconds: TimeInterval) -> Bool { breaker.allow(at: t0.addingTimeInterval(seconds)) }
        #expect(allow(0))
        breaker.recordFailure(at: t0)
        #expect(allow(0))
        breaker.recordFailure(at: t0)
        #expect(!allow(9))  // open
        #expect(allow(10))  // half-open: one trial
        #expect(!allow(10))
        breaker.recordFailure(at: t0.addingTimeInterval(10))  // trial failed: open again
        #expect(!allow(15))
        #expect(allow(20))
        breaker.recordSuccess()
        #expect(breaker.phase == .closed(failures: 0))
    }
}
