import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1

/// The one HTTP client for providers' APIs. Every call has a deadline; network errors, 429 and 5xx are retried with
/// exponential backoff and full jitter (never a 4xx, never a call marked not retryable), and cancellation stops the
/// backoff at once; one circuit breaker per provider stops calling a provider that keeps failing; and whatever goes
/// wrong comes back as a typed ``ProviderError`` whose message never carries the request (and so no credential).
public struct ProviderClient: Sendable {
    public struct Configuration: Sendable {
        /// The deadline of one attempt, answer included.
        public var timeout: Duration = .seconds(20)
        public var retry = RetryPolicy()
        /// Consecutive failed calls that open the breaker, and how long it stays open.
        public var breakerThreshold = 5
        public var breakerCooldown: Duration = .seconds(30)
        /// Larger answers are refused (as an unavailable provider).
        public var maxResponseBytes = 4 << 20
        /// Told of every call once it ends (metrics): never its URL, headers or body.
        public var observe: (@Sendable (ProviderCallObservation) -> Void)?
        /// Wraps each call (its retries included) in a span of the server's tracer.
        public var trace: (any ProviderCallTracing)?

        public init(timeout: Duration = .seconds(20), retry: RetryPolicy = RetryPolicy(), breakerThreshold: Int = 5,
            breakerCooldown: Duration = .seconds(30))
        {
            self.timeout = timeout
            self.retry = retry
            self.breakerThreshold = breakerThreshold
            self.breakerCooldown = breakerCooldown
        }
    }

    public struct Request: Sendable {
        public var method: HTTPMethod
        public var url: String
        public var headers: [(String, String)]
        public var body: [UInt8]?
        /// Whether a failed attempt may be sent again (a create without an idempotency key may not).
        public var retryable: Bool

        public init(_ method: HTTPMethod, _ url: String, headers: [(String, String)] = [], body: [UInt8]? = nil, retryable: Bool = true) {
            self.method = method
            self.url = url
            self.headers = headers
            self.body = body
            self.retryable = retryable
        }
    }

    public struct Response: Sendable {
        public var status: UInt
        public var headers: HTTPHeaders
        public var body: [UInt8]
    }

    /// The provider's display name, for errors and logs (`Stripe`).
    public let provider: String
    public let breaker: CircuitBreaker
    let http: HTTPClient
    let configuration: Configuration
    let logger: Logger

    public init(provider: String, http: HTTPClient, configuration: Configuration, logger: Logger) {
        self.provider = provider
        self.http = http
        self.configuration = configuration
        self.logger = logger
        self.breaker = CircuitBreaker(threshold: configuration.breakerThreshold, cooldown: configuration.breakerCooldown)
    }

    /// Sends `request` and returns a 2xx answer. `describe` turns any other answer into the provider's typed error
    /// (its own error object, with the code it is given: `unavailable` for 429 and 5xx, `rejected` otherwise).
    public func send(
        _ request: Request,
        describe: @Sendable (Response, ProviderError.Code) -> ProviderError = { response, code in
            ProviderError(code, "The provider answered HTTP \(response.status).")
        }
    ) async throws(ProviderError) -> Response {
        guard let trace = configuration.trace else { return try await untracedSend(request, describe: describe) }
        let path = URLComponents(string: request.url)?.path ?? ""
        return try await trace.span(provider: provider, method: request.method.rawValue, path: path) { () async throws(ProviderError) -> Response in
            try await untracedSend(request, describe: describe)
        }
    }

    private func untracedSend(
        _ request: Request, describe: @Sendable (Response, ProviderError.Code) -> ProviderError
    ) async throws(ProviderError) -> Response {
        let started = ContinuousClock.now
        var tries = 0
        func observed(_ outcome: String) {
            configuration.observe?(
                ProviderCallObservation(
                    provider: provider, outcome: outcome, attempts: tries, duration: ContinuousClock.now - started, circuitOpen: !breaker.isClosed
                )
            )
        }
        guard breaker.allow() else {
            observed("circuit_open")
            throw ProviderError(.unavailable, "\(provider) is failing; Settle is pausing calls to it (circuit open). Retry shortly.")
        }
        var lastError = ProviderError(.unavailable, "\(provider) could not be reached.")
        let attempts = request.retryable ? max(1, configuration.retry.maxAttempts) : 1
        var pause: Duration?
        for attempt in 1...attempts {
            if let pause {
                do {
                    try await Task.sleep(for: pause)
                } catch {
                    throw cancelled()
                }
            }
            guard !Task.isCancelled else { throw cancelled() }
            pause = configuration.retry.delay(beforeRetry: attempt)
            tries = attempt
            let response: Response
            switch await exchange(request) {
            case .success(let answer):
                response = answer
            case .failure(let failure):
                lastError = ProviderError(.unavailable, "\(provider) could not be reached (\(failure)).")
                logger.notice("provider call failed", metadata: ["provider": "\(provider)", "attempt": "\(attempt)", "why": "\(failure)"])
                continue
            }
            switch response.status {
            case 200..<300:
                breaker.recordSuccess()
                observed("ok")
                return response
            case 429, 500...599:
                lastError = describe(response, .unavailable)
                logger.notice("provider call answered \(response.status)", metadata: ["provider": "\(provider)", "attempt": "\(attempt)"])
                if let after = Self.retryAfter(response.headers), let current = pause {
                    pause = min(max(current, after), configuration.retry.maxDelay)
                }
                continue
            default:
                breaker.recordSuccess()  // the provider is up; it refused this request
                observed("rejected")
                throw describe(response, .rejected)
            }
        }
        guard !Task.isCancelled else { throw cancelled() }
        breaker.recordFailure()
        observed("unavailable")
        throw lastError
    }

