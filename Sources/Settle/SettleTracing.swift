import Instrumentation
import SettleProviders
import Tracing

/// Where Settle's spans go: the server's tracer (OpenTelemetry, when `SETTLE_OTEL_ENDPOINT` is set), or nowhere
/// (``none``). A tracer of its own per server, never the process-wide one, so several servers can share a process.
/// Spans carry route templates, providers, event types and statuses; never a secret, a body or a header's value.
public struct SettleTracing: Sendable {
    public let tracer: (any Tracer)?

    public init(tracer: any Tracer) {
        self.tracer = tracer
    }

    private init() {
        self.tracer = nil
    }

    /// Traces nothing.
    public static let none = SettleTracing()

    public var isEnabled: Bool { tracer != nil }

    /// Runs `body` in a span named `name`, a child of `context` (the task's context when `nil`), and ends it after;
    /// an error thrown through it marks the span failed. Without a tracer, runs `body` with no span.
    public func span<T>(
        _ name: String, kind: SpanKind = .internal, context: ServiceContext? = nil, _ body: (SpanHandle) async throws -> T
    ) async rethrows -> T {
        guard let tracer else { return try await body(SpanHandle(span: nil)) }
        let span = tracer.startSpan(name, context: context ?? ServiceContext.current ?? .topLevel, ofKind: kind)
        defer { span.end() }
        do {
            return try await ServiceContext.withValue(span.context) { try await body(SpanHandle(span: span)) }
        } catch {
            span.setStatus(SpanStatus(code: .error, message: "\(type(of: error))"))
            throw error
        }
    }

    /// `headers` with the current span's trace context added (`traceparent`, `tracestate`: W3C Trace Context).
    public func inject(into headers: inout [(String, String)]) {
        guard let tracer, let context = ServiceContext.current else { return }
        tracer.inject(context, into: &headers, using: HeaderListInjector())
    }

    /// Calls to providers' APIs, one client span each.
    public var providerCalls: (any ProviderCallTracing)? {
        tracer.map { _ in ProviderCallSpans(tracing: self) }
    }
}

/// The span a traced operation runs in, to add what it learns (`nil` inside when tracing is off).
public struct SpanHandle: Sendable {
    let span: (any Span)?

    public func set(_ key: String, _ value: String) { span?.attributes[key] = value }
    public func set(_ key: String, _ value: Int) { span?.attributes[key] = value }
    public func failed(_ message: String) { span?.setStatus(SpanStatus(code: .error, message: message)) }
}

/// Each call to a provider's API as a client span: `stripe POST`, with the provider, method and path.
struct ProviderCallSpans: ProviderCallTracing {
    let tracing: SettleTracing

    func span<T: Sendable>(
        provider: String, method: String, path: String, _ call: () async throws(ProviderError) -> T
    ) async throws(ProviderError) -> T {
        let outcome: Result<T, ProviderError> = await tracing.span("\(provider.lowercased()) \(method)", kind: .client) { span in
            span.set("settle.provider", provider.lowercased())
            span.set("http.request.method", method)
            span.set("url.path", path)
            do throws(ProviderError) {
                return .success(try await call())
            } catch {
                span.set("settle.provider.error", error.code.description)
                span.failed(error.code.description)
                return .failure(error)
            }
        }
        return try outcome.get()
    }
}

/// Writes trace context into a list of header pairs.
struct HeaderListInjector: Injector {
    func inject(_ value: String, forKey key: String, into carrier: inout [(String, String)]) {
        carrier.append((key, value))
    }
}
