import Foundation
import Logging
import Testing

@testable import SettleCore
@testable import SettleProviders

/// Efecty under the merchant's own agreement: the check digit (Luhn, against the textbook example), the reference
/// generator, the settlement file with every documented variation and the malformed cases (each naming its line),
/// the settings and the voucher's expiry.
@Suite struct EfectyTests {
    // MARK: - References

    @Test func luhnCheckDigit() {
        #expect(EfectyReference.checkDigit("7992739871") == "3")  // the textbook example
        #expect(EfectyReference.checkDigit("770000000000000") == "8")
        #expect(EfectyReference.checkDigit("123456789012345") == "2")
        #expect(EfectyReference.isValid("1234567890123452"))
        #expect(!EfectyReference.isValid("1234567890123453"))  // the check digit mistyped
        #expect(!EfectyReference.isValid("1234567890123542"))  // two neighbours swapped
        #expect(!EfectyReference.isValid("1334567890123452"))  // one digit mistyped
        #expect(!EfectyReference.isValid("123456789012345"))  // too short
        #expect(!EfectyReference.isValid("12345678901234a2"))
    }

    @Test func referencesHaveTheirShape() {
        let reference = EfectyReference.make(prefix: "77") { count in String(repeating: "0", count: count - 1) + "1" }
        #expect(reference == "7700000000000016")
        #expect(EfectyReference.isValid(reference))
        let drawn = EfectyReference.secureDigits(40)
        #expect(drawn.count == 40 && drawn.allSatisfy(\.isNumber))
    }

    /// A million references, with a set standing in for the database's unique constraint: every one valid and of the
    /// prefix, and the constraint all but never has to ask for another (15 random digits: a collision in a million
    /// draws has a probability of about 1 in 2,000; more than three, practically never).
    @Test func aMillionReferencesAreUnique() {
        var taken = Set<String>()
        taken.reserveCapacity(1_000_000)
        var retries = 0
        while taken.count < 1_000_000 {
            let reference = EfectyReference.make(prefix: "")
            if !taken.insert(reference).inserted { retries += 1 }
        }
        #expect(retries <= 3)
        #expect(taken.allSatisfy { $0.utf8.count == 16 })
        #expect(taken.prefix(1000).allSatisfy(EfectyReference.isValid))
    }

    // MARK: - Settlement files

    static let paid = Date(timeIntervalSince1970: 1_796_138_100)  // 2026-12-01T10:15:00-05:00

