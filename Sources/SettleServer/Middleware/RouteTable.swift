import Synchronization

/// The methods each routed path answers, loaded once the router is built, so a known path asked with another method
/// is `405` naming what it allows (`Allow`), not a `404` that says the resource does not exist.
final class RouteTable: Sendable {
    private let routes = Mutex<[(segments: [Substring], methods: Set<String>)]>([])

    /// `routes` as `(path template with {parameters}, method)`.
    func load(_ routes: [(path: String, method: String)]) {
        var table: [String: Set<String>] = [:]
        for route in routes { table[route.path, default: []].insert(route.method) }
        let loaded = table.map { (segments: $0.key.split(separator: "/"), methods: $0.value) }
        self.routes.withLock { $0 = loaded }
    }

    /// The methods the route that takes `path` answers, sorted; empty when no route has that shape. Where several
    /// templates fit, the router takes the one with a literal segment first (`{name}/settlements` over
    /// `{name}/{resource}`), and so does this.
    func allowed(at path: String) -> [String] {
        let segments = path.split(separator: "/")
        let best = routes.withLock { routes -> (literals: [Bool], methods: Set<String>)? in
            var best: (literals: [Bool], methods: Set<String>)?
            for route in routes where route.segments.count == segments.count {
                var literals: [Bool] = []
                var fits = true
                for (template, segment) in zip(route.segments, segments) {
                    if template.hasPrefix("{") && template.hasSuffix("}") {
                        literals.append(false)
                    } else if template == segment {
                        literals.append(true)
                    } else {
                        fits = false
                        break
                    }
                }
                guard fits else { continue }
                if let current = best, !Self.moreLiteral(literals, than: current.literals) { continue }
                best = (literals, route.methods)
            }
            return best
        }
        return best?.methods.sorted() ?? []
    }

    /// Whether `a` has a literal segment where `b` has a parameter, at the first place they differ.
    static func moreLiteral(_ a: [Bool], than b: [Bool]) -> Bool {
        for (x, y) in zip(a, b) where x != y { return x }
        return false
    }
}
