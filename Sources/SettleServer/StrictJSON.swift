import Foundation
import Settle

/// Decodes JSON request bodies strictly: unknown fields, wrong types and malformed JSON each get a precise error
/// naming the parameter.
enum StrictJSON {
    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    private struct KeyProbe: Decodable {
        let keys: [String]
        init(from decoder: any Decoder) throws {
            keys = try decoder.container(keyedBy: Key.self).allKeys.map(\.stringValue)
        }
    }

    static func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8], allowed: Set<String>) throws(SettleError) -> T {
        let data = bytes.isEmpty ? Data("{}".utf8) : Data(bytes)
        let keys: [String]
        do {
            keys = try JSONDecoder().decode(KeyProbe.self, from: data).keys
        } catch {
            throw SettleError(.invalidRequest, status: 400, code: "invalid_json", "The request body is not a JSON object.")
        }
        for key in keys where !allowed.contains(key) {
            throw SettleError.invalid(key, "Unknown parameter \(key.prefix(40)).", code: "parameter_unknown")
        }
        do {
            return try JSONDecoder().decode(T.self, from: data)
        } catch let error as SettleError {
            throw error
        } catch let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context) {
            let param = Self.param(context.codingPath)
            throw SettleError.invalid(param, "\(param) has the wrong type.")
        } catch let DecodingError.keyNotFound(key, context) {
            let param = Self.param(context.codingPath + [key])
            throw SettleError.invalid(param, "\(param) is required.", code: "parameter_missing")
        } catch let DecodingError.dataCorrupted(context) where !context.codingPath.isEmpty {
            let param = Self.param(context.codingPath)
            throw SettleError.invalid(param, "\(param) has an invalid value.")
        } catch {
            throw SettleError(.invalidRequest, status: 400, code: "invalid_json", "The request body is not valid JSON.")
        }
    }

    static func param(_ path: [any CodingKey]) -> String {
        path.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
    }
}
