// application/x-www-form-urlencoded bodies (the sandbox page's form, providers that post forms). Nothing may crash,
// no value is longer than the body, and a repeated name keeps its first value.

enum FormTarget {
    static func run(_ bytes: [UInt8]) {
        let size = bytes.count
        let pairs = FormURLEncoded.pairs(bytes)
        let fields = FormURLEncoded.parse(bytes)
        precondition(fields.count <= pairs.count, "more fields than pairs")
        var firsts: [String: String] = [:]
        for (name, value) in pairs {
            precondition(name.utf8.count <= size * 3 && value.utf8.count <= size * 3, "a decoded part grew past what decoding allows")
            if firsts[name] == nil { firsts[name] = value }
        }
        precondition(firsts == fields, "a repeated name did not keep its first value")
    }
}
