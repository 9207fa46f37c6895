import Foundation
import Testing

@testable import SettleCore

@Suite struct Code128Tests {
    // MARK: - Symbol values, worked by hand

    /// Each expectation is written out and its check symbol summed by hand: start value, then each later symbol's
    /// value times its position, mod 103. Code set B values are the ASCII code minus 32.
    @Test(arguments: [
        // Start C, 12, 34: 105 + 1·12 + 2·34 = 185; 185 − 103 = 82.
        ("1234", [105, 12, 34, 82, 106]),
        // Two digits and nothing else: start C. 105 + 12 = 117; 117 − 103 = 14.
        ("12", [105, 12, 14, 106]),
        // One digit: B ('1' = 49 − 32 = 17). 104 + 17 = 121; 121 − 103 = 18.
        ("1", [104, 17, 18, 106]),
        // Three digits are not worth code set C. 104 + 17 + 2·18 + 3·19 = 214; 214 − 2·103 = 8.
        ("123", [104, 17, 18, 19, 8, 106]),
        // Wikipedia's check-digit example uses start A (103), sum 878, check 54; in B every value is the same and the
        // start is one more, so 879 and 879 − 8·103 = 55.
        ("PJJ123C", [104, 48, 42, 42, 17, 18, 19, 35, 55, 106]),
        // W 87, i 105, k 107, p 112, e 101, d 100, a 97, less 32 each: 55 73 75 73 80 69 68 73 65.
        // 104 + 55 + 146 + 225 + 292 + 400 + 414 + 476 + 584 + 585 = 3281; 3281 − 31·103 = 88.
        ("Wikipedia", [104, 55, 73, 75, 73, 80, 69, 68, 73, 65, 88, 106]),
        // BarcodeIsland's example in start A sums to 1406 (check 67); with start B, 1407 − 13·103 = 68. Six digits
        // after letters: code C (99) before the first.
        ("HI345678", [104, 40, 41, 99, 34, 56, 78, 68, 106]),
        // Letters then a long even run. 104 + 33 + 68 + 105 + 4·99 + 5·12 + 6·34 + 7·56 + 8·78 + 9·90 = 2796;
        // 2796 − 27·103 = 15.
        ("ABC1234567890", [104, 33, 34, 35, 99, 12, 34, 56, 78, 90, 15, 106]),
        // An odd run that opens the text: start C for 12 34, code B (100) before the last digit ('5' = 21).
        // 105 + 12 + 2·34 + 3·100 + 4·21 = 569; 569 − 5·103 = 54.
        ("12345", [105, 12, 34, 100, 21, 54, 106]),
        // An odd run after letters: its first digit stays in B, code C after it.
        // 104 + 33 + 2·34 + 3·17 + 4·99 + 5·23 + 6·45 = 1037; 1037 − 10·103 = 7.
        ("AB12345", [104, 33, 34, 17, 99, 23, 45, 7, 106]),
        // A 14-digit voucher reference, all in C. 105 + 77 + 0 + 3·12 + 4·34 + 5·56 + 6·78 + 7·90 = 1732;
        // 1732 − 16·103 = 84.
        ("77001234567890", [105, 77, 0, 12, 34, 56, 78, 90, 84, 106]),
        // Agreement, dash, reference: C for ten digits, B for '-' (13), then an odd run of thirteen: '1' (17) in B,
        // code C, six pairs. 105 + 30 + 2 + 69 + 180 + 335 + 600 + 91 + 136 + 891 + 230 + 495 + 804 + 1157 + 14 + 345
        // = 5484; 5484 − 53·103 = 25.
        ("3001234567-1234567890123", [105, 30, 1, 23, 45, 67, 100, 13, 17, 99, 23, 45, 67, 89, 1, 23, 25, 106]),
    ])
    func knownEncoding(text: String, expected: [Int]) {
        #expect(Code128.encode(text) == expected)
    }

