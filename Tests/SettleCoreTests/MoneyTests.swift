import Foundation
import Testing

@testable import SettleCore

@Suite struct MoneyTests {
    // MARK: - Currency table

    @Test(arguments: [
        ("JPY", 0), ("COP", 2), ("UZS", 2), ("THB", 2), ("KWD", 3),
        ("BHD", 3), ("CLF", 4), ("USD", 2), ("KRW", 0), ("VND", 0),
    ])
    func exponent(code: String, expected: Int) throws {
        let currency = try #require(Currency.lookup(code))
        #expect(currency.minorUnitExponent == expected)
        #expect(currency.code == code)
    }

    @Test func namedConstants() {
        #expect(Currency.cop.numericCode == 170)
        #expect(Currency.cop.name == "Colombian peso")
        #expect(Currency.usd.numericCode == 840)
        #expect(Currency.eur.code == "EUR")
        #expect(Currency.jpy.minorUnitExponent == 0)
        #expect(Currency.kwd.minorUnitExponent == 3)
        let named: [Currency] = [.usd, .eur, .cop, .uzs, .thb, .jpy, .kwd, .ngn, .brl, .mxn, .ghs]
        for currency in named {
            #expect(Currency.lookup(currency.code) == currency)
        }
        #expect(Currency.cop.description == "COP")
    }

    @Test func lookupIsCaseInsensitive() throws {
        for spelling in ["COP", "cop", "Cop", "cOp", "coP"] {
            #expect(Currency.lookup(spelling) == .cop)
        }
        #expect(try Currency(code: "thb") == .thb)
        for bad in ["", "CO", "COPX", " COP", "COP ", "C0P", "ＣＯＰ", "çop", "XYZ"] {
            #expect(Currency.lookup(bad) == nil, "\(bad) should not resolve")
        }
    }

    @Test func unknownCodeThrows() {
        let error = #expect(throws: MoneyError.self) { try Currency(code: "XYZ") }
        #expect(error?.code == .unknownCurrency)
        #expect(error?.message == "XYZ is not an active ISO 4217 currency code.")
        #expect(error?.description == error?.message)
    }

    @Test func tableSanity() {
        let all = Currency.all
        #expect(all.count > 150)
        #expect(all.map(\.code) == all.map(\.code).sorted())
        #expect(Set(all.map(\.code)).count == all.count)
        #expect(Set(all.map(\.numericCode)).count == all.count)
        for currency in all {
            let bytes = Array(currency.code.utf8)
            #expect(bytes.count == 3 && bytes.allSatisfy { $0 >= 65 && $0 <= 90 }, "\(currency.code)")
            #expect((0...4).contains(currency.minorUnitExponent), "\(currency.code)")
            #expect((1...999).contains(currency.numericCode), "\(currency.code)")
            #expect(!currency.name.isEmpty)
            #expect(Currency.lookup(currency.code) == currency)
        }
    }

    @Test func tableFollowsRecentAmendments() {
        for current in ["VES", "VED", "SLE", "ZWG", "MRU", "STN", "XCG", "XAD", "CUP",
                        "CLF", "COU", "UYW", "UYI", "BOV", "MXV", "USN", "CHE", "CHW"] {
            #expect(Currency.lookup(current) != nil, "\(current) should be active")
        }
        for withdrawn in ["VEF", "SLL", "ZWL", "MRO", "STD", "HRK", "CUC", "ANG", "BGN",
                          "XAU", "XAG", "XPT", "XPD", "XDR", "XUA", "XSU", "XBA", "XTS", "XXX"] {
            #expect(Currency.lookup(withdrawn) == nil, "\(withdrawn) should be absent")
        }
        #expect(Currency.lookup("ZWG")?.numericCode == 924)
        #expect(Currency.lookup("XCG")?.numericCode == 532)
        #expect(Currency.lookup("UYW")?.minorUnitExponent == 4)
        #expect(Currency.lookup("UYI")?.minorUnitExponent == 0)
    }

    // MARK: - Codable

