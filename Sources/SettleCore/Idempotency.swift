/// Where an idempotency key stands when a request claims it.
public enum IdempotencyClaim: Sendable, Hashable {
    /// First use (or an expired or abandoned one): go ahead.
    case proceed
    /// Same key, same request, finished: send this response again.
    case replay(status: Int, body: [UInt8])
    /// Same key, different request.
    case mismatch
    /// Same key, the first request is still running.
    case inProgress
}

/// Identifies one idempotent request: the API key it came with and the merchant's key.
public struct IdempotencyScope: Sendable, Hashable {
    public var apiKeyID: String
    public var key: String
    public var requestHash: String

    public init(apiKeyID: String, key: String, requestHash: String) {
        self.apiKeyID = apiKeyID
        self.key = key
        self.requestHash = requestHash
    }
}