    @Test func refusals() {
        let refused = [
            "", "ñ", "año 2025", "€5", "a\tb", "line\n", "\r\n", "\u{0}", "\u{1F}", "\u{7F}", "\u{85}", "😀",
            String(repeating: "A", count: 81), String(repeating: "7", count: 81),
        ]
        for text in refused {
            #expect(Code128.encode(text) == nil, "\(Text.echo(text))")
            #expect(Code128.svg(text) == nil, "\(Text.echo(text))")
        }
        #expect(Code128.encode(String(repeating: "A", count: 80)) != nil)
        #expect(Code128.encode(String(repeating: "7", count: 80)) != nil)
        #expect(Code128.encode(" ") == [104, 0, 1, 106])  // 104 + 0 = 104; 104 − 103 = 1
        #expect(Code128.encode("~") == [104, 94, 95, 106])  // 104 + 94 = 198; 198 − 103 = 95
        #expect(Code128.svg("1234", moduleWidth: 0) == nil)
        #expect(Code128.svg("1234", height: 0) == nil)
        #expect(Code128.svg("1234", quietZone: -1) == nil)
        #expect(Code128.svg("1234", moduleWidth: 10_001) == nil)
        #expect(Code128.svg("1234", quietZone: 0) != nil)
    }

    // MARK: - Pattern table

    @Test(arguments: [
        (0, "212222"), (1, "222122"), (2, "222221"), (12, "112232"), (17, "123221"), (34, "131123"), (50, "231131"),
        (64, "111422"), (94, "131141"), (95, "114113"), (99, "113141"), (100, "114131"), (101, "311141"),
        (102, "411131"), (103, "211412"), (104, "211214"), (105, "211232"), (106, "2331112"),
    ])
    func pattern(value: Int, expected: String) {
        #expect(Code128.patterns[value] == expected)
        #expect(referencePatterns[value] == expected)
    }

    @Test func patternTableShape() {
        #expect(Code128.patterns.count == 107)
        #expect(Code128.patterns == referencePatterns)
        #expect(Set(Code128.patterns).count == 107)
        for (value, pattern) in Code128.patterns.enumerated() {
            let widths = pattern.utf8.map { Int($0) - 48 }
            #expect(widths.count == (value == 106 ? 7 : 6), "\(value)")
            #expect(widths.allSatisfy { (1...4).contains($0) }, "\(value)")
            #expect(widths.reduce(0, +) == (value == 106 ? 13 : 11), "\(value)")
            // The standard's self-check: a symbol's bars always add up to an even number of modules.
            let bars = stride(from: 0, to: widths.count, by: 2).map { widths[$0] }.reduce(0, +)
            #expect(bars % 2 == 0, "\(value)")
        }
    }

    @Test func modules() {
        // BarcodeIsland's binary: start B 11010010000; stop 11000111010 and the termination bar 11.
        let startB = Code128.modules([104]).map { $0 ? "1" : "0" }.joined()
        #expect(startB == "11010010000")
        let stop = Code128.modules([106]).map { $0 ? "1" : "0" }.joined()
        #expect(stop == "1100011101011")
        #expect(Code128.modules([105, 12, 34, 82, 106]).count == 4 * 11 + 13)
    }

    // MARK: - SVG

    @Test func svgShape() throws {
        let svg = try #require(Code128.svg("1234"))
        // 4 symbols of 11 modules, the stop's 13, 10 quiet modules each side; 2 px a module.
        let width = (4 * 11 + 13 + 20) * 2
        #expect(svg.hasPrefix("<svg xmlns=\"http://www.w3.org/2000/svg\" "))
        #expect(svg.hasSuffix("</svg>"))
        #expect(svg.contains(" viewBox=\"0 0 \(width) 80\""))
        #expect(svg.contains(" width=\"\(width)\" height=\"80\""))
        #expect(svg.contains(" role=\"img\""))
        #expect(svg.contains(" aria-label=\"1234\""))
        #expect(svg.contains(" shape-rendering=\"crispEdges\""))
        #expect(svg.contains("<rect width=\"\(width)\" height=\"80\" fill=\"#fff\"/>"))
        #expect(!svg.contains("<text"))
        // Integers only: the one dot allowed is in the namespace's address.
        #expect(!svg.replacingOccurrences(of: "http://www.w3.org/2000/svg", with: "").contains("."))
        // The first bar starts after the quiet zone; start C "211232" opens with a 2-module bar.
        #expect(svg.contains("<rect x=\"20\" y=\"0\" width=\"4\" height=\"80\"/>"))
        // Adjacent bar modules merge: three bars a symbol, four in the stop.
        let bars = try Self.bars(svg)
        #expect(bars.count == 4 * 3 + 4)
        for (left, right) in zip(bars, bars.dropFirst()) {
            #expect(left.x + left.width < right.x)
        }
    }