    @Test func codableRoundTrip() throws {
        let data = try JSONEncoder().encode(Currency.cop)
        #expect(String(decoding: data, as: UTF8.self) == "\"COP\"")
        #expect(try JSONDecoder().decode(Currency.self, from: data) == .cop)

        let everything = try JSONEncoder().encode(Currency.all)
        let decoded = try JSONDecoder().decode([Currency].self, from: everything)
        #expect(decoded == Currency.all)
        #expect(decoded.map(\.minorUnitExponent) == Currency.all.map(\.minorUnitExponent))
    }

    @Test func decodingUnknownCodeFails() {
        do {
            _ = try JSONDecoder().decode(Currency.self, from: Data("\"XYZ\"".utf8))
            Issue.record("decoding XYZ should fail")
        } catch DecodingError.dataCorrupted(let context) {
            #expect(context.debugDescription.contains("XYZ"))
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    // MARK: - Parsing

    @Test(arguments: [
        ("12.34", Currency.cop, Int64(1234)),
        ("12.3", .cop, 1230),
        ("12", .cop, 1200),
        ("1000", .jpy, 1000),
        ("1.5", .kwd, 1500),
        ("-0.05", .cop, -5),
        ("12.340", .cop, 1234),
        ("100.00", .jpy, 100),
        ("007.50", .usd, 750),
        ("0", .usd, 0),
        ("-0", .usd, 0),
        ("0.0001", Currency.lookup("CLF")!, 1),
        ("1.2340000", .kwd, 1234),
        ("150000", .cop, 15_000_000),
        ("92233720368547758.07", .usd, .max),
        ("-92233720368547758.08", .usd, .min),
        ("9223372036854775807", .jpy, .max),
        ("-9223372036854775808", .jpy, .min),
        ("000000000000000000000000000001", .jpy, 1),
    ])
    func parsesValid(input: String, currency: Currency, expected: Int64) throws {
        let money = try Money(decimal: input, currency: currency)
        #expect(money.minorUnits == expected)
        #expect(money.currency == currency)
    }

    @Test(arguments: [
        // invalid syntax
        ("", Currency.usd, MoneyError.Code.invalidDecimal),
        (" ", .usd, .invalidDecimal),
        (" 1", .usd, .invalidDecimal),
        ("1 ", .usd, .invalidDecimal),
        ("1 000", .usd, .invalidDecimal),
        ("+1", .usd, .invalidDecimal),
        ("1e3", .usd, .invalidDecimal),
        ("1E3", .usd, .invalidDecimal),
        ("1,000", .usd, .invalidDecimal),
        ("1_000", .usd, .invalidDecimal),
        (".5", .usd, .invalidDecimal),
        ("5.", .usd, .invalidDecimal),
        ("--1", .usd, .invalidDecimal),
        ("-", .usd, .invalidDecimal),
        ("-.5", .usd, .invalidDecimal),
        ("1.2.3", .usd, .invalidDecimal),
        ("12.3a", .usd, .invalidDecimal),
        ("0x10", .usd, .invalidDecimal),
        ("١٢", .usd, .invalidDecimal),
        ("１２", .usd, .invalidDecimal),
        ("½", .usd, .invalidDecimal),
        ("NaN", .usd, .invalidDecimal),
        ("Infinity", .usd, .invalidDecimal),
        ("1\n", .usd, .invalidDecimal),
        // precision
        ("12.345", .cop, .tooManyDecimals),
        ("12.3401", .cop, .tooManyDecimals),
        ("1.5", .jpy, .tooManyDecimals),
        ("0.0001", .kwd, .tooManyDecimals),
        ("0.00001", Currency.lookup("CLF")!, .tooManyDecimals),
        // range
        ("92233720368547758.08", .usd, .outOfRange),
        ("-92233720368547758.09", .usd, .outOfRange),
        ("100000000000000000", .usd, .outOfRange),
        ("9223372036854775808", .jpy, .outOfRange),
        ("-9223372036854775809", .jpy, .outOfRange),
        ("99999999999999999999999999", .jpy, .outOfRange),
    ])
    func rejectsInvalid(input: String, currency: Currency, expected: MoneyError.Code) {
        let error = #expect(throws: MoneyError.self) { try Money(decimal: input, currency: currency) }
        #expect(error?.code == expected)
    }

    @Test func errorMessages() {
        let decimals = #expect(throws: MoneyError.self) { try Money(decimal: "12.345", currency: .cop) }
        #expect(decimals?.message == "COP allows at most 2 decimal places.")

        let long = String(repeating: "9", count: 40) + "secret-tail"
        let invalid = #expect(throws: MoneyError.self) { try Money(decimal: long, currency: .usd) }
        #expect(invalid?.code == .invalidDecimal)
        #expect(invalid?.message.contains(String(repeating: "9", count: 32)) == true)
        #expect(invalid?.message.contains("secret") == false)

        let control = #expect(throws: MoneyError.self) { try Money(decimal: "1\n2", currency: .usd) }
        #expect(control?.message.contains("\n") == false)

        #expect(MoneyError.Code.unknownCurrency.description == "unknown_currency")
        #expect(MoneyError.Code.invalidDecimal.description == "invalid_decimal")
        #expect(MoneyError.Code.tooManyDecimals.description == "too_many_decimals")
        #expect(MoneyError.Code.outOfRange.description == "out_of_range")
    }

    // MARK: - Formatting

    @Test(arguments: [
        (Int64(1234), Currency.cop, "12.34", "12.34 COP"),
        (5, .cop, "0.05", "0.05 COP"),
        (-5, .cop, "-0.05", "-0.05 COP"),
        (-5, .usd, "-0.05", "-0.05 USD"),
        (0, .usd, "0.00", "0.00 USD"),
        (1000, .jpy, "1000", "1,000 JPY"),
        (0, .jpy, "0", "0 JPY"),
        (1500, .kwd, "1.500", "1.500 KWD"),
        (123_450, .thb, "1234.50", "1,234.50 THB"),
        (15_000_000, .cop, "150000.00", "150,000.00 COP"),
        (-123_456_789, .usd, "-1234567.89", "-1,234,567.89 USD"),
        (100_000, .jpy, "100000", "100,000 JPY"),
        (1, Currency.lookup("CLF")!, "0.0001", "0.0001 CLF"),
        (.max, .usd, "92233720368547758.07", "92,233,720,368,547,758.07 USD"),
        (.min, .usd, "-92233720368547758.08", "-92,233,720,368,547,758.08 USD"),
        (.max, .jpy, "9223372036854775807", "9,223,372,036,854,775,807 JPY"),
        (.min, .jpy, "-9223372036854775808", "-9,223,372,036,854,775,808 JPY"),
        (.min, .kwd, "-9223372036854775.808", "-9,223,372,036,854,775.808 KWD"),
        (.max, Currency.lookup("UYW")!, "922337203685477.5807", "922,337,203,685,477.5807 UYW"),
    ])
    func formats(units: Int64, currency: Currency, decimal: String, display: String) {
        let money = Money(minorUnits: units, currency: currency)
        #expect(money.decimalString == decimal)
        #expect(money.formatted() == display)
        #expect(money.description == display)
    }

    // MARK: - Round trip

    @Test(arguments: ["JPY", "USD", "KWD", "CLF"])
    func roundTrip(code: String) throws {
        let currency = try #require(Currency.lookup(code))
        var values: [Int64] = Array(-20_000...20_000)
        values += [.max, .min, .max - 1, .min + 1]
        var power: Int64 = 1
        for _ in 0...18 {
            values += [power, -power, power - 1, -(power - 1), power + 1, -(power + 1)]
            if power <= Int64.max / 10 { power *= 10 }
        }
        // Deterministic pseudo-random spread over the whole Int64 range (64-bit LCG).
        var state: UInt64 = 0x2545_F491_4F6C_DD1D
        for _ in 0..<5_000 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            values.append(Int64(bitPattern: state))
            values.append(Int64(bitPattern: state >> UInt64(state % 60)))
        }
        for units in values {
            let money = Money(minorUnits: units, currency: currency)
            let parsed = try Money(decimal: money.decimalString, currency: currency)
            #expect(parsed == money, "\(units) \(code) via \(money.decimalString)")
        }
    }

    // MARK: - Provider precision

    @Test func minorUnitsAtExponent() throws {
        let isk = try #require(Currency.lookup("ISK"))
        let huf = try #require(Currency.lookup("HUF"))
        #expect(try Money(minorUnits: 500, currency: isk).minorUnits(atExponent: 2) == 50_000)
        #expect(try Money(minorUnits: 1000, currency: .jpy).minorUnits(atExponent: 2) == 100_000)
        #expect(try Money(minorUnits: 150_000, currency: huf).minorUnits(atExponent: 0) == 1500)
        #expect(try Money(minorUnits: 1200, currency: .cop).minorUnits(atExponent: 0) == 12)
        #expect(try Money(minorUnits: -500, currency: .usd).minorUnits(atExponent: 0) == -5)
        #expect(try Money(minorUnits: 1500, currency: .kwd).minorUnits(atExponent: 2) == 150)
        #expect(try Money(minorUnits: 7, currency: .usd).minorUnits(atExponent: 2) == 7)
        #expect(try Money(minorUnits: .min, currency: .usd).minorUnits(atExponent: 2) == .min)
        #expect(try Money(minorUnits: 1, currency: .jpy).minorUnits(atExponent: 18) == 1_000_000_000_000_000_000)

        let lossy: [(Money, Int)] = [
            (Money(minorUnits: 1234, currency: .cop), 0),
            (Money(minorUnits: 1505, currency: .kwd), 2),
            (Money(minorUnits: 150_050, currency: huf), 0),
            (Money(minorUnits: .min, currency: .usd), 0),
        ]
        for (money, exponent) in lossy {
            let error = #expect(throws: MoneyError.self) { try money.minorUnits(atExponent: exponent) }
            #expect(error?.code == .tooManyDecimals)
        }

        let overflowing: [(Money, Int)] = [
            (Money(minorUnits: .max, currency: .usd), 3),
            (Money(minorUnits: .min, currency: .jpy), 1),
            (Money(minorUnits: 10, currency: .jpy), 18),
            (Money(minorUnits: 1, currency: .usd), -1),
            (Money(minorUnits: 1, currency: .usd), 19),
        ]
        for (money, exponent) in overflowing {
            let error = #expect(throws: MoneyError.self) { try money.minorUnits(atExponent: exponent) }
            #expect(error?.code == .outOfRange)
        }
    }

    @Test func decimalStringWithFractionDigits() throws {
        let isk = try #require(Currency.lookup("ISK"))
        let huf = try #require(Currency.lookup("HUF"))
        #expect(try Money(minorUnits: 500, currency: isk).decimalString(fractionDigits: 2) == "500.00")
        #expect(try Money(minorUnits: 150_000, currency: huf).decimalString(fractionDigits: 0) == "1500")
        #expect(try Money(minorUnits: 1234, currency: .cop).decimalString(fractionDigits: 4) == "12.3400")
        #expect(try Money(minorUnits: 1230, currency: .cop).decimalString(fractionDigits: 1) == "12.3")
        #expect(try Money(minorUnits: 1234, currency: .cop).decimalString(fractionDigits: 2) == "12.34")
        #expect(try Money(minorUnits: -5, currency: .cop).decimalString(fractionDigits: 3) == "-0.050")
        #expect(try Money(minorUnits: -100, currency: .usd).decimalString(fractionDigits: 0) == "-1")
        #expect(try Money(minorUnits: 0, currency: .usd).decimalString(fractionDigits: 0) == "0")
        #expect(try Money(minorUnits: 1500, currency: .kwd).decimalString(fractionDigits: 1) == "1.5")
        #expect(
            try Money(minorUnits: .min, currency: .jpy).decimalString(fractionDigits: 2)
                == "-9223372036854775808.00"
        )

        let lossy: [(Money, Int)] = [
            (Money(minorUnits: 150_050, currency: huf), 0),
            (Money(minorUnits: 1234, currency: .cop), 1),
            (Money(minorUnits: .min, currency: .usd), 0),
        ]
        for (money, digits) in lossy {
            let error = #expect(throws: MoneyError.self) { try money.decimalString(fractionDigits: digits) }
            #expect(error?.code == .tooManyDecimals)
        }
        let unsupported = #expect(throws: MoneyError.self) {
            try Money(minorUnits: 1, currency: .usd).decimalString(fractionDigits: -1)
        }
        #expect(unsupported?.code == .outOfRange)

        // Re-parsing at the provider precision gives back the same amount.
        let money = Money(minorUnits: 123_400, currency: isk)
        let text = try money.decimalString(fractionDigits: 2)
        #expect(try Money(decimal: text, currency: isk) == money)
    }
}
