/// Why an inbound message was refused before anything was stored. Messages never contain secrets.
public struct NotificationRejection: Error, Sendable, Hashable, CustomStringConvertible {
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Base: String, Sendable, Hashable {
            case invalidSignature = "invalid_signature"
            case malformed = "malformed_notification"
            case providerDisabled = "provider_disabled"
            case unavailable = "provider_unavailable"
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }
        /// The message is not authentic (missing, wrong or stale signature): 401.
        public static let invalidSignature = Code(.invalidSignature)
        /// Authentic framing but unreadable content: 400.
        public static let malformed = Code(.malformed)
        /// The provider is disabled (no secret configured): fail closed, 503.
        public static let providerDisabled = Code(.providerDisabled)
        /// Authentic, but the provider's API, which must confirm what the message leaves unsigned, could not be
        /// reached: 503, so the provider sends it again.
        public static let unavailable = Code(.unavailable)
        public var description: String { base.rawValue }
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code): \(message)" }
}

/// A failed call to a provider's API. Messages never contain secrets.
public struct ProviderError: Error, Sendable, Hashable, CustomStringConvertible {
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Base: String, Sendable, Hashable {
            case unavailable = "provider_unavailable"
            case rejected = "provider_error"
            case disabled = "provider_disabled"
            case unsupported = "provider_unsupported"
            case unverified = "provider_response_unverified"
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }
        /// Network failure, timeout, 429 or 5xx, or an open circuit breaker: worth retrying later.
        public static let unavailable = Code(.unavailable)
        /// The provider refused the request (4xx).
        public static let rejected = Code(.rejected)
        /// The provider is not configured.
        public static let disabled = Code(.disabled)
        /// The request cannot be served by this provider (mode, currency).
        public static let unsupported = Code(.unsupported)
        /// What the buyer's browser brought back from the provider (a response page's query) does not verify: it was
        /// altered, or is not the provider's. Nothing is applied from it.
        public static let unverified = Code(.unverified)
        public var description: String { base.rawValue }
    }

    public let code: Code
    /// The provider's own error code, when it gave one.
    public let providerCode: String?
    public let message: String

    public init(_ code: Code, providerCode: String? = nil, _ message: String) {
        self.code = code
        self.providerCode = providerCode
        self.message = message
    }

    public var description: String { "\(code): \(message)" }
}
