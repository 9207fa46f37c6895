import SettleCore

/// Stripe's amount rules, converted exactly at the adapter's edge (docs.stripe.com/currencies):
/// - zero-decimal currencies are sent in whole units;
/// - ISK is zero-decimal in ISO 4217 but Stripe still takes it with two decimals (5 ISK → 500);
/// - BHD, JOD, KWD, OMR and TND are sent in thousandths whose last digit must be 0 (Stripe asks integrations to
///   round; Settle never rounds money, so such an amount is refused instead);
/// - every other supported currency is sent in hundredths.
public enum StripeCurrency {
    public static let zeroDecimal: Set<String> = [
        "BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF",
    ]
    public static let threeDecimal: Set<String> = ["BHD", "JOD", "KWD", "OMR", "TND"]

    /// The exponent Stripe uses for this currency, or nil when Stripe does not take it.
    public static func exponent(_ currency: Currency) -> Int? {
        if zeroDecimal.contains(currency.code) { return 0 }
        if threeDecimal.contains(currency.code) { return 3 }
        if currency.code == "ISK" { return 2 }
        return currency.minorUnitExponent == 2 ? 2 : nil
    }

    /// Why an amount cannot be sent to Stripe.
    public struct Unsupported: Error, Sendable, Hashable {
        public let message: String
    }

    /// The integer Stripe expects for `money`, exactly.
    public static func amount(_ money: Money) throws(Unsupported) -> Int64 {
        guard let exponent = exponent(money.currency) else {
            throw Unsupported(message: "Stripe does not take \(money.currency.code).")
        }
        let amount: Int64
        do {
            amount = try money.minorUnits(atExponent: exponent)
        } catch {
            throw Unsupported(message: "\(money.currency.code) amounts must be whole units for Stripe.")
        }
        if exponent == 3 && amount % 10 != 0 {
            throw Unsupported(message: "Stripe requires \(money.currency.code) amounts in multiples of 10 (the last digit must be 0).")
        }
        return amount
    }

    /// Stripe's integer back in ISO minor units, or nil when it cannot be represented exactly.
    public static func minorUnits(stripeAmount: Int64, currency: Currency) -> Int64? {
        guard let exponent = exponent(currency) else { return nil }
        let iso = currency.minorUnitExponent
        if iso >= exponent {
            var value = stripeAmount
            for _ in 0..<(iso - exponent) {
                let (product, overflow) = value.multipliedReportingOverflow(by: 10)
                if overflow { return nil }
                value = product
            }
            return value
        }
        var divisor: Int64 = 1
        for _ in 0..<(exponent - iso) { divisor *= 10 }
        return stripeAmount % divisor == 0 ? stripeAmount / divisor : nil
    }
}
