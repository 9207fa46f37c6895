/// A typed error from a use case, with everything the API needs to render it. Messages are written for the
/// merchant's developer and never contain secrets, SQL or stack traces.
public struct SettleError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The error's family, shown as `error.type`.
    public enum Kind: String, Sendable, Hashable {
        case invalidRequest = "invalid_request_error"
        case authentication = "authentication_error"
        case idempotency = "idempotency_error"
        case provider = "provider_error"
        case api = "api_error"
    }

    public let kind: Kind
    /// HTTP status to answer with.
    public let status: Int
    /// Stable machine-readable code (`parameter_invalid`, `payment_not_found`, …).
    public let code: String
    public let message: String
    /// The request parameter at fault, if any.
    public let param: String?

    public init(_ kind: Kind, status: Int, code: String, _ message: String, param: String? = nil) {
        self.kind = kind
        self.status = status
        self.code = code
        self.message = message
        self.param = param
    }

    public var description: String { "\(code): \(message)" }

    public static func invalid(_ param: String, _ message: String, code: String = "parameter_invalid") -> SettleError {
        SettleError(.invalidRequest, status: 400, code: code, message, param: param)
    }

    public static func notFound(_ what: String, id: String) -> SettleError {
        SettleError(.invalidRequest, status: 404, code: "\(what)_not_found", "No \(what) with id \(id.prefix(64)).", param: "id")
    }

    public static let storageUnavailable = SettleError(
        .api, status: 503, code: "storage_unavailable", "Settle's database is unavailable; retry later."
    )
}
