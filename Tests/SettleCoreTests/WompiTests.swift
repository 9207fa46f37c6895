import Foundation
import Logging
import Testing

@testable import SettleCore
@testable import SettleProviders

/// Wompi's hashes against the protocol sheet's vectors (Wompi's documentation example, recomputed), the event
/// mapping, the amount rules and the credentials' environments. Expected checksums are written out, computed outside
/// Settle (Python's hashlib), never with the code under test.
@Suite struct WompiTests {
    static let eventsSecret = "test_events_AbCdEf0123456789"
    static let received = Date(timeIntervalSince1970: 1_530_291_411 + 60)

    /// The sheet's event, byte for byte as Wompi lays it out.
    static func body(
        properties: String = #"["transaction.id","transaction.status","transaction.amount_in_cents"]"#,
        checksum: String = "a0de57471027cd903ad3dcf9528ac4b7e9f978e72abed309a3474dfb405fa309", amount: String = "4490000",
        timestamp: String = "1530291411", status: String = "APPROVED"
    ) -> [UInt8] {
        Array(
            """
            {"event":"transaction.updated","data":{"transaction":{"id":"1234-1610641025-49201","amount_in_cents":\(amount),\
            "reference":"sk8-438k4-xmxm392-sn2m","customer_email":"juan@example.com","currency":"COP","payment_method_type":"NEQUI",\
            "redirect_url":"https://shop.example/return","status":"\(status)","shipping_address":null,"payment_link_id":null,\
            "payment_source_id":null}},"environment":"test","signature":{"properties":\(properties),"checksum":"\(checksum)"},\
            "timestamp":\(timestamp),"sent_at":"2018-07-20T16:45:05.000Z"}
            """.utf8
        )
    }

    static func provider(eventsSecret: String? = WompiTests.eventsSecret) -> WompiProvider {
        WompiProvider(
            configuration: WompiConfiguration(
                publicKey: "pub_test_Q5yDA9xoKdePzhSGeVe9HAez7HgGORGf", privateKey: "prv_test_Kp2lQ7eYq3nRt8uW1xZ4aB6cD9fG0hJ",
                eventsSecret: eventsSecret, integritySecret: "test_integrity_Zz9Yy8Xx7Ww6Vv5Uu4Tt", apiBase: "http://127.0.0.1:1/v1"
            ),
            // Nothing listens there: a call that must confirm an event fails at once, as an unreachable Wompi does.
            context: ProviderContext(logger: Logger(label: "test"), client: .init(timeout: .milliseconds(500), retry: RetryPolicy(maxAttempts: 1)))
        )
    }

    static func verify(_ body: [UInt8], header: String? = nil, at: Date = received, provider: WompiProvider = provider())
        async throws(NotificationRejection) -> VerifiedNotification
    {
        var headers = ["content-type": "application/json"]
        if let header { headers["x-event-checksum"] = header }
        return try await provider.verify(
            InboundNotification(provider: "wompi", contentType: "application/json", headers: headers, body: body, receivedAt: at)
        )
    }

    static func rejection(_ body: [UInt8], header: String? = nil, at: Date = received, provider: WompiProvider = provider()) async
        -> NotificationRejection?
    {
        do {
            _ = try await verify(body, header: header, at: at, provider: provider)
            return nil
        } catch {
            return error
        }
    }