    /// A call given up because its task was cancelled: no verdict on the provider, and a half-open trial hands its
    /// turn to the next call (else the breaker would stay half-open, refusing every call, for good).
    private func cancelled() -> ProviderError {
        breaker.abandonTrial()
        return ProviderError(.unavailable, "The call to \(provider) was cancelled.")
    }

    /// One attempt, its answer read (bounded) within the deadline. A failure says why in words safe to show.
    func exchange(_ request: Request) async -> Result<Response, Failure> {
        var outgoing = HTTPClientRequest(url: request.url)
        outgoing.method = request.method
        outgoing.headers.add(name: "user-agent", value: "Settle/1")
        for (name, value) in request.headers { outgoing.headers.add(name: name, value: value) }
        if let body = request.body { outgoing.body = .bytes(ByteBuffer(bytes: body)) }
        let deadline = ContinuousClock.now + configuration.timeout
        do {
            let response = try await http.execute(outgoing, deadline: NIODeadline.now() + TimeAmount(configuration.timeout))
            // The client's deadline covers the head; the body is read within what is left of it.
            let body = try await BoundedBody.read(response, limit: configuration.maxResponseBytes, until: deadline)
            return .success(Response(status: response.status.code, headers: response.headers, body: body))
        } catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout {
            return .failure(Failure(description: "timeout"))
        } catch let error as BoundedBody.Failure {
            return .failure(Failure(description: error.description))
        } catch {
            return .failure(Failure(description: "network error"))
        }
    }

    /// `Retry-After` in seconds (the HTTP-date form is ignored).
    static func retryAfter(_ headers: HTTPHeaders) -> Duration? {
        guard let value = headers.first(name: "retry-after"), let seconds = Int(value), (0...3600).contains(seconds) else { return nil }
        return .seconds(seconds)
    }

    struct Failure: Error, Sendable, CustomStringConvertible {
        let description: String
    }
}

/// Exponential backoff with full jitter for provider API calls.
public struct RetryPolicy: Sendable, Hashable {
    public var maxAttempts: Int
    public var baseDelay: Duration
    public var maxDelay: Duration

    public init(maxAttempts: Int = 3, baseDelay: Duration = .milliseconds(200), maxDelay: Duration = .seconds(2)) {
        self.maxAttempts = maxAttempts
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
    }

    /// The pause before retry number `attempt` (1-based): a random duration up to `base × 2^(attempt-1)`, capped.
    public func delay(beforeRetry attempt: Int) -> Duration {
        let ceiling = min(maxDelay, baseDelay * (1 << min(max(attempt, 1) - 1, 20)))
        let milliseconds = ceiling.components.seconds * 1000 + ceiling.components.attoseconds / 1_000_000_000_000_000
        return .milliseconds(Int64.random(in: 0...max(1, milliseconds)))
    }
}

/// How one call to a provider ended, for metrics: `ok`, `rejected` (the provider refused it), `unavailable` (not
/// reached, or 429/5xx after every attempt) or `circuit_open` (not sent).
/// Puts each call to a provider's API in a span: the provider, the method and the URL's path (never its query, headers
/// or body), and whether it failed.
public protocol ProviderCallTracing: Sendable {
    func span<T: Sendable>(
        provider: String, method: String, path: String, _ call: () async throws(ProviderError) -> T
    ) async throws(ProviderError) -> T
}

public struct ProviderCallObservation: Sendable, Hashable {
    public var provider: String
    public var outcome: String
    public var attempts: Int
    public var duration: Duration
    /// Whether the provider's breaker is open (or half-open) after the call.
    public var circuitOpen: Bool
}
