import CoreMetrics
import Foundation
import Hummingbird
import Prometheus
import Settle

/// The server's metrics: a Prometheus registry of its own (no process-wide bootstrap, so several servers can share a
/// process), the counters the use cases record through ``SettleMetrics``, and gauges read from the database when
/// scraped. Served at `GET /metrics` (Prometheus text format) unless `SETTLE_METRICS=off`; with `SETTLE_METRICS_TOKEN`,
/// only to `Authorization: Bearer <token>`.
public final class ServerMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()
    public var factory: PrometheusMetricsFactory {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = [
            .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250),
            .milliseconds(500), .seconds(1), .seconds(2), .seconds(5), .seconds(10),
        ]
        return factory
    }
    public var settle: SettleMetrics { SettleMetrics(factory: factory) }

    /// The text Prometheus scrapes, after reading the database's gauges and this instance's connections.
    func scrape(gauges read: () async -> HealthService.Gauges?, connections: () -> HealthService.Connections) async -> [UInt8] {
        if let gauges = await read() {
            for (provider, statuses) in gauges.payments {
                for status in ["requires_action", "processing", "requires_review"] {
                    registry.makeGauge(name: "settle_payments_waiting", labels: [("provider", provider), ("status", status)])
                        .set(Double(statuses[status] ?? 0))
                }
            }
            registry.makeGauge(name: "settle_outbox_pending").set(Double(gauges.outboxPending))
            registry.makeGauge(name: "settle_outbox_oldest_due_seconds").set(Double(gauges.outboxOldestDueSeconds))
            if let discrepancy = gauges.ledgerDiscrepancy { registry.makeGauge(name: "settle_ledger_discrepancy").set(Double(discrepancy ? 1 : 0)) }
            registry.makeGauge(name: "settle_database_up").set(Double(1))
        } else {
            registry.makeGauge(name: "settle_database_up").set(Double(0))
        }
        let usage = connections()
        registry.makeGauge(name: "settle_database_connections_in_use").set(Double(usage.inUse))
        registry.makeGauge(name: "settle_database_connections_waiting").set(Double(usage.waiting))
        registry.makeGauge(name: "settle_database_connections_max").set(Double(usage.capacity))
        registry.makeGauge(name: "settle_commit_queue_jobs").set(Double(usage.commitQueue))
        return registry.emitToBuffer()
    }
}

/// Counts every request by route template (never the path itself: it holds ids and page tokens) and status.
struct MetricsMiddleware: RouterMiddleware {
    typealias Context = SettleRequestContext
    let metrics: SettleMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let started = ContinuousClock.now
        do {
            let response = try await next(request, context)
            record(request, context: context, status: Int(response.status.code), since: started)
            return response
        } catch let error as any HTTPResponseError {
            record(request, context: context, status: Int(error.status.code), since: started)
            throw error
        } catch {
            record(request, context: context, status: 500, since: started)
            throw error
        }
    }

    func record(_ request: Request, context: Context, status: Int, since started: ContinuousClock.Instant) {
        metrics.request(route: context.endpointPath ?? "unmatched", method: request.method.rawValue, status: status, ContinuousClock.now - started)
    }
}

struct MetricsController {
    let metrics: ServerMetrics
    let health: HealthService
    let token: String?

    func addRoutes(to router: RouterGroup<SettleRequestContext>) {
        router.get("metrics") { request, _ in
            if let token, request.headers[.authorization] != "Bearer \(token)" {
                return Response(status: .unauthorized, headers: [.wwwAuthenticate: "Bearer"])
            }
            let body = await metrics.scrape(gauges: { await health.gauges() }, connections: { health.connections })
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"], body: .init(byteBuffer: .init(bytes: body))
            )
        }
    }
}
