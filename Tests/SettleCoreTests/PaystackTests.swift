import Foundation
import Testing

@testable import SettleCore
@testable import SettleProviders

/// Paystack's webhook signature with the sheet's vector, the settings, and what the adapter reads from Paystack's
/// objects (pinned to hand-written bytes in Paystack's shapes, not to the emulator's).
@Suite struct PaystackTests {
    /// `../shared/protocols/paystack.md` §7 (computed with Python's hmac/hashlib, as Paystack's own snippet does).
    static let secretKey = "sk_test_0123456789abcdef0123456789abcdef01234567"
    static let body = Array(
        #"{"event":"charge.success","data":{"id":302961,"domain":"test","status":"success","reference":"qTPrJoy9Bx","amount":10000,"currency":"NGN"}}"#.utf8
    )
    static let signature = "7713733d6df31b9888209d87642bb6ec497b5f8af9048c82f3a874771dc0c70b127139d91c9ff8c916d5c00365434fc9f7088971eb7aacbc0082603512a58cf4"

    @Test func theSheetsVector() {
        #expect(PaystackSignature.expected(body: Self.body, secretKey: Self.secretKey) == Self.signature)
        #expect(PaystackSignature.isValid(Self.signature, body: Self.body, secretKey: Self.secretKey))
        #expect(PaystackSignature.isValid(Self.signature.uppercased(), body: Self.body, secretKey: Self.secretKey))
        #expect(!PaystackSignature.isValid(Self.signature, body: Self.body + [0x20], secretKey: Self.secretKey))
        #expect(!PaystackSignature.isValid(Self.signature, body: Self.body, secretKey: "sk_live_0123456789abcdef0123456789abcdef01234567"))
        #expect(!PaystackSignature.isValid(String(Self.signature.dropLast()), body: Self.body, secretKey: Self.secretKey))
        #expect(!PaystackSignature.isValid(nil, body: Self.body, secretKey: Self.secretKey))
        #expect(!PaystackSignature.isValid("", body: Self.body, secretKey: Self.secretKey))
    }

    @Test func theKeyDecidesTheMode() {
        #expect(PaystackConfiguration(secretKey: Self.secretKey, apiBase: nil).mode == .test)
        #expect(PaystackConfiguration(secretKey: "sk_live_0123456789abcdef0123456789abcdef01234567", apiBase: nil).mode == .live)
        #expect(PaystackConfiguration(secretKey: "pk_test_0123456789abcdef0123456789abcdef01234567", apiBase: nil).mode == nil)
        #expect(PaystackConfiguration(secretKey: "sk_test_short", apiBase: nil).mode == nil)
        #expect(PaystackConfiguration(secretKey: nil, apiBase: nil).problem?.contains("SETTLE_PAYSTACK_SECRET_KEY") == true)
        #expect(PaystackConfiguration(secretKey: "sk_live_0123456789abcdef0123456789abcdef01234567", apiBase: "http://127.0.0.1:1").startupRefusal != nil)
        #expect(PaystackConfiguration(secretKey: Self.secretKey, apiBase: nil).apiBase == "https://api.paystack.co")
        #expect(PaystackProvider.reference(paymentID: "pay_3xQ9") == "pay-3xQ9")
    }

    /// A verify answer as Paystack's documentation shows one (metadata as a JSON string, as Paystack returns it when
    /// it was sent as one), and each status's outcome.
    @Test func verifyAnswersAreReadExactly() throws {
        let text = #"{"status":true,"message":"Verification successful","data":{"id":4099260516,"domain":"test","status":"success","reference":"pay-3xQ9","receipt_number":null,"amount":500000,"message":null,"gateway_response":"Successful","paid_at":"2026-12-02T12:00:05.000Z","created_at":"2026-12-02T11:59:40.000Z","channel":"card","currency":"NGN","ip_address":"127.0.0.1","metadata":"{\"settle_payment_id\":\"pay_3xQ9\"}","fees":7500,"customer":{"id":181873746,"email":"ada@example.com"},"requested_amount":500000}}"#
        let envelope = try JSONValue.parse(Array(text.utf8))
        let data = try #require(envelope["data"])
        let transaction = try #require(PaystackTransaction(data))
        #expect(transaction.id == 4_099_260_516 && transaction.reference == "pay-3xQ9" && transaction.amount == 500_000 && transaction.currency == "NGN")
        #expect(transaction.settlePayment == "pay_3xQ9")
        let state = PaystackProvider.state(transaction)
        #expect(state.outcome == .succeeded && state.amountMinorUnits == 500_000 && state.paymentID == "pay_3xQ9")
        let expected: [(String, ProviderOutcome?)] = [
            ("success", .succeeded), ("failed", .failed), ("abandoned", nil), ("ongoing", .processing), ("pending", .processing),
            ("processing", .processing), ("queued", .processing), ("reversed", nil),
        ]
        for (status, outcome) in expected {
            var other = transaction
            other.status = status
            #expect(PaystackProvider.state(other).outcome == outcome, "\(status)")
        }
    }

    @Test func eventsAreHintsOrRefunds() throws {
        let charge = PaystackProvider.event(type: "charge.success", data: try JSONValue.parse(Array(#"{"id":302961,"status":"success","reference":"pay-1","amount":10000}"#.utf8)))
        #expect(charge.eventID == "charge.success:302961" && charge.isHint && charge.outcome == nil && charge.target == .providerPayment(id: "pay-1"))
        let refund = PaystackProvider.event(
            type: "refund.processed",
            data: try JSONValue.parse(Array(#"{"id":1234,"status":"processed","transaction_reference":"pay-1","amount":2500,"currency":"NGN"}"#.utf8))
        )
        #expect(refund.refund == ProviderRefund(providerRefundID: "1234", reason: "refunded_at_provider") && refund.amountMinorUnits == 2500)
        #expect(refund.target == .providerPayment(id: "pay-1") && refund.currencyCode == "NGN")
        let failed = PaystackProvider.event(type: "refund.failed", data: try JSONValue.parse(Array(#"{"id":1235,"transaction_reference":"pay-1"}"#.utf8)))
        #expect(failed.refund?.outcome == .failed)
        let other = PaystackProvider.event(type: "subscription.create", data: .object([("id", .int(9))]))
        #expect(other.target == nil && other.outcome == nil && other.refund == nil)
    }
}
