import Hummingbird
import HTTPTypes
import Instrumentation
import Logging
import OTel
import ServiceLifecycle
import Settle
import Tracing

/// OpenTelemetry tracing, when `SETTLE_OTEL_ENDPOINT` names an OTLP/HTTP collector (`http://collector:4318`; spans
/// go to its `/v1/traces` as protobuf): a span per request, per call to a provider's API and per webhook delivery,
/// and the delivery's trace context in the merchant's webhook (`traceparent`). The tracer is this server's own (no
/// process-wide bootstrap); its exporter runs as one of the server's services and flushes on shutdown. The standard
/// `OTEL_*` variables (sampler, headers, timeouts) apply on top.
enum ServerTracing {
    /// The tracer and the service that exports its spans, or nothing when no endpoint is set.
    static func make(endpoint: String?, logger: Logger) throws -> (tracing: SettleTracing, service: (any Service)?) {
        guard let endpoint, !endpoint.isEmpty else { return (.none, nil) }
        var configuration = OTel.Configuration.default
        configuration.serviceName = "settle"
        configuration.diagnosticLogger = .custom(logger)
        configuration.diagnosticLogLevel = .warning
        configuration.metrics.enabled = false
        configuration.logs.enabled = false
        configuration.traces.exporter = .otlp
        configuration.traces.otlpExporter.protocol = .httpProtobuf
        configuration.traces.otlpExporter.endpoint = tracesURL(endpoint)
        configuration.traces.batchSpanProcessor.scheduleDelay = .seconds(1)
        let (tracer, service) = try OTel.makeTracingBackend(configuration: configuration)
        return (SettleTracing(tracer: tracer), service)
    }

    /// The collector's traces URL: `/v1/traces` under a base, or the URL as given when it already names it.
    static func tracesURL(_ endpoint: String) -> String {
        if endpoint.hasSuffix("/v1/traces") { return endpoint }
        return (endpoint.hasSuffix("/") ? String(endpoint.dropLast()) : endpoint) + "/v1/traces"
    }
}

/// A server span per request, named by method and route template (`POST /v1/payments/{id}/cancel`: never the path
/// itself, which holds ids and page tokens), continuing the caller's trace when it sends `traceparent`.
struct TracingMiddleware: RouterMiddleware {
    typealias Context = SettleRequestContext
    let tracing: SettleTracing

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let tracer = tracing.tracer else { return try await next(request, context) }
        var parent = ServiceContext.topLevel
        tracer.extract(request.headers, into: &parent, using: RequestHeadersExtractor())
        let route = context.endpointPath ?? "unmatched"
        return try await tracing.span("\(request.method.rawValue) \(route)", kind: .server, context: parent) { span in
            span.set("http.request.method", request.method.rawValue)
            span.set("http.route", route)
            span.set("settle.request_id", context.requestID)
            do {
                let response = try await next(request, context)
                span.set("http.response.status_code", Int(response.status.code))
                if response.status.code >= 500 { span.failed("HTTP \(response.status.code)") }
                return response
            } catch let error as any HTTPResponseError {
                span.set("http.response.status_code", Int(error.status.code))
                if error.status.code >= 500 { span.failed("HTTP \(error.status.code)") }
                throw error
            }
        }
    }
}

/// Reads trace context from a request's headers.
struct RequestHeadersExtractor: Extractor {
    func extract(key: String, from headers: HTTPFields) -> String? {
        HTTPField.Name(key).flatMap { headers[$0] }
    }
}
