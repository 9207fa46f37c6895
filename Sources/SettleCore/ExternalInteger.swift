/// Integers that come from outside (headers, query strings, provider bodies), read and compared without trapping
/// arithmetic: a value that does not fit is refused, never wrapped and never allowed to overflow a later
/// subtraction.
public enum ExternalInteger {
    /// A non-negative decimal integer of 1 to `maxDigits` ASCII digits (at most 18, so it always fits in `Int64` and
    /// leaves room for arithmetic). `nil` for anything else: signs, spaces, other characters, empty or longer text.
    public static func unsigned(_ text: some StringProtocol, maxDigits: Int = 18) -> Int64? {
        let limit = min(maxDigits, 18)
        var value: Int64 = 0
        var count = 0
        for byte in text.utf8 {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9"), count < limit else { return nil }
            value = value * 10 + Int64(byte - UInt8(ascii: "0"))
            count += 1
        }
        return count == 0 ? nil : value
    }

    /// `|a - b|`, exact for every pair of `Int64` values.
    public static func distance(_ a: Int64, _ b: Int64) -> UInt64 {
        a >= b ? UInt64(bitPattern: a &- b) : UInt64(bitPattern: b &- a)
    }
}
