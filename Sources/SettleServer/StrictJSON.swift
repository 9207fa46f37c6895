import Settle
import SettleCore

/// A JSON request body read strictly with Settle's own parser (``JSONValue/parse(_:)``: linear in the input, nesting
/// bounded, integers exact). Unknown fields, wrong types and malformed JSON each get a precise error naming the
/// parameter; a number with a fraction or an exponent is never an integer. `null` means absent.
struct StrictJSON {
    private let members: [String: JSONValue]
    /// The path of this object in the body, for error messages (`""` at the top, `"customer."` inside).
    private let prefix: String

    private init(members: [String: JSONValue], prefix: String) {
        self.members = members
        self.prefix = prefix
    }

    /// Parses a body that must be one JSON object with only `allowed` fields. An empty body is `{}`.
    static func parse(_ bytes: [UInt8], allowed: Set<String>) throws(SettleError) -> StrictJSON {
        let value: JSONValue
        do {
            value = bytes.isEmpty ? .object([]) : try JSONValue.parse(bytes)
        } catch {
            throw SettleError(.invalidJSON, "The request body is not valid JSON.")
        }
        guard case .object(let members) = value else {
            throw SettleError(.invalidJSON, "The request body is not a JSON object.")
        }
        return try StrictJSON(object: members, prefix: "", allowed: allowed)
    }

    private init(object members: [(String, JSONValue)], prefix: String, allowed: Set<String>) throws(SettleError) {
        for (key, _) in members where !allowed.contains(key) {
            throw SettleError.invalid("\(prefix)\(key)", "Unknown parameter \(prefix)\(key.prefix(40)).", code: .parameterUnknown)
        }
        self.init(members: Dictionary(members, uniquingKeysWith: { first, _ in first }), prefix: prefix)
    }

    private func present(_ key: String) -> JSONValue? {
        guard let value = members[key], value != .null else { return nil }
        return value
    }

    func contains(_ key: String) -> Bool { present(key) != nil }

    private func wrongType(_ key: String, _ expected: String, code: SettleError.Code = .parameterInvalid) -> SettleError {
        .invalid("\(prefix)\(key)", "\(prefix)\(key) has the wrong type: \(expected) is expected.", code: code)
    }

    func missing(_ key: String) -> SettleError {
        .invalid("\(prefix)\(key)", "\(prefix)\(key) is required.", code: .parameterMissing)
    }

    func string(_ key: String) throws(SettleError) -> String? {
        guard let value = present(key) else { return nil }
        guard case .string(let string) = value else { throw wrongType(key, "a string") }
        return string
    }

    func requiredString(_ key: String) throws(SettleError) -> String {
        guard let string = try string(key) else { throw missing(key) }
        return string
    }

    /// An exact integer; `code` is the error code for a wrong type (`amount_invalid` for amounts).
    func integer(_ key: String, expected: String = "an integer", code: SettleError.Code = .parameterInvalid) throws(SettleError)
        -> Int64?
    {
        guard let value = present(key) else { return nil }
        guard case .int(let integer) = value else { throw wrongType(key, expected, code: code) }
        return integer
    }

    func bool(_ key: String) throws(SettleError) -> Bool? {
        guard let value = present(key) else { return nil }
        guard case .bool(let bool) = value else { throw wrongType(key, "true or false") }
        return bool
    }

    func strings(_ key: String) throws(SettleError) -> [String]? {
        guard let value = present(key) else { return nil }
        guard case .array(let items) = value else { throw wrongType(key, "a list of strings") }
        var strings: [String] = []
        for (index, item) in items.enumerated() {
            guard case .string(let string) = item else { throw wrongType("\(key)[\(index)]", "a string") }
            strings.append(string)
        }
        return strings
    }

    /// An object of string values (metadata).
    func stringMap(_ key: String) throws(SettleError) -> [String: String]? {
        guard let value = present(key) else { return nil }
        guard case .object(let items) = value else { throw wrongType(key, "an object of string values") }
        var map: [String: String] = [:]
        for (name, item) in items {
            guard case .string(let string) = item else { throw wrongType("\(key).\(name)", "a string") }
            map[name] = string
        }
        return map
    }

    /// A nested object with only `allowed` fields.
    func object(_ key: String, allowed: Set<String>) throws(SettleError) -> StrictJSON? {
        guard let value = present(key) else { return nil }
        guard case .object(let items) = value else { throw wrongType(key, "an object") }
        return try StrictJSON(object: items, prefix: "\(prefix)\(key).", allowed: allowed)
    }

    /// A nested object whose fields are all strings, in the order sent (a payment method's fields).
    func stringFields(_ key: String) throws(SettleError) -> [(String, String)]? {
        guard let value = present(key) else { return nil }
        guard case .object(let items) = value else { throw wrongType(key, "an object") }
        var fields: [(String, String)] = []
        for (name, item) in items {
            guard case .string(let string) = item else { throw wrongType("\(key).\(name)", "a string") }
            fields.append((name, string))
        }
        return fields
    }
}
