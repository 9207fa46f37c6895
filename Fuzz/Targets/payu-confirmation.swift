// A PayU confirmation on an outside body: read as a form (and as JSON, which some accounts send), its amount texts
// put through PayU's two rounding rules, its sign recomputed and compared. Nothing may crash or hang, whatever the
// field names, lengths, encodings and amount texts.
import Foundation

enum PayUConfirmationTarget {
    static func run(_ bytes: [UInt8]) {
        var fields = FormURLEncoded.parse(bytes)
        if case .object(let members)? = try? JSONValue.parse(bytes) {
            for (name, value) in members { if let text = value.stringValue ?? value.intValue.map(String.init) { fields[name] = text } }
        }
        let value = fields["value"] ?? fields["TX_VALUE"] ?? ""
        _ = PayUSignature.hundredths(value)
        _ = PayUSignature.responsePageValue(value)
        guard let newValue = PayUSignature.confirmationValue(value) else { return }
        for algorithm in PayUSignature.Algorithm.allCases {
            let expected = PayUSignature.sign(
                algorithm, apiKey: "4Vj8eK4rloUd272L48hsrarnUA", hmacKey: "test123",
                [fields["merchant_id"] ?? "", fields["reference_sale"] ?? "", newValue, fields["currency"] ?? "", fields["state_pol"] ?? ""]
            )
            _ = PayUSignature.matches(fields["sign"], expected)
        }
        if let currency = fields["currency"].flatMap(Currency.lookup) { _ = try? Money(decimal: value, currency: currency) }
    }
}
