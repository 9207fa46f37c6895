/// Voucher references for Efecty under the merchant's own agreement: what a cashier types, so digits only and always
/// the same length, 16: the configured prefix (up to 6 digits), a random part drawn from the system's CSPRNG (never
/// derived from anything guessable: not the payment id, a counter or the time), and a Luhn check digit, which catches
/// every single mistyped digit and almost every swap of two neighbouring ones before the counter accepts the
/// reference. Uniqueness is not left to chance: Settle reserves every reference under a database constraint and asks
/// for a new one on a collision.
public enum EfectyReference {
    /// Every reference's length.
    public static let length = 16
    /// The longest prefix: a shorter random part would make collisions common.
    public static let maximumPrefixLength = 6

    /// The Luhn check digit of `digits` (ASCII digits only).
    public static func checkDigit(_ digits: some StringProtocol) -> Character {
        var sum = 0
        for (index, byte) in digits.utf8.reversed().enumerated() {
            var value = Int(byte) - 0x30
            if index % 2 == 0 {
                value *= 2
                if value > 9 { value -= 9 }
            }
            sum += value
        }
        return Character(String((10 - sum % 10) % 10))
    }

    /// Whether a reference has the right length, only digits and a valid check digit.
    public static func isValid(_ reference: some StringProtocol) -> Bool {
        guard reference.utf8.count == length, reference.utf8.allSatisfy({ (0x30...0x39).contains($0) }) else { return false }
        return checkDigit(reference.dropLast()) == reference.last
    }

    /// `count` random decimal digits from the system's CSPRNG.
    public static func secureDigits(_ count: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        var out = ""
        var remaining = count
        while remaining > 0 {
            let chunk = min(remaining, 18)
            let bound = (0..<chunk).reduce(UInt64(1)) { product, _ in product * 10 }
            let value = UInt64.random(in: 0..<bound, using: &generator)
            let text = String(value)
            out += String(repeating: "0", count: chunk - text.count) + text
            remaining -= chunk
        }
        return out
    }

    /// A new reference: `prefix`, then random digits from `random`, then the check digit.
    public static func make(prefix: String, random: (Int) -> String = secureDigits) -> String {
        let body = prefix + random(length - 1 - prefix.count)
        return body + String(checkDigit(body))
    }
}
