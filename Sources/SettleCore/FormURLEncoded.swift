/// `application/x-www-form-urlencoded` bodies (HTML forms, and providers that post forms), decoded on bytes without
/// Foundation: `+` is a space, `%XX` a byte, an invalid escape is kept as it is, and a repeated name keeps its first
/// value. Names and values are UTF-8 (invalid sequences are replaced).
public enum FormURLEncoded {
    /// The pairs in order, repeats included.
    public static func pairs(_ body: [UInt8]) -> [(String, String)] {
        var pairs: [(String, String)] = []
        for field in body.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true) {
            let parts = field.split(separator: UInt8(ascii: "="), maxSplits: 1, omittingEmptySubsequences: false)
            pairs.append((decode(parts[0]), parts.count > 1 ? decode(parts[1]) : ""))
        }
        return pairs
    }

    /// Name → first value.
    public static func parse(_ body: [UInt8]) -> [String: String] {
        var fields: [String: String] = [:]
        for (name, value) in pairs(body) where fields[name] == nil { fields[name] = value }
        return fields
    }

    static func decode(_ bytes: ArraySlice<UInt8>) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var index = bytes.startIndex
        while index < bytes.endIndex {
            let byte = bytes[index]
            if byte == UInt8(ascii: "+") {
                out.append(UInt8(ascii: " "))
            } else if byte == UInt8(ascii: "%"), index + 2 < bytes.endIndex, let high = hex(bytes[index + 1]), let low = hex(bytes[index + 2]) {
                out.append(high << 4 | low)
                index += 2
            } else {
                out.append(byte)
            }
            index += 1
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func hex(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
