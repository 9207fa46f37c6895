import Foundation
import SettleCore

/// Efecty's settlement file ("archivo de rendición"): one line per payment collected under the agreement.
///
/// The format Settle reads:
/// - UTF-8, with or without a byte-order mark; lines end in LF or CRLF; blank lines at the end are ignored.
/// - The first line is the header, naming the columns `reference`, `amount`, `paid_at`, `authorization` and
///   optionally `point_of_sale`, in any order, in any case; other columns are ignored. The separator is `,`, or `;`
///   when the header uses it.
/// - Fields may be quoted (`"Calle 10, Bogotá"`, a quote inside doubled), as spreadsheets write them.
/// - `reference`: digits. `amount`: whole pesos, digits only (`150000`; no thousands separator or decimals, which
///   are ambiguous between `,` and `.`). `paid_at`: ISO-8601 with an offset or `Z`
///   (`2026-12-01T10:15:00-05:00`, fractions of a second allowed). `authorization`: Efecty's receipt number, letters,
///   digits and dashes. `point_of_sale`: any text.
/// Anything else refuses the whole file, naming the line and the reason, before any line is applied.
public enum EfectySettlementFile {
    public static let maximumBytes = 16 << 20
    public static let maximumLines = 200_000

    public static func parse(_ bytes: [UInt8]) throws(SettlementFileError) -> [SettlementLine] {
        guard bytes.count <= maximumBytes else { throw SettlementFileError(line: 0, "the file is larger than \(maximumBytes >> 20) MB") }
        var body = bytes[...]
        if body.starts(with: [0xEF, 0xBB, 0xBF]) { body = body.dropFirst(3) }
        guard let text = String(validating: body, as: UTF8.self) else { throw SettlementFileError(line: 0, "the file is not UTF-8 text") }
        // "\r\n" is one Character in Swift: split on either ending.
        var lines = text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" })
        while let last = lines.last, last.allSatisfy({ $0 == " " || $0 == "\t" }) { lines.removeLast() }
        guard let header = lines.first else { throw SettlementFileError(line: 0, "the file is empty") }
        guard lines.count - 1 <= maximumLines else { throw SettlementFileError(line: 0, "the file has more than \(maximumLines) lines") }
        let separator: Character = header.contains(";") && !header.contains(",") ? ";" : ","
        let names = try fields(header, separator: separator, line: 1).map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        func column(_ name: String, required: Bool = true) throws(SettlementFileError) -> Int? {
            let found = names.indices.filter { names[$0] == name }
            guard found.count <= 1 else { throw SettlementFileError(line: 1, "the header names \(name) twice") }
            if required, found.isEmpty { throw SettlementFileError(line: 1, "the header has no \(name) column") }
            return found.first
        }
        let reference = try column("reference")!, amount = try column("amount")!, paidAt = try column("paid_at")!
        let authorization = try column("authorization")!, pointOfSale = try column("point_of_sale", required: false)
        var parsed: [SettlementLine] = []
        parsed.reserveCapacity(lines.count - 1)
        var receipts: [String: Int] = [:]
        let dates = Timestamps()
        for (offset, text) in lines.enumerated().dropFirst() {
            let number = offset + 1
            guard !text.isEmpty else { throw SettlementFileError(line: number, "the line is empty") }
            let values = try fields(text, separator: separator, line: number)
            guard values.count == names.count else {
                throw SettlementFileError(line: number, "the line has \(values.count) fields where the header has \(names.count) (a cut file?)")
            }
            let referenceText = values[reference].trimmingCharacters(in: .whitespaces)
            guard (6...30).contains(referenceText.utf8.count), EfectyConfiguration.isDigits(referenceText) else {
                throw SettlementFileError(line: number, "reference must be 6 to 30 digits")
            }
            let amountText = values[amount].trimmingCharacters(in: .whitespaces)
            guard (1...13).contains(amountText.utf8.count), EfectyConfiguration.isDigits(amountText), let pesos = Int64(amountText), pesos > 0 else {
                throw SettlementFileError(line: number, "amount must be whole pesos, digits only (150000)")
            }
            guard let paid = dates.parse(values[paidAt].trimmingCharacters(in: .whitespaces)) else {
                throw SettlementFileError(line: number, "paid_at must be ISO-8601 with an offset (2026-12-01T10:15:00-05:00)")
            }
            let receipt = values[authorization].trimmingCharacters(in: .whitespaces)
            guard (1...40).contains(receipt.utf8.count),
                receipt.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x41...0x5A).contains($0) || (0x61...0x7A).contains($0) || $0 == 0x2D })
            else { throw SettlementFileError(line: number, "authorization must be 1 to 40 letters, digits or dashes") }
            let place = pointOfSale.map { values[$0].trimmingCharacters(in: .whitespaces) }
            if let place, place.utf8.count > 200 || Text.hasControlCharacters(place) {
                throw SettlementFileError(line: number, "point_of_sale must be at most 200 bytes of text")
            }
            let line = SettlementLine(
                line: number, reference: referenceText, amountMinorUnits: pesos * 100, paidAt: paid, authorization: receipt,
                pointOfSale: place?.isEmpty == false ? place : nil
            )
            // A receipt repeated as it was is a duplicated line; one naming another voucher, amount or time is not Efecty's.
            if let first = receipts[receipt] {
                let earlier = parsed[first]
                guard earlier.reference == line.reference, earlier.amountMinorUnits == line.amountMinorUnits, earlier.paidAt == line.paidAt else {
                    throw SettlementFileError(line: number, "authorization \(receipt) is on line \(earlier.line) for another payment")
                }
            } else {
                receipts[receipt] = parsed.count
            }
            parsed.append(line)
        }
        return parsed
    }

    /// The fields of one line, with RFC 4180 quoting.
    static func fields(_ line: Substring, separator: Character, line number: Int) throws(SettlementFileError) -> [String] {
        var fields: [String] = []
        var current = ""
        var quoted = false
        var index = line.startIndex
        var fieldStart = true
        while index < line.endIndex {
            let character = line[index]
            if quoted {
                if character == "\"" {
                    let next = line.index(after: index)
                    if next < line.endIndex, line[next] == "\"" {
                        current.append("\"")
                        index = next
                    } else {
                        quoted = false
                    }
                } else {
                    current.append(character)
                }
            } else if character == separator {
                fields.append(current)
                current = ""
                fieldStart = true
                index = line.index(after: index)
                continue
            } else if character == "\"", fieldStart {
                quoted = true
            } else {
                current.append(character)
            }
            fieldStart = false
            index = line.index(after: index)
        }
        guard !quoted else { throw SettlementFileError(line: number, "a quoted field is not closed (a cut file?)") }
        fields.append(current)
        return fields
    }

    /// `2026-12-01T10:15:00-05:00`, `…Z`, with optional fractions: an instant; `nil` without an offset. Two formatters
    /// for a whole file, not two per line.
    final class Timestamps {
        let whole = ISO8601DateFormatter()
        let fractional = ISO8601DateFormatter()

        init() {
            whole.formatOptions = [.withInternetDateTime]
            fractional.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        }

        func parse(_ text: String) -> Date? {
            guard text.utf8.count <= 40 else { return nil }
            return whole.date(from: text) ?? fractional.date(from: text)
        }
    }
}
