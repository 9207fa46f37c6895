/// Rules for text that comes from outside.
public enum Text {
    /// A safe, short rendering of caller input for an error message: at most `limit` characters, with quotes,
    /// backslashes, control and non-ASCII characters escaped, and `...` when cut.
    public static func echo(_ input: some StringProtocol, limit: Int = 32) -> String {
        let head = input.prefix(limit)
        var out = ""
        for scalar in head.unicodeScalars {
            out += scalar.escaped(asASCII: true)
        }
        if head.endIndex != input.endIndex { out += "..." }
        return out
    }

    /// Whether the text holds a C0 or C1 control character or DEL (tabs and line breaks included).
    public static func hasControlCharacters(_ text: some StringProtocol) -> Bool {
        text.unicodeScalars.contains { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) }
    }

    /// Whether the text fits both limits: `characters` user-perceived characters and `bytes` UTF-8 bytes (one
    /// character can be any number of bytes, so a character limit alone bounds nothing).
    public static func fits(_ text: some StringProtocol, characters: Int, bytes: Int) -> Bool {
        text.utf8.count <= bytes && text.count <= characters
    }

    /// The text escaped for HTML, in content and in quoted attribute values (`&`, `<`, `>`, `"`, `'`). Works on
    /// Unicode scalars, not characters: a quote or a bracket joined to a combining mark or a prepended character
    /// (`"` + U+0301, U+0600 + `<`) is one `Character` that is not `"` or `<`, and must still be escaped.
    public static func htmlEscaped(_ text: some StringProtocol) -> String {
        var out = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out.append(contentsOf: "&amp;".unicodeScalars)
            case "<": out.append(contentsOf: "&lt;".unicodeScalars)
            case ">": out.append(contentsOf: "&gt;".unicodeScalars)
            case "\"": out.append(contentsOf: "&quot;".unicodeScalars)
            case "'": out.append(contentsOf: "&#39;".unicodeScalars)
            default: out.append(scalar)
            }
        }
        return String(out)
    }
}
