/// Prefixed random identifiers such as `pay_4ZbT…` (Stripe style: the prefix names the object).
public enum Identifier {
    static let alphabet = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".utf8)

    /// `prefix_` followed by `length` base-62 characters from the system's secure generator.
    public static func make(_ prefix: String, length: Int = 24) -> String {
        "\(prefix)_\(randomToken(length: length))"
    }

    /// `length` base-62 characters from the system's secure generator (≈5.95 bits each).
    public static func randomToken(length: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        var bytes = [UInt8]()
        bytes.reserveCapacity(length)
        for _ in 0..<length {
            bytes.append(alphabet[Int(generator.next(upperBound: UInt64(alphabet.count)))])
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
