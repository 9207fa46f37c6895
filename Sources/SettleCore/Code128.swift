import Foundation

/// Code 128 (ISO/IEC 15417): the barcode on a cash voucher, the one the cashier scans instead of typing the reference.
/// Text is printable ASCII (32–126) only, at most 80 characters, with no FNC characters (so no GS1-128).
///
/// Subsets are chosen to keep the symbol short, following the standard's Annex E: code set C (two digits a symbol)
/// for a run of four or more digits, and for text that is just two digits; code set B for everything else. Code set C
/// takes an even count, so an odd run leaves one digit in B: the last one when the text starts with the run (start C,
/// then code B before the last digit), the first one otherwise (code C after it). The symbol ends with the check
/// symbol, the start value plus each later symbol's value times its position (1, 2, …), mod 103, and the stop symbol.
public enum Code128 {
    /// Start symbols, subset switches and stop.
    static let startB = 104
    static let startC = 105
    static let codeB = 100
    static let codeC = 99
    static let stop = 106
    /// The most characters ``encode(_:)`` takes; a voucher reference is far shorter, and a longer symbol would not fit
    /// the paper or a scanner's field of view.
    public static let maximumLength = 80

    /// The symbol values for `text`: start symbol, data (with subset switches), check symbol and stop (106). `nil` for
    /// empty text, more than ``maximumLength`` characters, or any character outside printable ASCII (32–126).
    public static func encode(_ text: String) -> [Int]? {
        let bytes = Array(text.utf8)
        guard !bytes.isEmpty, bytes.count <= maximumLength, bytes.allSatisfy({ (32...126).contains($0) }) else {
            return nil
        }
        let isDigit = { (byte: UInt8) in (48...57).contains(byte) }
        var values: [Int] = []
        var inC = false
        func switchTo(c: Bool) {
            if values.isEmpty {
                values.append(c ? startC : startB)
            } else if inC != c {
                values.append(c ? codeC : codeB)
            }
            inC = c
        }
        func appendB(_ byte: UInt8) {
            switchTo(c: false)
            values.append(Int(byte) - 32)
        }
        var index = 0
        while index < bytes.count {
            var run = 0
            while index + run < bytes.count, isDigit(bytes[index + run]) { run += 1 }
            guard run >= 4 || (run == 2 && bytes.count == 2) else {
                appendB(bytes[index])
                index += 1
                continue
            }
            // An odd run that does not open the text keeps its first digit in B; one that does keeps its last, which
            // the next pass of the loop puts in B.
            if run % 2 == 1, index > 0 {
                appendB(bytes[index])
                index += 1
            }
            switchTo(c: true)
            for _ in 0..<(run / 2) {
                values.append(Int(bytes[index] - 48) * 10 + Int(bytes[index + 1] - 48))
                index += 2
            }
        }
        values.append(checksum(values))
        values.append(stop)
        return values
    }

    /// The check symbol for a start symbol and the data after it: the start value plus each data value times its
    /// position (the first data symbol is 1), mod 103. Subset switches count as data.
    static func checksum(_ values: [Int]) -> Int {
        var sum = 0
        for (position, value) in values.enumerated() {
            sum += max(position, 1) * value
        }
        return sum % 103
    }

    /// The width of each bar and space, in modules, for symbol values 0–106, bar first (ISO/IEC 15417 table 1). Every
    /// symbol is 11 modules; the stop, with its termination bar, is 13.
    public static let patterns: [String] = [
        "212222", "222122", "222221", "121223", "121322", "131222", "122213", "122312", "132212", "221213",  // 0
        "221312", "231212", "112232", "122132", "122231", "113222", "123122", "123221", "223211", "221132",  // 10
        "221231", "213212", "223112", "312131", "311222", "321122", "321221", "312212", "322112", "322211",  // 20
        "212123", "212321", "232121", "111323", "131123", "131321", "112313", "132113", "132311", "211313",  // 30
        "231113", "231311", "112133", "112331", "132131", "113123", "113321", "133121", "313121", "211331",  // 40
        "231131", "213113", "213311", "213131", "311123", "311321", "331121", "312113", "312311", "332111",  // 50
        "314111", "221411", "431111", "111224", "111422", "121124", "121421", "141122", "141221", "112214",  // 60
        "112412", "122114", "122411", "142112", "142211", "241211", "221114", "413111", "241112", "134111",  // 70
        "111242", "121142", "121241", "114212", "124112", "124211", "411212", "421112", "421211", "212141",  // 80
        "214121", "412121", "111143", "111341", "131141", "114113", "114311", "411113", "411311", "113141",  // 90
        "114131", "311141", "411131", "211412", "211214", "211232", "2331112",  // 100: code A, FNC 1, starts, stop
    ]

    /// The symbol's modules, left to right, `true` for bar; no quiet zone. Each value must be 0–106.
    public static func modules(_ values: [Int]) -> [Bool] {
        var modules: [Bool] = []
        for value in values {
            precondition(patterns.indices.contains(value), "Code 128 has no symbol \(value)")
            var bar = true
            for width in patterns[value].utf8 {
                modules += repeatElement(bar, count: Int(width - 48))
                bar.toggle()
            }
        }
        return modules
    }

    /// `text` as an SVG image for a voucher page: a white background and one black rect per bar, `moduleWidth` pixels a
    /// module, `height` pixels tall, with `quietZone` blank modules each side (the standard asks for at least 10).
    /// Whole pixels only and `crispEdges`, so no bar edge is blurred; `aria-label` carries the text. `nil` when
    /// ``encode(_:)`` refuses the text, `moduleWidth` or `height` is not positive, `quietZone` is negative, or any of
    /// them is over 10 000.
    public static func svg(_ text: String, moduleWidth: Int = 2, height: Int = 80, quietZone: Int = 10) -> String? {
        guard let values = encode(text), (1...10_000).contains(moduleWidth), (1...10_000).contains(height),
            (0...10_000).contains(quietZone)
        else { return nil }
        let modules = Self.modules(values)
        let width = (modules.count + 2 * quietZone) * moduleWidth
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(width) \(height)\""
        svg += " width=\"\(width)\" height=\"\(height)\" role=\"img\" aria-label=\"\(Text.htmlEscaped(text))\""
        svg += " shape-rendering=\"crispEdges\">"
        svg += "<rect width=\"\(width)\" height=\"\(height)\" fill=\"#fff\"/><g fill=\"#000\">"
        var index = 0
        while index < modules.count {
            guard modules[index] else {
                index += 1
                continue
            }
            let start = index
            while index < modules.count, modules[index] { index += 1 }
            let x = (quietZone + start) * moduleWidth
            svg += "<rect x=\"\(x)\" y=\"0\" width=\"\((index - start) * moduleWidth)\" height=\"\(height)\"/>"
        }
        return svg + "</g></svg>"
    }
}
