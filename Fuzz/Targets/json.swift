// The strict JSON parser every request body, provider body and stored row goes through (JSONValue.parse). Nothing
// may crash or hang; what parses must serialize and parse back to the same value.
import Foundation

enum JSONTarget {
    static func run(_ bytes: [UInt8]) {
        if let value = try? JSONValue.parse(bytes) {
            let again = try? JSONValue.parse(value.bytes())
            precondition(again == value, "a parsed value did not survive serializing and parsing again")
            _ = value["amount"]?.intValue
            _ = value["data"]?["object"]?.stringValue
        }
    }
}
