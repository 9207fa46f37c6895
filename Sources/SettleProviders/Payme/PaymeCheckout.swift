import Foundation

/// Payme's GET checkout link: the checkout host followed by standard base64 (with padding) of
/// `m=<merchant>;ac.<field>=<value>;a=<amount in tiyin>[;c=<return url>][;l=<language>]`.
public enum PaymeCheckout {
    public static func link(
        base: String, merchantID: String, account: [(field: String, value: String)], amount: Int64, returnURL: String? = nil,
        language: String? = nil
    ) -> String {
        var parameters = ["m=\(merchantID)"]
        parameters += account.map { "ac.\($0.field)=\($0.value)" }
        parameters.append("a=\(amount)")
        if let returnURL { parameters.append("c=\(returnURL)") }
        if let language { parameters.append("l=\(language)") }
        let encoded = Data(parameters.joined(separator: ";").utf8).base64EncodedString()
        return "\(base.hasSuffix("/") ? String(base.dropLast()) : base)/\(encoded)"
    }
}
