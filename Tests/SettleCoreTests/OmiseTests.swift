import Foundation
import Testing

@testable import SettleCore
@testable import SettleProviders

/// Omise's webhook signature, with the sheet's vector, and what the adapter reads from Omise's objects.
@Suite struct OmiseTests {
    /// `../shared/protocols/omise.md` §7: the secret as the dashboard shows it, base64-decoded to the key.
    static let secret = "b21pc2UtdGVzdC13ZWJob29rLXNlY3JldC0zMmJ5dGU="
    static let body = Array(
        #"{"object":"event","id":"evnt_test_5xyz","key":"charge.complete","data":{"object":"charge","id":"chrg_test_5xyz","amount":100000,"currency":"thb","status":"successful"}}"#.utf8
    )
    static let key = Array(Data(base64Encoded: secret)!)

    @Test func theSheetsVector() throws {
        #expect(String(decoding: Self.key, as: UTF8.self) == "omise-test-webhook-secret-32byte")
        #expect(OmiseSignature.signature(key: Self.key, timestamp: "1700000000", body: Self.body) == "c70a3aa43b9357ae361a756c7a93065e81afe34b63def78fa17a770bec32cde0")
        let now = Date(timeIntervalSince1970: 1_700_000_100)
        try OmiseSignature.verify(
            signatures: "c70a3aa43b9357ae361a756c7a93065e81afe34b63def78fa17a770bec32cde0", timestamp: "1700000000", body: Self.body, key: Self.key, now: now
        )
        // During a roll, two signatures: either may match.
        try OmiseSignature.verify(
            signatures: "00112233, c70a3aa43b9357ae361a756c7a93065e81afe34b63def78fa17a770bec32cde0", timestamp: "1700000000", body: Self.body,
            key: Self.key, now: now
        )
    }

    @Test func refusals() {
        let now = Date(timeIntervalSince1970: 1_700_000_100)
        let good = "c70a3aa43b9357ae361a756c7a93065e81afe34b63def78fa17a770bec32cde0"
        #expect(throws: OmiseSignature.Failure.mismatch) {
            try OmiseSignature.verify(signatures: good, timestamp: "1700000000", body: Self.body + [0x20], key: Self.key, now: now)
        }
        // The secret read as text instead of base64-decoded: the most common mismatch.
        #expect(throws: OmiseSignature.Failure.mismatch) {
            try OmiseSignature.verify(signatures: good, timestamp: "1700000000", body: Self.body, key: Array(Self.secret.utf8), now: now)
        }
        #expect(throws: OmiseSignature.Failure.mismatch) {
            try OmiseSignature.verify(signatures: good.uppercased(), timestamp: "1700000000", body: Self.body, key: Self.key, now: now)
        }
        #expect(throws: OmiseSignature.Failure.staleTimestamp) {
            try OmiseSignature.verify(signatures: good, timestamp: "1700000000", body: Self.body, key: Self.key, now: now.addingTimeInterval(300))
        }
        #expect(throws: OmiseSignature.Failure.missingHeader) {
            try OmiseSignature.verify(signatures: nil, timestamp: "1700000000", body: Self.body, key: Self.key, now: now)
        }
        #expect(throws: OmiseSignature.Failure.missingHeader) {
            try OmiseSignature.verify(signatures: good, timestamp: "17e8", body: Self.body, key: Self.key, now: now)
        }
    }

    @Test func keysAndModes() {
        #expect(OmiseConfiguration.mode(of: "skey_test_5xs8breq32civvobx15", prefix: "skey") == .test)
        #expect(OmiseConfiguration.mode(of: "skey_5xs8breq32civvobx15", prefix: "skey") == .live)
        #expect(OmiseConfiguration.mode(of: "pkey_test_5xs8breq32civvobx15", prefix: "pkey") == .test)
        #expect(OmiseConfiguration.mode(of: "skey_test_", prefix: "skey") == nil)
        #expect(OmiseConfiguration.mode(of: "sk_test_5xs8breq32civvobx15", prefix: "skey") == nil)
        let mixed = OmiseConfiguration(
            secretKey: "skey_5xs8breq32civvobx15", publicKey: "pkey_test_5xs8breq32civvobx15", webhookSecret: Self.secret, apiBase: nil, vaultBase: nil
        )
        #expect(mixed.startupRefusal != nil && mixed.problem == nil)
        let notBase64 = OmiseConfiguration(
            secretKey: "skey_test_5xs8breq32civvobx15", publicKey: "pkey_test_5xs8breq32civvobx15", webhookSecret: "not base64!", apiBase: nil, vaultBase: nil
        )
        #expect(notBase64.problem == "SETTLE_OMISE_WEBHOOK_SECRET is not the base64 secret the dashboard shows")
        let noSecret = OmiseConfiguration(secretKey: nil, publicKey: nil, webhookSecret: nil, apiBase: nil, vaultBase: nil)
        #expect(noSecret.problem == "SETTLE_OMISE_SECRET_KEY is not set")
    }

    /// A charge as Omise's API writes it (docs.omise.co/api/charges), read into Settle's outcome.
    @Test func charges() throws {
        let successful = try #require(OmiseCharge(try JSONValue.parse(Array(
            #"{"object":"charge","id":"chrg_test_5x1","amount":150000,"currency":"thb","status":"successful","paid":true,"authorize_uri":null,"failure_code":null,"metadata":{"settle_payment_id":"pay_1"},"refunds":{"object":"list","data":[{"object":"refund","id":"rfnd_test_1","amount":5000,"currency":"thb","status":"closed","metadata":{"settle_refund":"re_1"}}]}}"#.utf8
        ))))
        #expect(OmiseProvider.state(successful) == ProviderPaymentState(outcome: .succeeded, amountMinorUnits: 150000, currencyCode: "THB", providerPaymentID: "chrg_test_5x1", paymentID: "pay_1"))
        #expect(successful.refunds == [OmiseCharge.Refund(id: "rfnd_test_1", amount: 5000, currency: "THB", status: "closed", settleRefund: "re_1")])
        let failed = try #require(OmiseCharge(try JSONValue.parse(Array(
            #"{"object":"charge","id":"chrg_test_5x2","amount":150000,"currency":"thb","status":"failed","paid":false,"failure_code":"insufficient_fund","failure_message":"insufficient funds"}"#.utf8
        ))))
        #expect(OmiseProvider.state(failed).outcome == .failed && OmiseProvider.state(failed).failure == PaymentFailure(code: "insufficient_fund", message: "insufficient funds"))
        let pending = try #require(OmiseCharge(try JSONValue.parse(Array(
            #"{"object":"charge","id":"chrg_test_5x3","amount":150000,"currency":"thb","status":"pending","paid":false,"source":{"scannable_code":{"image":{"download_uri":"https://api.omise.co/charges/chrg_test_5x3/documents/qr.png"}}}}"#.utf8
        ))))
        #expect(OmiseProvider.state(pending).outcome == nil && pending.qrImageURL == "https://api.omise.co/charges/chrg_test_5x3/documents/qr.png")
        // "successful" without paid (an authorization not captured) is not a success.
        let authorized = try #require(OmiseCharge(try JSONValue.parse(Array(#"{"object":"charge","id":"c","status":"successful","paid":false}"#.utf8))))
        #expect(OmiseProvider.state(authorized).outcome == nil)
        #expect(OmiseCharge(try JSONValue.parse(Array(#"{"object":"refund","id":"r","status":"closed"}"#.utf8))) == nil)
    }
}
