import SettleCore

/// A payment-method type a provider accepts, and its fields. Settle checks a merchant's `payment_method` against it
/// before anything is stored; the provider's ``PaymentProvider/validate(_:)`` may then check more.
public struct PaymentMethodSpec: Sendable, Hashable {
    public struct Field: Sendable, Hashable {
        public enum Rule: Sendable, Hashable {
            /// Any text without control characters, at most this many UTF-8 bytes.
            case text(maxBytes: Int)
            /// ASCII digits only, with a length in this range.
            case digits(ClosedRange<Int>)
            /// One of these values.
            case oneOf([String])
        }

        public var name: String
        public var required: Bool
        public var rule: Rule
        public var summary: String

        public init(_ name: String, required: Bool = false, _ rule: Rule, summary: String) {
            self.name = name
            self.required = required
            self.rule = rule
            self.summary = summary
        }
    }

    /// `checkout`, `card`, `pse`, `nequi`, `bancolombia_transfer`, `cash`, `promptpay`, `receipt`, …
    public var type: String
    public var summary: String
    public var fields: [Field]

    public init(_ type: String, summary: String, fields: [Field] = []) {
        self.type = type
        self.summary = summary
        self.fields = fields
    }

    /// The provider's hosted page, with no fields.
    public static let checkout = PaymentMethodSpec(PaymentMethod.checkoutType, summary: "the provider's hosted payment page")

    /// Checks a method's fields against this type; the error names the field as `payment_method.<field>`.
    public func validate(_ method: PaymentMethod) throws(ProviderError) {
        for name in method.fields.keys.sorted() where !fields.contains(where: { $0.name == name }) {
            throw ProviderError(
                .unsupported, providerCode: "payment_method.\(name)",
                "payment_method.\(Text.echo(name, limit: 40)) does not apply to type \(type)."
            )
        }
        for field in fields {
            let param = "payment_method.\(field.name)"
            guard let value = method.fields[field.name] else {
                if field.required { throw ProviderError(.unsupported, providerCode: param, "\(param) is required for type \(type).") }
                continue
            }
            switch field.rule {
            case .text(let maxBytes):
                guard !value.isEmpty, value.utf8.count <= maxBytes, !Text.hasControlCharacters(value) else {
                    throw ProviderError(.unsupported, providerCode: param, "\(param) must be 1 to \(maxBytes) bytes of text.")
                }
            case .digits(let lengths):
                guard lengths.contains(value.utf8.count), value.utf8.allSatisfy({ (0x30...0x39).contains($0) }) else {
                    throw ProviderError(.unsupported, providerCode: param, "\(param) must be \(lengths.lowerBound == lengths.upperBound ? "\(lengths.lowerBound)" : "\(lengths.lowerBound) to \(lengths.upperBound)") digits.")
                }
            case .oneOf(let values):
                guard values.contains(value) else {
                    throw ProviderError(.unsupported, providerCode: param, "\(param) must be one of \(values.joined(separator: ", ")).")
                }
            }
        }
    }
}
