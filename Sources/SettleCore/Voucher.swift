import Foundation

/// A cash voucher: what the buyer takes to a counter (Efecty, Baloto, Su Red) to pay a payment in cash. The buyer
/// quotes the `reference` (or presents the `barcode`) before `expiresAt`; the provider reports the payment later.
public struct Voucher: Sendable, Hashable, Codable {
    /// The cash network (`efecty`, `baloto`, `su_red`).
    public var network: String
    /// The number the buyer gives the cashier.
    public var reference: String
    /// The collection agreement (convenio) the cashier pays into, when the merchant holds its own.
    public var agreement: String?
    /// The value the voucher's barcode encodes, when it has one.
    public var barcode: String?
    /// After this the counter refuses the voucher.
    public var expiresAt: Date?
    /// The voucher as a page the buyer can print.
    public var receiptURL: String?
    /// The voucher as a PDF.
    public var receiptPDFURL: String?

    public init(
        network: String, reference: String, agreement: String? = nil, barcode: String? = nil, expiresAt: Date? = nil,
        receiptURL: String? = nil, receiptPDFURL: String? = nil
    ) {
        self.network = network
        self.reference = reference
        self.agreement = agreement
        self.barcode = barcode
        self.expiresAt = expiresAt
        self.receiptURL = receiptURL
        self.receiptPDFURL = receiptPDFURL
    }

    /// `{"network", "reference", "expires_at", "receipt_url", "receipt_pdf_url"}`, with `agreement` and `barcode` when
    /// the voucher has them; times in Unix seconds, as everywhere in the API.
    public var apiObject: JSONValue {
        var members: [(String, JSONValue)] = [("network", .string(network))]
        if let agreement { members.append(("agreement", .string(agreement))) }
        members.append(("reference", .string(reference)))
        if let barcode { members.append(("barcode", .string(barcode))) }
        members += [
            ("expires_at", .int(expiresAt.map(UnixTime.seconds))), ("receipt_url", .string(receiptURL)),
            ("receipt_pdf_url", .string(receiptPDFURL)),
        ]
        return .object(members)
    }

    /// How the store keeps it: the API object with `expires_at` in milliseconds.
    public var stored: String {
        var members: [(String, JSONValue)] = [("network", .string(network)), ("reference", .string(reference))]
        if let agreement { members.append(("agreement", .string(agreement))) }
        if let barcode { members.append(("barcode", .string(barcode))) }
        if let expiresAt { members.append(("expires_at_ms", .int(UnixTime.milliseconds(expiresAt)))) }
        if let receiptURL { members.append(("receipt_url", .string(receiptURL))) }
        if let receiptPDFURL { members.append(("receipt_pdf_url", .string(receiptPDFURL))) }
        return JSONValue.object(members).serialized()
    }

    /// Reads ``stored``; `nil` for anything else.
    public init?(stored text: String) {
        guard let value = try? JSONValue.parse(Array(text.utf8)), let network = value["network"]?.stringValue,
            let reference = value["reference"]?.stringValue
        else { return nil }
        self.init(
            network: network, reference: reference, agreement: value["agreement"]?.stringValue, barcode: value["barcode"]?.stringValue,
            expiresAt: value["expires_at_ms"]?.intValue.map(UnixTime.date(milliseconds:)), receiptURL: value["receipt_url"]?.stringValue,
            receiptPDFURL: value["receipt_pdf_url"]?.stringValue
        )
    }
}
