/// Errors about money: unknown currencies, malformed amounts, lost precision and overflow.
///
/// Modelled on PostgresNIO's `PSQLError`: a struct with an extensible nested ``Code``
/// so new codes can be added without breaking exhaustive `switch` statements downstream.
/// Messages never contain anything sensitive: at most the offending currency code or a
/// short, escaped echo of the input (truncated to 32 characters).
public struct MoneyError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The kind of a ``MoneyError``. Compare with the static members, e.g. `error.code == .outOfRange`.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Base: Sendable, Hashable {
            case unknownCurrency
            case invalidDecimal
            case tooManyDecimals
            case outOfRange
        }

        private let base: Base

        private init(_ base: Base) {
            self.base = base
        }

        /// The currency code is not an active ISO 4217 code with a numeric minor unit.
        public static let unknownCurrency = Code(.unknownCurrency)
        /// The text is not a plain decimal number such as `12.34` or `-0.05`.
        public static let invalidDecimal = Code(.invalidDecimal)
        /// The amount has more non-zero fraction digits than the target precision allows.
        public static let tooManyDecimals = Code(.tooManyDecimals)
        /// The amount (or a requested precision) does not fit in 64-bit minor units.
        public static let outOfRange = Code(.outOfRange)

        /// A stable snake_case identifier, suitable for API error bodies.
        public var description: String {
            switch base {
            case .unknownCurrency: "unknown_currency"
            case .invalidDecimal: "invalid_decimal"
            case .tooManyDecimals: "too_many_decimals"
            case .outOfRange: "out_of_range"
            }
        }
    }

    /// What went wrong.
    public let code: Code
    /// A clear, human-readable explanation.
    public let message: String

    /// Same as ``message``.
    public var description: String { message }

    init(code: Code, message: String) {
        self.code = code
        self.message = message
    }
}

extension MoneyError {
    /// Maximum number of input characters echoed back in a message.
    static let echoLimit = 32

    /// A safe, short rendering of caller input: at most ``echoLimit`` characters, with
    /// quotes, backslashes, control and non-ASCII characters escaped.
    static func echo(_ input: String) -> String { Text.echo(input, limit: echoLimit) }

    static func unknownCurrency(_ code: String) -> MoneyError {
        MoneyError(
            code: .unknownCurrency,
            message: "\(echo(code)) is not an active ISO 4217 currency code."
        )
    }

    static func invalidDecimal(_ input: String) -> MoneyError {
        MoneyError(
            code: .invalidDecimal,
            message: "\"\(echo(input))\" is not a valid decimal amount: use ASCII digits, an optional leading "
                + "'-' and an optional '.' followed by digits (for example 12.34)."
        )
    }

    static func tooManyDecimals(_ currency: Currency) -> MoneyError {
        let places = currency.minorUnitExponent
        return MoneyError(
            code: .tooManyDecimals,
            message: "\(currency.code) allows at most \(places) decimal place\(places == 1 ? "" : "s")."
        )
    }

    static func tooManyDecimals(_ currency: Currency, fractionDigits: Int) -> MoneyError {
        MoneyError(
            code: .tooManyDecimals,
            message: "This \(currency.code) amount cannot be expressed with \(fractionDigits) decimal "
                + "place\(fractionDigits == 1 ? "" : "s") without losing non-zero digits."
        )
    }

    static func outOfRange(_ currency: Currency) -> MoneyError {
        MoneyError(
            code: .outOfRange,
            message: "The \(currency.code) amount does not fit in 64-bit minor units."
        )
    }

    static func unsupportedPrecision(_ digits: Int) -> MoneyError {
        MoneyError(
            code: .outOfRange,
            message: "\(digits) is not a supported number of decimal places (use 0 to \(Money.maxFractionDigits))."
        )
    }
}
