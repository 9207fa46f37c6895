/// Errors from the store. Descriptions never carry SQL, bound values or credentials.
public struct StoreError: Error, Sendable, Hashable, CustomStringConvertible {
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Base: String, Sendable, Hashable {
            case unavailable
            case decoding
            case conflict
            case configuration
            case migration
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }
        /// The database cannot be reached or failed: callers answer 503, never 2xx.
        public static let unavailable = Code(.unavailable)
        /// A stored row does not have the expected shape.
        public static let decoding = Code(.decoding)
        /// A uniqueness or state check failed.
        public static let conflict = Code(.conflict)
        /// The database URL or settings are wrong.
        public static let configuration = Code(.configuration)
        /// The schema could not be migrated.
        public static let migration = Code(.migration)
        public var description: String { base.rawValue }
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    static func decoding(_ column: String) -> StoreError {
        StoreError(.decoding, "Column \(column) does not hold the expected type.")
    }

    public var description: String { "\(code): \(message)" }
}
