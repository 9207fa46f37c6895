/// An amount of money: integer minor units and a currency. Never floating point.
///
/// `Money(minorUnits: 1234, currency: .cop)` is COP 12.34. Parsing and formatting are exact
/// and round-trip: `Money(decimal: m.decimalString, currency: m.currency) == m` for every value.
public struct Money: Sendable, Hashable, CustomStringConvertible {
    /// The amount in the currency's minor unit (cents for USD, yen for JPY, fils for KWD).
    public let minorUnits: Int64
    /// The currency of the amount.
    public let currency: Currency

    /// Largest fraction-digit count accepted by the precision-changing APIs (10^18 fits in Int64).
    static let maxFractionDigits = 18

    public init(minorUnits: Int64, currency: Currency) {
        self.minorUnits = minorUnits
        self.currency = currency
    }

    /// Exact parse of a decimal string in major units.
    ///
    /// `"12.34"` COP is 1234, `"12.3"` is 1230, `"12"` is 1200; JPY `"1000"` is 1000; KWD `"1.5"` is 1500;
    /// `"-0.05"` COP is -5. Leading zeros are accepted, and so are extra fraction digits when they are
    /// all zero (`"12.340"` COP, `"100.00"` JPY).
    ///
    /// - Throws: ``MoneyError`` with code
    ///   - ``MoneyError/Code/invalidDecimal`` unless the text is ASCII digits with an optional leading `-`
    ///     and an optional `.` followed by at least one digit (so `""`, `" 1"`, `"+1"`, `"1e3"`, `"1,000"`,
    ///     `".5"`, `"5."`, `"--1"`, `"NaN"` are all rejected);
    ///   - ``MoneyError/Code/tooManyDecimals`` when non-zero digits go beyond the currency's exponent;
    ///   - ``MoneyError/Code/outOfRange`` when the minor units do not fit in `Int64`.
    public init(decimal: String, currency: Currency) throws(MoneyError) {
        let units = try DecimalText.parse(decimal, exponent: currency.minorUnitExponent, currency: currency)
        self.init(minorUnits: units, currency: currency)
    }

    /// Exact decimal string in major units with exactly the currency's exponent of fraction digits:
    /// 1234 COP is `"12.34"`, 5 COP is `"0.05"`, -5 COP is `"-0.05"`, JPY 1000 is `"1000"`, KWD 1500 is `"1.500"`.
    public var decimalString: String {
        DecimalText.render(
            negative: minorUnits < 0,
            digits: String(minorUnits.magnitude),
            fractionDigits: currency.minorUnitExponent,
            grouped: false
        )
    }

    /// Human display with thousands grouping and the code: `"1,234.50 THB"`, `"1,000 JPY"`, `"-0.05 USD"`.
    public func formatted() -> String {
        let number = DecimalText.render(
            negative: minorUnits < 0,
            digits: String(minorUnits.magnitude),
            fractionDigits: currency.minorUnitExponent,
            grouped: true
        )
        return "\(number) \(currency.code)"
    }

    /// Same as ``formatted()``.
    public var description: String { formatted() }

    /// Decimal string with a different number of fraction digits than the ISO exponent, for providers
    /// that use one (e.g. Stripe treats ISK and HUF specially). ISK 500 with 2 digits is `"500.00"`.
    ///
    /// - Throws: ``MoneyError/Code/tooManyDecimals`` if non-zero digits would be lost;
    ///   ``MoneyError/Code/outOfRange`` if `fractionDigits` is outside `0...18`.
    public func decimalString(fractionDigits: Int) throws(MoneyError) -> String {
        guard (0...Money.maxFractionDigits).contains(fractionDigits) else {
            throw MoneyError.unsupportedPrecision(fractionDigits)
        }
        let exponent = currency.minorUnitExponent
        var magnitude = minorUnits.magnitude
        var digits: String
        if fractionDigits >= exponent {
            digits = String(magnitude) + String(repeating: "0", count: fractionDigits - exponent)
        } else {
            let divisor = DecimalText.powerOfTen(exponent - fractionDigits)
            guard magnitude % divisor == 0 else {
                throw MoneyError.tooManyDecimals(currency, fractionDigits: fractionDigits)
            }
            magnitude /= divisor
            digits = String(magnitude)
        }
        return DecimalText.render(
            negative: minorUnits < 0,
            digits: digits,
            fractionDigits: fractionDigits,
            grouped: false
        )
    }