    @Test func svgEscapesTheLabel() throws {
        let svg = try #require(Code128.svg("R&D <\"1\"> 'x'"))
        #expect(svg.contains(" aria-label=\"R&amp;D &lt;&quot;1&quot;&gt; &#39;x&#39;\""))
        #expect(try Self.decode(svg) == "R&D <\"1\"> 'x'")
    }

    @Test func svgSizes() throws {
        let svg = try #require(Code128.svg("77001234567890", moduleWidth: 3, height: 120, quietZone: 12))
        let width = (9 * 11 + 13 + 24) * 3
        #expect(svg.contains(" viewBox=\"0 0 \(width) 120\" width=\"\(width)\" height=\"120\""))
        #expect(svg.contains("<rect x=\"36\" y=\"0\" width=\"6\" height=\"120\"/>"))
        #expect(try Self.decode(svg, moduleWidth: 3, height: 120, quietZone: 12) == "77001234567890")
        let tight = try #require(Code128.svg("1", moduleWidth: 1, height: 1, quietZone: 0))
        #expect(tight.contains("<rect x=\"0\" y=\"0\" width=\"2\" height=\"1\"/>"))
        #expect(try Self.decode(tight, moduleWidth: 1, height: 1, quietZone: 0) == "1")
    }

    // MARK: - Round trip through an independent decoder

    static let printable = String(decoding: (32...126).map { UInt8($0) }, as: UTF8.self)

    @Test(arguments: [
        "77001234567890", "3001234567-1234567890123", "1234", "12", "1", "123", "12345", "123456789", "0000",
        "Wikipedia", "PJJ123C", "HI345678", "AB12345", "A1234B", "A123B", "1234A5678", "X00Y", "EFECTY 110045 000123",
        " ", "~", "a b", "00-00", String(repeating: "9", count: 80), String(repeating: "z", count: 80),
        String(printable.prefix(80)), String(printable.suffix(15)),
    ])
    func roundTrip(text: String) throws {
        let svg = try #require(Code128.svg(text))
        #expect(try Self.decode(svg) == text)
    }

    /// Symbols are never longer than all of code set B would make them.
    @Test(arguments: ["1234", "A1234", "A1234B", "ABCD1234EFGH", "12345", "1234567", "77001234567890", "a1b2c3d4"])
    func noLongerThanCodeSetB(text: String) throws {
        let values = try #require(Code128.encode(text))
        #expect(values.count <= text.utf8.count + 3)
    }

    struct Bar: Equatable {
        var x: Int
        var width: Int
    }

