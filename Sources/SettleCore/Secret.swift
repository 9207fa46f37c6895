/// A secret value (an API key, a signing secret, a database password). Every way Swift prints a value — string
/// interpolation, `description`, `debugDescription`, `dump`, `Mirror` — shows `<redacted>`; only ``value`` reveals
/// it, so a secret reaches a log only if code asks for it by name.
public struct Secret: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The secret itself. Read it only where it is used (a signature, an `Authorization` header).
    public let value: String

    public init(_ value: String) {
        self.value = value
    }

    public var description: String { "<redacted>" }
    public var debugDescription: String { "<redacted>" }
    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .struct) }
}

extension Secret: ExpressibleByStringLiteral {
    public init(stringLiteral value: String) {
        self.init(value)
    }
}
