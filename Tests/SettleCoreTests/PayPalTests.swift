import Crypto
import Foundation
import SwiftASN1
import Testing
import X509
import _CryptoExtras

@testable import SettleCore
@testable import SettleProviders

/// PayPal's offline webhook verification with the sheet's vectors (`../shared/protocols/paypal.md` §7, computed
/// with the official SDK's own function), RSA over certificates made here, and PayPal's exact amounts.
@Suite struct PayPalTests {
    static let body = Array(
        #"{"id":"WH-58D329510W468432D-8HN650336L201105X","event_version":"1.0","create_time":"2019-02-14T21:50:07.940Z","resource_type":"capture","event_type":"PAYMENT.CAPTURE.COMPLETED","summary":"Payment completed for $ 2.51 USD"}"#.utf8
    )

    @Test func theSheetsVector() {
        #expect(PayPalSignature.crc32(Self.body) == 1_411_551_125)
        #expect(PayPalSignature.crc32(Array("123456789".utf8)) == 0xCBF4_3926)  // CRC-32's check value
        #expect(PayPalSignature.crc32([]) == 0)
        #expect(
            PayPalSignature.signedString(
                transmissionID: "69cd13f0-d67a-11e5-baa3-778b53f4ae55", transmissionTime: "2016-02-18T20:01:35Z", webhookID: "1JE4291016473214C",
                body: Self.body
            ) == "69cd13f0-d67a-11e5-baa3-778b53f4ae55|2016-02-18T20:01:35Z|1JE4291016473214C|1411551125"
        )
        // A CRC above 2³¹ prints unsigned (a signed reading would be negative and never match).
        #expect(PayPalSignature.crc32(Array("PayPal".utf8)) > 0)
    }

    @Test func certificateURLsAreHTTPSOnAllowedHostsOnly() {
        let hosts: Set<String> = ["api.paypal.com", "api.sandbox.paypal.com"]
        #expect(PayPalSignature.certificateURL("https://api.paypal.com/v1/notifications/certs/CERT-1", hosts: hosts) != nil)
        #expect(PayPalSignature.certificateURL("https://API.SANDBOX.PAYPAL.COM/v1/notifications/certs/CERT-1", hosts: hosts) != nil)
        #expect(PayPalSignature.certificateURL("http://api.paypal.com/v1/notifications/certs/CERT-1", hosts: hosts) == nil)
        #expect(PayPalSignature.certificateURL("https://api.paypal.com.evil.example/cert", hosts: hosts) == nil)
        #expect(PayPalSignature.certificateURL("https://evil.example/api.paypal.com/cert", hosts: hosts) == nil)
        #expect(PayPalSignature.certificateURL("https://api.paypal.com@evil.example/cert", hosts: hosts) == nil)
        #expect(PayPalSignature.certificateURL("https://user:pw@api.paypal.com/cert", hosts: hosts) == nil)
        #expect(PayPalSignature.certificateURL("file:///etc/passwd", hosts: hosts) == nil)
    }

    /// A CA and certificates it (or another CA) issues, RSA throughout.
    struct Issuer {
        let key: _RSA.Signing.PrivateKey
        let certificate: Certificate

        init(name: String) throws {
            key = try _RSA.Signing.PrivateKey(keySize: .bits2048)
            let subject = try DistinguishedName { CommonName(name) }
            certificate = try Certificate(
                version: .v3, serialNumber: .init(), publicKey: .init(key.publicKey), notValidBefore: Date().addingTimeInterval(-3600),
                notValidAfter: Date().addingTimeInterval(86_400), issuer: subject, subject: subject, signatureAlgorithm: .sha256WithRSAEncryption,
                extensions: try Certificate.Extensions {
                    Critical(BasicConstraints.isCertificateAuthority(maxPathLength: nil))
                    KeyUsage(keyCertSign: true)
                },
                issuerPrivateKey: .init(key)
            )
        }

        func issue(commonName: String, validFor: ClosedRange<TimeInterval> = -3600...86_400) throws -> (pem: String, key: _RSA.Signing.PrivateKey) {
            let leafKey = try _RSA.Signing.PrivateKey(keySize: .bits2048)
            let leaf = try Certificate(
                version: .v3, serialNumber: .init(), publicKey: .init(leafKey.publicKey), notValidBefore: Date().addingTimeInterval(validFor.lowerBound),
                notValidAfter: Date().addingTimeInterval(validFor.upperBound), issuer: certificate.subject,
                subject: try DistinguishedName { CommonName(commonName) }, signatureAlgorithm: .sha256WithRSAEncryption,
                extensions: try Certificate.Extensions { KeyUsage(digitalSignature: true) }, issuerPrivateKey: .init(key)
            )
            return (try leaf.serializeAsPEM().pemString, leafKey)
        }
    }

    @Test func aSignatureCountsOnlyUnderATrustedCurrentPayPalCertificate() async throws {
        let ca = try Issuer(name: "Test CA")
        let other = try Issuer(name: "Another CA")
        let now = Date()
        let message = PayPalSignature.signedString(transmissionID: "t-1", transmissionTime: "2026-12-02T09:00:00Z", webhookID: "WH-1", body: Self.body)

        let good = try ca.issue(commonName: "messageverificationcerts.paypal.com")
        let key = try await PayPalSignature.signingKey(pem: good.pem, roots: [ca.certificate], now: now).key
        let signature = try good.key.signature(for: SHA256.hash(data: Array(message.utf8)), padding: .insecurePKCS1v1_5)
        let base64 = Data(signature.rawRepresentation).base64EncodedString()
        #expect(PayPalSignature.isValid(signature: base64, message: message, key: key))
        // One changed byte of the body, another webhook id, or a signature that is not base64: refused.
        let altered = PayPalSignature.signedString(transmissionID: "t-1", transmissionTime: "2026-12-02T09:00:00Z", webhookID: "WH-1", body: Self.body + [0x20])
        #expect(!PayPalSignature.isValid(signature: base64, message: altered, key: key))
        #expect(!PayPalSignature.isValid(signature: base64, message: message.replacingOccurrences(of: "WH-1", with: "WH-2"), key: key))
        #expect(!PayPalSignature.isValid(signature: "not base64!", message: message, key: key))

        func refusal(_ pem: String, roots: [Certificate]) async -> PayPalSignature.Failure? {
            do {
                _ = try await PayPalSignature.signingKey(pem: pem, roots: roots, now: now)
                return nil
            } catch {
                return error
            }
        }
        #expect(await refusal(try other.issue(commonName: "messageverificationcerts.paypal.com").pem, roots: [ca.certificate]) == .certificateUntrusted)
        #expect(await refusal(try ca.issue(commonName: "messageverificationcerts.paypal.com", validFor: -86_400...(-60)).pem, roots: [ca.certificate]) == .certificateUntrusted)
        #expect(await refusal(try ca.issue(commonName: "evil.example.com").pem, roots: [ca.certificate]) == .certificateNotPayPal)
        #expect(await refusal(try ca.issue(commonName: "paypal.com.evil.example").pem, roots: [ca.certificate]) == .certificateNotPayPal)
        #expect(await refusal("not a certificate", roots: [ca.certificate]) == .certificateUnavailable)
        #expect(await refusal(good.pem, roots: []) == .certificateUntrusted)
    }

    @Test func amountsArePayPalsExactDecimalStrings() throws {
        #expect(try PayPalProvider.value(Money(minorUnits: 1000, currency: .usd)) == "10.00")
        #expect(try PayPalProvider.value(Money(minorUnits: 1000, currency: .jpy)) == "1000")
        #expect(try PayPalProvider.value(Money(minorUnits: 150_000, currency: .thb)) == "1500.00")
        #expect(try PayPalProvider.value(Money(minorUnits: 150_000, currency: Currency.lookup("HUF")!)) == "1500")
        // HUF with fillér, a currency PayPal does not take, a three-decimal currency: refused before any call.
        #expect(throws: ProviderError.self) { try PayPalProvider.value(Money(minorUnits: 150_050, currency: Currency.lookup("HUF")!)) }
        #expect(throws: ProviderError.self) { try PayPalProvider.value(Money(minorUnits: 150_000, currency: .cop)) }
        #expect(throws: ProviderError.self) { try PayPalProvider.value(Money(minorUnits: 1500, currency: .kwd)) }
        // Read back exactly, or not at all.
        #expect(PayPalProvider.minorUnits("10.00", currency: "USD")! == (1000, "USD"))
        #expect(PayPalProvider.minorUnits("2.5", currency: "usd")! == (250, "USD"))
        #expect(PayPalProvider.minorUnits("1000", currency: "JPY")! == (1000, "JPY"))
        #expect(PayPalProvider.minorUnits("1500", currency: "HUF")! == (150_000, "HUF"))
        #expect(PayPalProvider.minorUnits("10.001", currency: "USD") == nil)
        #expect(PayPalProvider.minorUnits("1000.5", currency: "JPY") == nil)
        #expect(PayPalProvider.minorUnits("1e3", currency: "USD") == nil)
        #expect(PayPalProvider.minorUnits("-1.00", currency: "USD") == nil)
        #expect(PayPalProvider.minorUnits("10.00", currency: "XYZ") == nil)
    }

    @Test func eventsMapToOutcomes() throws {
        let capture = try JSONValue.parse(Array(
            #"{"id":"3C679366HH908993F","status":"COMPLETED","custom_id":"pay_1","amount":{"currency_code":"USD","value":"2.51"},"supplementary_data":{"related_ids":{"order_id":"5O190127TN364715T"}}}"#.utf8
        ))
        let completed = PayPalProvider.event(id: "WH-1", type: "PAYMENT.CAPTURE.COMPLETED", resource: capture)
        #expect(completed.target == .payment(id: "pay_1") && completed.outcome == .succeeded && completed.amountMinorUnits == 251 && completed.currencyCode == "USD")
        #expect(completed.providerPaymentID == "5O190127TN364715T" && !completed.isHint)
        #expect(PayPalProvider.event(id: "WH-2", type: "PAYMENT.CAPTURE.DENIED", resource: capture).outcome == .failed)
        #expect(PayPalProvider.event(id: "WH-3", type: "PAYMENT.CAPTURE.PENDING", resource: capture).outcome == .processing)
        let order = try JSONValue.parse(Array(#"{"id":"5O190127TN364715T","status":"APPROVED","purchase_units":[{"custom_id":"pay_1"}]}"#.utf8))
        let approved = PayPalProvider.event(id: "WH-4", type: "CHECKOUT.ORDER.APPROVED", resource: order)
        #expect(approved.isHint && approved.target == .providerPayment(id: "5O190127TN364715T") && approved.outcome == nil)
        let refund = try JSONValue.parse(Array(#"{"id":"1JU08902781691411","status":"COMPLETED","custom_id":"pay_1","amount":{"currency_code":"USD","value":"1.00"}}"#.utf8))
        let refunded = PayPalProvider.event(id: "WH-5", type: "PAYMENT.CAPTURE.REFUNDED", resource: refund)
        #expect(refunded.refund?.providerRefundID == "1JU08902781691411" && refunded.amountMinorUnits == 100 && refunded.outcome == nil)
        #expect(PayPalProvider.event(id: "WH-6", type: "BILLING.SUBSCRIPTION.CREATED", resource: order).outcome == nil)
    }
}
