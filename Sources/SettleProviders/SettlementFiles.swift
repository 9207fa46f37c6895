import Foundation
import SettleCore

/// A provider that reports payments in files rather than notifications (Efecty's settlement file under the
/// merchant's own agreement). Settle imports a file by command, API or a watched folder: the whole file is parsed
/// first (a malformed one is refused whole), stored raw with its SHA-256, and each line applied exactly once through
/// the same path as a notification, keyed on the line's receipt number, so a file seen twice or two files that
/// overlap change nothing twice.
public protocol SettlementFileProvider: PaymentProvider {
    /// Every line of a file, or why the file is refused.
    func parseSettlement(_ bytes: [UInt8]) throws(SettlementFileError) -> [SettlementLine]
    /// The folder Settle watches for files (`nil`: imports by command or API only).
    var settlementInbox: String? { get }
    /// The payments the inbox's files settle (live, unless the operator points it at an emulator).
    var settlementInboxMode: Mode { get }
    /// How often the folder is looked at.
    var settlementImportInterval: Duration { get }
    /// The currency the files' amounts are in.
    var settlementCurrency: Currency { get }
}

/// One payment a settlement file reports.
public struct SettlementLine: Sendable, Hashable {
    /// The line's number in the file (the header is line 1).
    public var line: Int
    public var reference: String
    /// COP minor units (whole pesos × 100).
    public var amountMinorUnits: Int64
    public var paidAt: Date
    /// Efecty's receipt number: the line's identity, so a line seen in two files is applied once.
    public var authorization: String
    public var pointOfSale: String?

    public init(line: Int, reference: String, amountMinorUnits: Int64, paidAt: Date, authorization: String, pointOfSale: String?) {
        self.line = line
        self.reference = reference
        self.amountMinorUnits = amountMinorUnits
        self.paidAt = paidAt
        self.authorization = authorization
        self.pointOfSale = pointOfSale
    }
}

/// Why a settlement file is refused, whole: the line (1 is the header; 0 the file itself) and the reason.
public struct SettlementFileError: Error, Sendable, Hashable, CustomStringConvertible {
    public var line: Int
    public var reason: String

    public init(line: Int, _ reason: String) {
        self.line = line
        self.reason = reason
    }

    public var description: String { line == 0 ? reason : "line \(line): \(reason)" }
}

