import SettleCore

/// The one shape of every error response:
/// `{"error":{"type":…,"code":…,"message":…,"param":…,"request_id":…}}`.
public enum APIErrorBody {
    public static func render(_ error: SettleError, requestID: String?) -> JSONValue {
        .object([
            (
                "error",
                .object([
                    ("type", .string(error.kind.rawValue)), ("code", .string(error.code.description)), ("message", .string(error.message)),
                    ("param", .string(error.param)), ("request_id", .string(requestID)),
                ])
            )
        ])
    }
}
