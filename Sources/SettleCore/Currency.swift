/// An ISO 4217 currency with its minor-unit exponent.
///
/// Values come only from the built-in table of active codes (see `Currency+Table.swift`),
/// so two currencies are equal exactly when their codes are equal. Encodes and decodes
/// as the bare code string, e.g. `"COP"`.
public struct Currency: Sendable, Hashable, Codable, CustomStringConvertible {
    /// Upper-case alphabetic code, e.g. `"COP"`.
    public let code: String
    /// ISO 4217 numeric code, e.g. `170`.
    public let numericCode: Int
    /// Number of decimal places of the minor unit: 2 for COP, 0 for JPY, 3 for KWD, 4 for CLF.
    public let minorUnitExponent: Int
    /// English name, e.g. `"Colombian peso"`.
    public let name: String

    /// Table entries only; callers use ``lookup(_:)`` or ``init(code:)``.
    init(_ code: String, _ numericCode: Int, _ minorUnitExponent: Int, _ name: String) {
        self.code = code
        self.numericCode = numericCode
        self.minorUnitExponent = minorUnitExponent
        self.name = name
    }

    /// Looks a code up, case-insensitively (`"cop"` works). `nil` when unknown.
    public static func lookup(_ code: String) -> Currency? {
        guard let key = normalizedCode(code) else { return nil }
        return byCode[key]
    }

    /// Looks a code up case-insensitively.
    /// - Throws: ``MoneyError`` with code ``MoneyError/Code/unknownCurrency`` for unknown codes.
    public init(code: String) throws(MoneyError) {
        guard let found = Currency.lookup(code) else {
            throw MoneyError.unknownCurrency(code)
        }
        self = found
    }

    /// The whole active table, sorted by code.
    public static var all: [Currency] { sortedTable }

    /// Same as ``code``.
    public var description: String { code }

    // MARK: Identity is the code

    public static func == (lhs: Currency, rhs: Currency) -> Bool {
        lhs.code == rhs.code
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(code)
    }

    // MARK: Codable as the bare code

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let raw = try container.decode(String.self)
        guard let found = Currency.lookup(raw) else {
            throw DecodingError.dataCorruptedError(
                in: container,
                debugDescription: MoneyError.unknownCurrency(raw).message
            )
        }
        self = found
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(code)
    }
}

// MARK: - Well-known currencies

extension Currency {
    /// US dollar (2 decimals).
    public static let usd = known("USD")
    /// Euro (2 decimals).
    public static let eur = known("EUR")
    /// Colombian peso (2 decimals).
    public static let cop = known("COP")
    /// Uzbekistan sum (2 decimals).
    public static let uzs = known("UZS")
    /// Thai baht (2 decimals).
    public static let thb = known("THB")
    /// Japanese yen (0 decimals).
    public static let jpy = known("JPY")
    /// Kuwaiti dinar (3 decimals).
    public static let kwd = known("KWD")
    /// Nigerian naira (2 decimals).
    public static let ngn = known("NGN")
    /// Brazilian real (2 decimals).
    public static let brl = known("BRL")
    /// Mexican peso (2 decimals).
    public static let mxn = known("MXN")
    /// Ghana cedi (2 decimals).
    public static let ghs = known("GHS")

    private static func known(_ code: String) -> Currency {
        guard let currency = byCode[code] else {
            preconditionFailure("\(code) is missing from the ISO 4217 table")
        }
        return currency
    }
}

// MARK: - Lookup index

extension Currency {
    /// The table sorted by code, built once.
    static let sortedTable: [Currency] = table.sorted { $0.code < $1.code }

    /// Code → currency, built once.
    static let byCode: [String: Currency] = Dictionary(
        uniqueKeysWithValues: table.map { ($0.code, $0) }
    )

    /// Upper-cases an ASCII alpha-3 code; `nil` if it is not exactly three ASCII letters.
    static func normalizedCode(_ code: String) -> String? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(3)
        for byte in code.utf8 {
            guard bytes.count < 3 else { return nil }
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): bytes.append(byte)
            case UInt8(ascii: "a")...UInt8(ascii: "z"): bytes.append(byte - 32)
            default: return nil
            }
        }
        guard bytes.count == 3 else { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }
}
