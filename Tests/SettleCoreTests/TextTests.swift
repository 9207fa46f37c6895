import Testing

@testable import SettleCore

@Suite struct TextTests {
    /// Escaping works on Unicode scalars: a quote or a bracket joined into one character with a combining mark or a
    /// prepended character is still escaped, so no markup gets out of a buyer page's text or attribute.
    @Test(arguments: [
        ("\"\u{301}", "&quot;\u{301}"),
        ("\u{600}<meta http-equiv=refresh content=0;url=https://evil>", "\u{600}&lt;meta http-equiv=refresh content=0;url=https://evil&gt;"),
        ("a\u{600}>b", "a\u{600}&gt;b"),
        ("'\u{308}&", "&#39;\u{308}&amp;"),
        ("Ana Pérez", "Ana Pérez"),
    ])
    func htmlEscapingSeesEveryScalar(input: String, expected: String) {
        let escaped = Text.htmlEscaped(input)
        #expect(escaped == expected)
        #expect(!escaped.unicodeScalars.contains { $0 == "<" || $0 == ">" || $0 == "\"" || $0 == "'" })
    }
}