    /// Minor units at a different exponent, e.g. for a provider that wants 2 decimals for a
    /// 0-decimal currency (ISK 500 at exponent 2 is 50000).
    ///
    /// Scaling up is exact. - Throws: ``MoneyError/Code/tooManyDecimals`` when scaling down would lose
    /// non-zero digits; ``MoneyError/Code/outOfRange`` on overflow or an exponent outside `0...18`.
    public func minorUnits(atExponent exponent: Int) throws(MoneyError) -> Int64 {
        guard (0...Money.maxFractionDigits).contains(exponent) else {
            throw MoneyError.unsupportedPrecision(exponent)
        }
        let own = currency.minorUnitExponent
        if exponent == own {
            return minorUnits
        }
        if exponent > own {
            let factor = Int64(DecimalText.powerOfTen(exponent - own))
            let (scaled, overflow) = minorUnits.multipliedReportingOverflow(by: factor)
            guard !overflow else { throw MoneyError.outOfRange(currency) }
            return scaled
        }
        let divisor = Int64(DecimalText.powerOfTen(own - exponent))
        guard minorUnits % divisor == 0 else {
            throw MoneyError.tooManyDecimals(currency, fractionDigits: exponent)
        }
        return minorUnits / divisor
    }
}

/// Exact conversion between decimal text and minor units, on ASCII bytes only.
enum DecimalText {
    /// 10^n for n in 0...19.
    static func powerOfTen(_ n: Int) -> UInt64 {
        var result: UInt64 = 1
        for _ in 0..<n { result *= 10 }
        return result
    }

    private static func isDigit(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }

    /// Parses `-?[0-9]+(\.[0-9]+)?` into minor units at `exponent`.
    static func parse(_ text: String, exponent: Int, currency: Currency) throws(MoneyError) -> Int64 {
        let bytes = Array(text.utf8)
        let count = bytes.count
        var index = 0
        let negative = count > 0 && bytes[0] == UInt8(ascii: "-")
        if negative { index = 1 }

        let integerStart = index
        while index < count, isDigit(bytes[index]) { index += 1 }
        let integerEnd = index
        guard integerEnd > integerStart else { throw MoneyError.invalidDecimal(text) }

        var fractionStart = index
        var fractionEnd = index
        if index < count {
            guard bytes[index] == UInt8(ascii: ".") else { throw MoneyError.invalidDecimal(text) }
            index += 1
            fractionStart = index
            while index < count, isDigit(bytes[index]) { index += 1 }
            fractionEnd = index
            guard fractionEnd > fractionStart, index == count else { throw MoneyError.invalidDecimal(text) }
        }

        let fractionCount = fractionEnd - fractionStart
        let kept = min(fractionCount, exponent)
        for position in (fractionStart + kept)..<fractionEnd where bytes[position] != UInt8(ascii: "0") {
            throw MoneyError.tooManyDecimals(currency)
        }

        // Accumulate the magnitude; a negative amount may reach |Int64.min| = Int64.max + 1.
        let limit = UInt64(Int64.max) + (negative ? 1 : 0)
        var magnitude: UInt64 = 0
        func push(_ digit: UInt64) throws(MoneyError) {
            let (shifted, overflowMultiply) = magnitude.multipliedReportingOverflow(by: 10)
            let (next, overflowAdd) = shifted.addingReportingOverflow(digit)
            guard !overflowMultiply, !overflowAdd, next <= limit else { throw MoneyError.outOfRange(currency) }
            magnitude = next
        }
        for position in integerStart..<integerEnd {
            try push(UInt64(bytes[position] - UInt8(ascii: "0")))
        }
        for position in fractionStart..<(fractionStart + kept) {
            try push(UInt64(bytes[position] - UInt8(ascii: "0")))
        }
        for _ in kept..<exponent {
            try push(0)
        }
        return negative ? Int64(truncatingIfNeeded: 0 &- magnitude) : Int64(magnitude)
    }

    /// Renders a digit string as a decimal with `fractionDigits` places, optionally grouping thousands.
    static func render(negative: Bool, digits: String, fractionDigits: Int, grouped: Bool) -> String {
        var digits = digits
        if digits.count <= fractionDigits {
            digits = String(repeating: "0", count: fractionDigits + 1 - digits.count) + digits
        }
        let split = digits.index(digits.endIndex, offsetBy: -fractionDigits)
        let integerPart = digits[..<split]
        var out = negative ? "-" : ""
        if grouped {
            let length = integerPart.count
            for (offset, character) in integerPart.enumerated() {
                if offset > 0, (length - offset) % 3 == 0 { out.append(",") }
                out.append(character)
            }
        } else {
            out += integerPart
        }
        if fractionDigits > 0 {
            out += "."
            out += digits[split...]
        }
        return out
    }
}
