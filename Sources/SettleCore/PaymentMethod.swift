/// How the buyer pays: a type the provider declared (`checkout`, `card`, `pse`, `nequi`, `cash`, `receipt`, …) and
/// that type's fields (`bank`, `phone`, `network`, …), all strings. Never card data: cards are entered on the
/// provider's page or sent from the buyer's browser straight to the provider.
public struct PaymentMethod: Sendable, Hashable, Codable {
    /// The hosted page of the provider: the default type.
    public static let checkoutType = "checkout"

    public var type: String
    public var fields: [String: String]

    public init(type: String, fields: [String: String] = [:]) {
        self.type = type
        self.fields = fields
    }

    public subscript(_ field: String) -> String? { fields[field] }

    /// `{"type": …, <fields, sorted by name>}` as the API shows it.
    public var apiObject: JSONValue {
        .object([("type", .string(type))] + fields.keys.sorted().map { ($0, .string(fields[$0]!)) })
    }
}