    struct DecodeError: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }

    /// The bars of an SVG as `x` and `width`, read back from its text with no help from the encoder.
    static func bars(_ svg: String, height: Int = 80) throws -> [Bar] {
        var bars: [Bar] = []
        var rest = Substring(svg)
        let open = "<rect x=\""
        while let start = rest.range(of: open) {
            rest = rest[start.upperBound...]
            guard let close = rest.range(of: "/>") else { throw DecodeError("unterminated rect") }
            let body = "x=\"" + rest[..<close.lowerBound]
            let attributes = body.split(separator: " ").map { $0.split(separator: "=", maxSplits: 1) }
            var values: [String: Int] = [:]
            for attribute in attributes {
                guard attribute.count == 2, attribute[1].hasPrefix("\""), attribute[1].hasSuffix("\""),
                    let value = Int(attribute[1].dropFirst().dropLast())
                else { throw DecodeError("bad attribute in \(body)") }
                values[String(attribute[0])] = value
            }
            guard values.count == 4, let x = values["x"], values["y"] == 0, let width = values["width"],
                values["height"] == height
            else { throw DecodeError("bad rect \(body)") }
            bars.append(Bar(x: x, width: width))
            rest = rest[close.upperBound...]
        }
        return bars
    }

    /// The text an SVG encodes: bars to modules, modules to runs, runs to symbols of six (the stop's seven), each
    /// looked up in the test's own copy of the table; then the check symbol, then code sets B and C back to text.
    static func decode(_ svg: String, moduleWidth: Int = 2, height: Int = 80, quietZone: Int = 10) throws -> String {
        let bars = try Self.bars(svg, height: height)
        guard let last = bars.last else { throw DecodeError("no bars") }
        guard let viewBox = svg.range(of: "viewBox=\"0 0 "), let space = svg[viewBox.upperBound...].firstIndex(of: " "),
            let total = Int(svg[viewBox.upperBound..<space])
        else { throw DecodeError("no viewBox") }
        guard bars[0].x == quietZone * moduleWidth, last.x + last.width + quietZone * moduleWidth == total else {
            throw DecodeError("quiet zone")
        }
        var modules = [Bool](repeating: false, count: (last.x + last.width - bars[0].x) / moduleWidth)
        for bar in bars {
            guard bar.x % moduleWidth == 0, bar.width % moduleWidth == 0, bar.width > 0 else {
                throw DecodeError("off the module grid")
            }
            let first = (bar.x - bars[0].x) / moduleWidth
            for index in first..<(first + bar.width / moduleWidth) {
                guard !modules[index] else { throw DecodeError("overlapping bars") }
                modules[index] = true
            }
        }
        var runs: [Int] = []
        var previous: Bool?
        for module in modules {
            if module == previous { runs[runs.count - 1] += 1 } else { runs.append(1) }
            previous = module
        }
        guard runs.count >= 6 * 3 + 7, (runs.count - 7) % 6 == 0 else { throw DecodeError("\(runs.count) runs") }
        let table = Dictionary(uniqueKeysWithValues: referencePatterns.enumerated().map { ($1, $0) })
        var values: [Int] = []
        for start in stride(from: 0, to: runs.count - 7, by: 6) {
            let symbol = runs[start..<(start + 6)]
            guard symbol.reduce(0, +) == 11, let value = table[symbol.map(String.init).joined()] else {
                throw DecodeError("no symbol \(Array(symbol))")
            }
            values.append(value)
        }
        guard table[runs.suffix(7).map(String.init).joined()] == 106 else { throw DecodeError("no stop") }

        let check = values.removeLast()
        var sum = values[0]
        for position in 1..<values.count { sum += position * values[position] }
        guard sum % 103 == check else { throw DecodeError("check symbol \(check), expected \(sum % 103)") }

        var inC: Bool
        switch values[0] {
        case 104: inC = false
        case 105: inC = true
        default: throw DecodeError("start \(values[0])")
        }
        var text = ""
        for value in values.dropFirst() {
            switch (inC, value) {
            case (true, 0...99): text += value < 10 ? "0\(value)" : "\(value)"
            case (true, 100): inC = false
            case (false, 0...94): text.append(Character(Unicode.Scalar(UInt8(value + 32))))
            case (false, 99): inC = true
            default: throw DecodeError("value \(value) in code set \(inC ? "C" : "B")")
            }
        }
        return text
    }
}

/// ISO/IEC 15417 table 1, typed again for the tests (not read from `Code128.patterns`): bar and space widths in
/// modules for values 0–106, bar first.
private let referencePatterns: [String] = [
    // 0–19
    "212222", "222122", "222221", "121223", "121322", "131222", "122213", "122312", "132212", "221213",
    "221312", "231212", "112232", "122132", "122231", "113222", "123122", "123221", "223211", "221132",
    // 20–39
    "221231", "213212", "223112", "312131", "311222", "321122", "321221", "312212", "322112", "322211",
    "212123", "212321", "232121", "111323", "131123", "131321", "112313", "132113", "132311", "211313",
    // 40–59
    "231113", "231311", "112133", "112331", "132131", "113123", "113321", "133121", "313121", "211331",
    "231131", "213113", "213311", "213131", "311123", "311321", "331121", "312113", "312311", "332111",
    // 60–79
    "314111", "221411", "431111", "111224", "111422", "121124", "121421", "141122", "141221", "112214",
    "112412", "122114", "122411", "142112", "142211", "241211", "221114", "413111", "241112", "134111",
    // 80–99
    "111242", "121142", "121241", "114212", "124112", "124211", "411212", "421112", "421211", "212141",
    "214121", "412121", "111143", "111341", "131141", "114113", "114311", "411113", "411311", "113141",
    // 100 code B / FNC 4, 101 code A / FNC 4, 102 FNC 1, 103–105 start A, B, C, 106 stop
    "114131", "311141", "411131", "211412", "211214", "211232", "2331112",
]