    @Test func theDocumentedFormat() throws {
        let lines = try EfectySettlementFile.parse(
            Array("reference,amount,paid_at,authorization,point_of_sale\n7700000000000018,150000,2026-12-01T10:15:00-05:00,EF0000000001,Efecty Centro\n".utf8)
        )
        #expect(
            lines == [
                SettlementLine(
                    line: 2, reference: "7700000000000018", amountMinorUnits: 15_000_000, paidAt: Self.paid, authorization: "EF0000000001",
                    pointOfSale: "Efecty Centro"
                )
            ]
        )
    }

    @Test(arguments: [
        // A byte-order mark, CRLF, and blank lines at the end.
        "\u{FEFF}reference,amount,paid_at,authorization,point_of_sale\r\n7700000000000018,150000,2026-12-01T10:15:00-05:00,EF0000000001,Efecty Centro\r\n\r\n",
        // `;`, and the columns in another order, in capitals, with one more that is ignored.
        "AMOUNT;Reference;authorization;paid_at;point_of_sale;cashier\n150000;7700000000000018;EF0000000001;2026-12-01T10:15:00-05:00;Efecty Centro;7\n",
        // UTC, with fractions of a second; spaces around fields.
        "reference,amount,paid_at,authorization,point_of_sale\n 7700000000000018 , 150000 ,2026-12-01T15:15:00.000Z, EF0000000001 ,Efecty Centro\n",
        // Quoted, as spreadsheets write them.
        "\"reference\",\"amount\",\"paid_at\",\"authorization\",\"point_of_sale\"\n\"7700000000000018\",\"150000\",\"2026-12-01T10:15:00-05:00\",\"EF0000000001\",\"Efecty Centro\"",
    ])
    func variations(text: String) throws {
        let lines = try EfectySettlementFile.parse(Array(text.utf8))
        #expect(lines.map(\.reference) == ["7700000000000018"])
        #expect(lines.map(\.amountMinorUnits) == [15_000_000])
        #expect(lines.map(\.paidAt) == [Self.paid])
        #expect(lines.map(\.authorization) == ["EF0000000001"])
        #expect(lines.map(\.pointOfSale) == ["Efecty Centro"])
    }

    @Test func aLineTwiceIsAccepted() throws {
        let line = "7700000000000018,150000,2026-12-01T10:15:00-05:00,EF1\n"
        #expect(try EfectySettlementFile.parse(Array(("reference,amount,paid_at,authorization\n" + line + line).utf8)).count == 2)
    }

    @Test func quotedCommasAndQuotes() throws {
        let lines = try EfectySettlementFile.parse(
            Array("reference,amount,paid_at,authorization,point_of_sale\n7700000000000018,150000,2026-12-01T10:15:00-05:00,EF1,\"Calle 10, \"\"La 10\"\", Bogotá\"\n".utf8)
        )
        #expect(lines.first?.pointOfSale == "Calle 10, \"La 10\", Bogotá")
        let noPlace = try EfectySettlementFile.parse(Array("reference,amount,paid_at,authorization\n7700000000000018,150000,2026-12-01T10:15:00-05:00,EF1".utf8))
        #expect(noPlace.first?.pointOfSale == nil)
    }

    @Test(arguments: [
        ("", 0, "empty"),
        ("reference,amount,paid_at\n", 1, "authorization"),
        ("reference,amount,paid_at,authorization,reference\n", 1, "twice"),
        ("reference,amount,paid_at,authorization\n7700000000000018,150000,2026-12-01T10:15:00-05:00\n", 2, "fields"),
        ("reference,amount,paid_at,authorization\n7700000000000018,150000,2026-12-01T10:15:00-05:00,EF1\n7700000000000026,150", 3, "fields"),
        ("reference,amount,paid_at,authorization\n7700000000000018,150.000,2026-12-01T10:15:00-05:00,EF1\n", 2, "amount"),
        ("reference,amount,paid_at,authorization\n7700000000000018,150000.00,2026-12-01T10:15:00-05:00,EF1\n", 2, "amount"),
        ("reference,amount,paid_at,authorization\n7700000000000018,0,2026-12-01T10:15:00-05:00,EF1\n", 2, "amount"),
        ("reference,amount,paid_at,authorization\n7700000000000018,150000,2026-12-01T10:15:00,EF1\n", 2, "paid_at"),
        ("reference,amount,paid_at,authorization\n7700000000000018,150000,01/12/2026,EF1\n", 2, "paid_at"),
        ("reference,amount,paid_at,authorization\nABC,150000,2026-12-01T10:15:00-05:00,EF1\n", 2, "reference"),
        ("reference,amount,paid_at,authorization\n7700000000000018,150000,2026-12-01T10:15:00-05:00,EF 1\n", 2, "authorization"),
        ("reference,amount,paid_at,authorization\n\n7700000000000018,150000,2026-12-01T10:15:00-05:00,EF1\n", 2, "empty"),
        ("reference,amount,paid_at,authorization,point_of_sale\n7700000000000018,150000,2026-12-01T10:15:00-05:00,EF1,\"Calle 10\n", 2, "quoted"),
        // One receipt naming two vouchers (the same line twice is a duplicate, not an error).
        ("reference,amount,paid_at,authorization\n7700000000000018,150000,2026-12-01T10:15:00-05:00,EF1\n7700000000000026,150000,2026-12-01T10:15:00-05:00,EF1\n", 3, "EF1 is on line 2"),
    ])
    func malformedFilesAreRefusedWhole(text: String, line: Int, reason: String) {
        refused(Array(text.utf8), line: line, reason: reason)
    }

    @Test func notUTF8() {
        refused([0x72, 0x65, 0xFF, 0xFE, 0x0A], line: 0, reason: "UTF-8")
    }

    func refused(_ bytes: [UInt8], line: Int, reason: String) {
        do {
            let lines = try EfectySettlementFile.parse(bytes)
            Issue.record("accepted: \(lines)")
        } catch {
            #expect(error.line == line, "\(error)")
            #expect(error.reason.contains(reason), "\(error)")
        }
    }

    // MARK: - Settings and vouchers

    static func provider(_ configuration: EfectyConfiguration = .init(agreement: "110234", referencePrefix: "77"), now: Date = paid) -> EfectyProvider {
        EfectyProvider(configuration: configuration, context: ProviderContext(logger: Logger(label: "test"), now: { now }))
    }

    @Test func settings() {
        #expect(Self.provider().availability == .enabled && Self.provider().modes == [.test, .live])
        #expect(Self.provider(.init()).availability == .disabled(reason: "SETTLE_EFECTY_AGREEMENT is not set"))
        #expect(Self.provider(.init(agreement: "11-02")).availability == .disabled(reason: "SETTLE_EFECTY_AGREEMENT must be the agreement's number (digits)"))
        #expect(Self.provider(.init(agreement: "1", referencePrefix: "1234567")).availability == .disabled(reason: "SETTLE_EFECTY_REFERENCE_PREFIX must be at most 6 digits"))
        #expect(Self.provider(.init(agreement: "1", voucherHours: "721")).availability == .disabled(reason: "SETTLE_EFECTY_VOUCHER_HOURS must be a whole number of hours from 1 to 720"))
        #expect(Self.provider(.init(agreement: "1", minimumAmount: "150")).availability == .disabled(reason: "SETTLE_EFECTY_MIN_AMOUNT must be COP minor units in whole pesos (a multiple of 100)"))
        #expect(Self.provider(.init(agreement: "1", minimumAmount: "500000", maximumAmount: "400000")).availability == .disabled(reason: "SETTLE_EFECTY_MIN_AMOUNT is above SETTLE_EFECTY_MAX_AMOUNT"))
    }

    static let payment = Payment(
        id: "pay_T3st0001", mode: .test, status: .requiresAction, amount: Money(minorUnits: 15_000_000, currency: .cop), provider: "efecty",
        reference: "order-1", paymentMethod: PaymentMethod(type: "cash"), expiresAt: paid.addingTimeInterval(3600), createdAt: paid, updatedAt: paid
    )

    @Test func vouchersExpireByTheirHoursUnlessTheMerchantSetAnExpiry() async throws {
        let request = ProviderPaymentRequest(
            payment: Self.payment, idempotencyKey: "k", notificationURL: "n", publicURL: "https://settle.example",
            returnPageURL: "r", formPageURL: "https://settle.example/pay/pay_T3st0001/tok"
        )
        let created = try await Self.provider().createPayment(request)
        let voucher = try #require(created.voucher)
        #expect(voucher.expiresAt == Self.paid.addingTimeInterval(72 * 3600))
        #expect(voucher.agreement == "110234" && voucher.network == "efecty")
        #expect(voucher.reference.hasPrefix("77") && EfectyReference.isValid(voucher.reference))
        #expect(voucher.barcode == "110234" + voucher.reference)
        #expect(voucher.receiptURL == "https://settle.example/pay/pay_T3st0001/tok" && created.checkoutURL == voucher.receiptURL)
        #expect(created.providerPaymentID == voucher.reference)
        var asked = request
        asked.expiryRequested = true
        #expect(try await Self.provider().createPayment(asked).voucher?.expiresAt == Self.paid.addingTimeInterval(3600))
    }

    @Test func amountsOutsideTheAgreementAreRefused() {
        func code(_ minorUnits: Int64, _ currency: Currency = .cop) -> String? {
            var payment = Self.payment
            payment.amount = Money(minorUnits: minorUnits, currency: currency)
            do {
                try Self.provider().validate(payment)
                return nil
            } catch {
                return error.providerCode
            }
        }
        #expect(code(15_000_000) == nil)
        #expect(code(1_999_900) == "amount")
        #expect(code(600_000_100) == "amount")
        #expect(code(15_000_050) == "amount")
        #expect(code(15_000, .usd) == "currency")
    }
}
