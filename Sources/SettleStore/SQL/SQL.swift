/// A value bound to a statement or read from a row. Settle stores only these four kinds: integers (money in minor
/// units, times in Unix milliseconds, flags as 0/1), text, bytes and null.
public enum SQLValue: Sendable, Hashable {
    case int(Int64)
    case text(String)
    case blob([UInt8])
    case null
}

/// Which SQL engine a statement is for.
public enum SQLDialect: String, Sendable, Hashable {
    case sqlite
    case postgres
}

/// A statement whose interpolated values become bound parameters, never SQL text: `"… WHERE id = \(id)"`.
/// `\(raw:)` inserts trusted SQL text (identifiers, fragments chosen by code, never user input).
public struct SQL: Sendable, ExpressibleByStringInterpolation {
    enum Part: Sendable {
        case text(String)
        case bind(SQLValue)
    }

    var parts: [Part]

    public init(stringLiteral value: String) {
        parts = [.text(value)]
    }

    public init(stringInterpolation: Interpolation) {
        parts = stringInterpolation.parts
    }

    public struct Interpolation: StringInterpolationProtocol {
        var parts: [Part] = []

        public init(literalCapacity: Int, interpolationCount: Int) {}

        public mutating func appendLiteral(_ literal: String) { parts.append(.text(literal)) }
        public mutating func appendInterpolation(_ value: SQLValue) { parts.append(.bind(value)) }
        public mutating func appendInterpolation(_ value: Int64) { parts.append(.bind(.int(value))) }
        public mutating func appendInterpolation(_ value: Int) { parts.append(.bind(.int(Int64(value)))) }
        public mutating func appendInterpolation(_ value: Bool) { parts.append(.bind(.int(value ? 1 : 0))) }
        public mutating func appendInterpolation(_ value: String) { parts.append(.bind(.text(value))) }
        public mutating func appendInterpolation(_ value: [UInt8]) { parts.append(.bind(.blob(value))) }
        public mutating func appendInterpolation(_ value: Int64?) { parts.append(.bind(value.map(SQLValue.int) ?? .null)) }
        public mutating func appendInterpolation(_ value: String?) { parts.append(.bind(value.map(SQLValue.text) ?? .null)) }
        public mutating func appendInterpolation(raw value: String) { parts.append(.text(value)) }
        public mutating func appendInterpolation(_ sql: SQL) { parts.append(contentsOf: sql.parts) }
    }

    /// Appends another statement fragment.
    public static func + (lhs: SQL, rhs: SQL) -> SQL {
        var out = lhs
        out.parts.append(contentsOf: rhs.parts)
        return out
    }

    /// The SQL text with numbered placeholders for the dialect (`$1` or `?1`), and the values to bind.
    public func render(for dialect: SQLDialect) -> (text: String, binds: [SQLValue]) {
        var text = ""
        var binds: [SQLValue] = []
        for part in parts {
            switch part {
            case .text(let literal): text += literal
            case .bind(let value):
                binds.append(value)
                text += dialect == .postgres ? "$\(binds.count)" : "?\(binds.count)"
            }
        }
        return (text, binds)
    }
}

/// One result row, by column name.
public struct SQLRow: Sendable {
    let values: [String: SQLValue]

    init(values: [String: SQLValue]) {
        self.values = values
    }

    public subscript(_ column: String) -> SQLValue { values[column] ?? .null }

    public func int(_ column: String) throws(StoreError) -> Int64 {
        guard case .int(let value) = self[column] else { throw StoreError.decoding(column) }
        return value
    }

    public func optionalInt(_ column: String) throws(StoreError) -> Int64? {
        switch self[column] {
        case .null: return nil
        case .int(let value): return value
        default: throw StoreError.decoding(column)
        }
    }

    public func string(_ column: String) throws(StoreError) -> String {
        guard case .text(let value) = self[column] else { throw StoreError.decoding(column) }
        return value
    }

    public func optionalString(_ column: String) throws(StoreError) -> String? {
        switch self[column] {
        case .null: return nil
        case .text(let value): return value
        default: throw StoreError.decoding(column)
        }
    }

    public func bytes(_ column: String) throws(StoreError) -> [UInt8] {
        switch self[column] {
        case .blob(let value): return value
        case .text(let value): return Array(value.utf8)
        default: throw StoreError.decoding(column)
        }
    }
}

/// A database connection that runs statements. Inside a write batch it is the batch's transaction.
public protocol SQLConnection: Sendable {
    var dialect: SQLDialect { get }
    @discardableResult
    func query(_ sql: SQL) async throws -> [SQLRow]
}