    @Test func integritySignatureVectors() {
        let secret = "prod_integrity_Z5mMke9x0k8gpErbDqwrJXMqsI6SFli6"
        #expect(
            WompiSignature.integrity(reference: "sk8-438k4-xmxm392-sn2m", amountInCents: 2_490_000, currency: "COP", expirationTime: nil, secret: secret)
                == "37c8407747e595535433ef8f6a811d853cd943046624a0ec04662b17bbf33bf5"
        )
        #expect(
            WompiSignature.integrity(
                reference: "sk8-438k4-xmxm392-sn2m", amountInCents: 2_490_000, currency: "COP", expirationTime: "2023-06-09T20:28:50.000Z",
                secret: secret
            ) == "e972f58e7de36b283fbb93d9318d39a54ffdff4e8e917b534f30d63c9d7bb89c"
        )
        #expect(WompiProvider.expirationTime(Date(timeIntervalSince1970: 1_686_342_530.75)) == "2023-06-09T20:28:50.000Z")
    }

    static let everyField = #"["transaction.id","transaction.status","transaction.amount_in_cents","transaction.currency","transaction.reference"]"#
    static let everyFieldChecksum = "68aac5e875d546400f06c78133a8048f8036ea4837a29d027ddb92e5f7c4fc36"

    static func checksum(_ body: [UInt8], header: String? = nil, secret: String = eventsSecret) throws(WompiSignature.Failure) -> [String] {
        try WompiSignature.verify(event: try! JSONValue.parse(body), header: header, secret: secret).signed
    }

    /// The sheet's vector, and the checksum's rules: the listed order, any listed field, never a fixed list.
    @Test func theSheetsChecksumVectorAndTheListedOrder() throws {
        #expect(try Self.checksum(Self.body(), header: "a0de57471027cd903ad3dcf9528ac4b7e9f978e72abed309a3474dfb405fa309")
            == ["transaction.id", "transaction.status", "transaction.amount_in_cents"])
        let reordered = Self.body(
            properties: #"["transaction.amount_in_cents","transaction.id","transaction.status"]"#,
            checksum: "292273b9611b059e62bdfafede5d98df51de09e4216781e0d8aea5ca54de2786"
        )
        _ = try Self.checksum(reordered)
        _ = try Self.checksum(Self.body(properties: #"["transaction.id","transaction.reference"]"#, checksum: "41051ce0b8fcd866e519a06134b272dcf54e46f0475af75fc4dddb60e52776e9"))
        #expect(throws: WompiSignature.Failure.mismatch) {
            _ = try Self.checksum(Self.body(properties: #"["transaction.status","transaction.id","transaction.amount_in_cents"]"#))
        }
        #expect(throws: WompiSignature.Failure.headerMismatch) { _ = try Self.checksum(Self.body(), header: String(repeating: "0", count: 64)) }
        #expect(throws: WompiSignature.Failure.mismatch) { _ = try Self.checksum(Self.body(), secret: "test_events_SomeoneElse999") }
        #expect(throws: WompiSignature.Failure.mismatch) { _ = try Self.checksum(Self.body(amount: "4490001")) }
        #expect(throws: WompiSignature.Failure.missingProperty) { _ = try Self.checksum(Self.body(properties: #"["transaction.id","transaction.missing"]"#)) }
        #expect(throws: WompiSignature.Failure.missingProperty) { _ = try Self.checksum(Self.body(properties: #"["transaction"]"#)) }
        #expect(throws: WompiSignature.Failure.badProperties) { _ = try Self.checksum(Self.body(properties: "[]")) }
        #expect(throws: WompiSignature.Failure.badProperties) { _ = try Self.checksum(Self.body(properties: #"["transaction id"]"#)) }
        #expect(throws: WompiSignature.Failure.noTimestamp) { _ = try Self.checksum(Self.body(timestamp: #""1530291411""#)) }
    }

    /// An event that signs every field Settle reads is applied as it is, without asking Wompi.
    @Test func anEventSigningEveryFieldMaps() async throws {
        let verified = try await Self.verify(Self.body(properties: Self.everyField, checksum: Self.everyFieldChecksum))
        let event = try #require(verified.events.first)
        #expect(event.eventID == "1234-1610641025-49201:APPROVED")
        #expect(event.target == .payment(id: "sk8-438k4-xmxm392-sn2m"))
        #expect(event.outcome == .succeeded)
        #expect(event.amountMinorUnits == 4_490_000 && event.currencyCode == "COP")
        #expect(verified.acknowledgement.status == 200)
    }

    /// The sheet's event signs no reference: it must be confirmed with Wompi's API, and an unreachable API is a
    /// retryable refusal (503), never an event applied on unsigned fields.
    @Test func anEventLeavingTheReferenceUnsignedIsConfirmedWithWompi() async {
        #expect(await Self.rejection(Self.body())?.code == .unavailable)
    }

    @Test func theChecksumIsComparedCaseInsensitively() async throws {
        let upper = Self.body(properties: Self.everyField, checksum: Self.everyFieldChecksum.uppercased())
        #expect(try await Self.verify(upper, header: "68AAC5E875D546400F06C78133a8048f8036ea4837a29d027ddb92e5f7c4fc36").events.count == 1)
    }

    @Test func forgedAndUnsignedEventsAreRefusedByTheAdapter() async {
        let full = Self.body(properties: Self.everyField, checksum: Self.everyFieldChecksum)
        #expect(await Self.rejection(full, provider: Self.provider(eventsSecret: "test_events_SomeoneElse999"))?.code == .invalidSignature)
        #expect(await Self.rejection(Self.body(properties: Self.everyField, checksum: Self.everyFieldChecksum, amount: "4490001"))?.code == .invalidSignature)
        #expect(await Self.rejection(full, header: String(repeating: "0", count: 64))?.code == .invalidSignature)
        #expect(
            await Self.rejection(Array(#"{"event":"transaction.updated","data":{"transaction":{"id":"1","status":"APPROVED"}},"timestamp":1530291411}"#.utf8))?
                .code == .invalidSignature
        )
        #expect(await Self.rejection(Array("event=transaction.updated".utf8))?.code == .invalidSignature)
        // Without its events secret Wompi is disabled: nothing is accepted.
        #expect(await Self.rejection(full, provider: Self.provider(eventsSecret: nil))?.code == .providerDisabled)
    }

    /// Accepted up to 36 hours after its timestamp (Wompi retries within 24), and at most 5 minutes ahead.
    @Test func oldAndFutureEventsAreRefused() async throws {
        let full = Self.body(properties: Self.everyField, checksum: Self.everyFieldChecksum)
        let timestamp = Date(timeIntervalSince1970: 1_530_291_411)
        _ = try await Self.verify(full, at: timestamp.addingTimeInterval(35 * 3600))
        #expect(await Self.rejection(full, at: timestamp.addingTimeInterval(36 * 3600 + 1))?.code == .invalidSignature)
        _ = try await Self.verify(full, at: timestamp.addingTimeInterval(-299))
        #expect(await Self.rejection(full, at: timestamp.addingTimeInterval(-301))?.code == .invalidSignature)
    }

    @Test(arguments: [
        ("APPROVED", ProviderOutcome.succeeded, false), ("DECLINED", .failed, false), ("ERROR", .failed, false),
        ("PENDING", .processing, false),
    ])
    func statusMapping(_ status: String, _ outcome: ProviderOutcome, _ refund: Bool) {
        let mapped = WompiProvider.outcome(status: status)
        #expect(mapped.outcome == outcome && mapped.refund == refund)
    }

    @Test func voidedIsARefundAndUnknownStatusesAreNotActedOn() {
        #expect(WompiProvider.outcome(status: "VOIDED").outcome == nil && WompiProvider.outcome(status: "VOIDED").refund)
        #expect(WompiProvider.outcome(status: "APPROVED_PARTIAL").outcome == nil && !WompiProvider.outcome(status: "APPROVED_PARTIAL").refund)
        #expect(WompiProvider.outcome(status: "approved").outcome == nil)
        func transaction(_ json: String) -> WompiTransaction { WompiTransaction(try! JSONValue.parse(Array(json.utf8)))! }
        let declined = WompiProvider.event(
            transaction(#"{"id":"t1","status":"DECLINED","status_message":"Fondos insuficientes","reference":"pay_1","amount_in_cents":100,"currency":"COP"}"#),
            eventID: "t1:DECLINED"
        )
        #expect(declined.outcome == .failed)
        #expect(declined.failure == PaymentFailure(code: "declined", message: "Fondos insuficientes"))
        let voided = WompiProvider.event(transaction(#"{"id":"t1","status":"VOIDED","reference":"pay_1","amount_in_cents":100,"currency":"COP"}"#), eventID: "t1:VOIDED")
        #expect(voided.outcome == nil && voided.refund == ProviderRefund(providerRefundID: "t1", reason: "voided at Wompi"))
        // An amount that is not a JSON integer never passes for one.
        let fractional = WompiProvider.event(transaction(#"{"id":"t1","status":"APPROVED","reference":"pay_1","amount_in_cents":100.5,"currency":"COP"}"#), eventID: "t1:APPROVED")
        #expect(fractional.amountMinorUnits == nil)
    }

    static func payment(_ minor: Int64, _ currency: String = "COP", method: PaymentMethod? = nil, customer: Customer? = nil) -> Payment {
        Payment(
            id: "pay_1", mode: .test, status: .requiresAction, amount: Money(minorUnits: minor, currency: Currency.lookup(currency)!), provider: "wompi",
            reference: "order-1", customer: customer, paymentMethod: method, createdAt: Date(), updatedAt: Date()
        )
    }

    @Test(arguments: [
        (Int64(100), "COP", nil), (9_500_000, "COP", nil), (150, "COP", "amount"), (1, "COP", "amount"), (9_500_050, "COP", "amount"),
        (10_000, "USD", "currency"),
    ] as [(Int64, String, String?)])
    func amountsAreWholePesosInCOP(_ minor: Int64, _ currency: String, _ refused: String?) {
        do {
            try Self.provider().validate(Self.payment(minor, currency))
            #expect(refused == nil)
        } catch {
            #expect(error.providerCode == refused, "\(error)")
        }
    }

    @Test func apiMethodsNeedAnEmailAndNequiAPhone() {
        let nequi = PaymentMethod(type: "nequi")
        #expect(throws: ProviderError.self) { try Self.provider().validate(Self.payment(10_000, method: nequi)) }
        #expect(throws: ProviderError.self) {
            try Self.provider().validate(Self.payment(10_000, method: nequi, customer: Customer(email: "a@example.com", phone: "12345")))
        }
        #expect(WompiProvider.nequiPhone(method: nequi, customer: Customer(phone: "+57 399 111 1111")) == "3991111111")
        #expect(WompiProvider.nequiPhone(method: nequi, customer: Customer(phone: "573991111111")) == "3991111111")
        #expect(WompiProvider.nequiPhone(method: PaymentMethod(type: "nequi", fields: ["phone": "3992222222"]), customer: Customer(phone: "3991111111")) == "3992222222")
        #expect(WompiProvider.nequiPhone(method: nequi, customer: Customer(phone: "+1 555 123 4567")) == nil)
    }

    @Test func credentialsNameTheirEnvironment() {
        func availability(_ configuration: WompiConfiguration) -> ProviderAvailability {
            WompiProvider(configuration: configuration, context: ProviderContext(logger: Logger(label: "test"))).availability
        }
        let test = WompiConfiguration(
            publicKey: "pub_test_AAAAAAAAAAAA", privateKey: "prv_test_BBBBBBBBBBBB", eventsSecret: "test_events_CCCCCCCCCCCC",
            integritySecret: "test_integrity_DDDDDDDDDDDD"
        )
        #expect(availability(test) == .enabled)
        #expect(test.environment == .test && test.apiBase == WompiConfiguration.sandboxAPIBase)
        var production = WompiConfiguration(
            publicKey: "pub_prod_AAAAAAAAAAAA", privateKey: "prv_prod_BBBBBBBBBBBB", eventsSecret: "prod_events_CCCCCCCCCCCC",
            integritySecret: "prod_integrity_DDDDDDDDDDDD"
        )
        #expect(production.apiBase == WompiConfiguration.productionAPIBase)
        #expect(WompiProvider(configuration: production, context: ProviderContext(logger: Logger(label: "t"))).modes == [.live])
        production.eventsSecret = nil
        #expect(availability(production) == .disabled(reason: "SETTLE_WOMPI_EVENTS_SECRET is not set"))
        let malformed = WompiConfiguration(
            publicKey: "pk_test_AAAAAAAAAAAA", privateKey: "prv_test_BBBBBBBBBBBB", eventsSecret: "test_events_CCCCCCCCCCCC",
            integritySecret: "test_integrity_DDDDDDDDDDDD"
        )
        #expect(availability(malformed) == .disabled(reason: "SETTLE_WOMPI_PUBLIC_KEY is not a Wompi credential (pub_test_… or pub_prod_…)"))
        let mixed = WompiConfiguration(
            publicKey: "pub_test_AAAAAAAAAAAA", privateKey: "prv_prod_BBBBBBBBBBBB", eventsSecret: "test_events_CCCCCCCCCCCC",
            integritySecret: "test_integrity_DDDDDDDDDDDD"
        )
        let provider = WompiProvider(configuration: mixed, context: ProviderContext(logger: Logger(label: "t")))
        #expect(!provider.availability.isEnabled)
        #expect(provider.startupRefusal?.contains("SETTLE_WOMPI_PUBLIC_KEY is a test (sandbox) credential but SETTLE_WOMPI_PRIVATE_KEY is a production credential") == true)
        #expect(provider.startupRefusal?.contains("BBBB") == false, "a credential's value reached a message")
    }
}
