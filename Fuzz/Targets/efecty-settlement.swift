// An Efecty settlement file from outside: the byte-order mark, line endings, the header's columns and separator,
// RFC 4180 quoting, every field's rule. Nothing may crash or hang, whatever the bytes; a refusal names a line.
import Foundation

enum EfectySettlementTarget {
    static func run(_ bytes: [UInt8]) {
        do {
            let lines = try EfectySettlementFile.parse(bytes)
            for line in lines { precondition(line.amountMinorUnits > 0 && line.amountMinorUnits % 100 == 0) }
        } catch {
            precondition(error.line >= 0)
        }
    }
}
