import CoreMetrics
import Foundation

/// What Settle counts, through swift-metrics with a factory of its own (the server's Prometheus registry; tests and
/// commands that keep no metrics use ``none``). Labels never carry an id, a reference or a secret: providers,
/// outcomes, statuses, route templates and reasons are bounded sets.
public struct SettleMetrics: Sendable {
    let factory: (any MetricsFactory)?

    public init(factory: any MetricsFactory) {
        self.factory = factory
    }

    private init() {
        self.factory = nil
    }

    /// Counts nothing.
    public static let none = SettleMetrics()

    func count(_ label: String, _ dimensions: [(String, String)], by amount: Int = 1) {
        guard let factory else { return }
        Counter(label: label, dimensions: dimensions, factory: factory).increment(by: amount)
    }

    func time(_ label: String, _ dimensions: [(String, String)], _ duration: Duration) {
        guard let factory else { return }
        let (seconds, attoseconds) = duration.components
        Timer(label: label, dimensions: dimensions, factory: factory).recordNanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }

    /// A notification received and what became of it: `applied`, `duplicate`, `unchanged`, `unmatched`, `ignored`,
    /// `refunded`, or `rejected` with the reason (`invalid_signature`, `malformed_notification`, …).
    public func notification(provider: String, outcome: String, reason: String = "") {
        count("settle_notifications_total", [("provider", provider), ("outcome", outcome), ("reason", reason)])
    }

    /// A payment moved by a provider's report (a notification, a fetched state) to `status`.
    public func transition(provider: String, status: String) {
        count("settle_payment_transitions_total", [("provider", provider), ("status", status)])
    }

    /// How long a notification took from its arrival to its answer.
    public func notificationIngest(provider: String, _ duration: Duration) {
        time("settle_notification_ingest_seconds", [("provider", provider)], duration)
    }

    /// An HTTP request, by route template (`/v1/payments/:id`) and status.
    public func request(route: String, method: String, status: Int, _ duration: Duration) {
        count("settle_http_requests_total", [("route", route), ("method", method), ("status", String(status))])
        time("settle_http_request_duration_seconds", [("route", route), ("method", method)], duration)
    }

    /// One call to a provider's API: its outcome, how long it took, how many attempts it made, and whether the
    /// provider's circuit breaker is open after it.
    public func providerCall(provider: String, outcome: String, attempts: Int, _ duration: Duration, circuitOpen: Bool) {
        let name = provider.lowercased()
        count("settle_provider_calls_total", [("provider", name), ("outcome", outcome)])
        if attempts > 1 { count("settle_provider_call_retries_total", [("provider", name)], by: attempts - 1) }
        time("settle_provider_call_seconds", [("provider", name)], duration)
        guard let factory else { return }
        Gauge(label: "settle_provider_circuit_open", dimensions: [("provider", name)], factory: factory).record(circuitOpen ? 1 : 0)
    }

    /// One committed batch of writes (the group commit): how many jobs shared its transaction and flush, and how long.
    public func commit(jobs: Int, _ duration: Duration) {
        guard let factory else { return }
        Recorder(label: "settle_commit_batch_jobs", dimensions: [], aggregate: true, factory: factory).record(jobs)
        time("settle_commit_seconds", [], duration)
    }

    /// One attempt to deliver a webhook to a merchant: `delivered`, `retry` (it will be sent again), `failed` (no more
    /// attempts) or `endpoint_gone` (410: the endpoint is disabled), and how long it took.
    public func delivery(outcome: String, _ duration: Duration) {
        count("settle_webhook_deliveries_total", [("outcome", outcome)])
        time("settle_webhook_delivery_seconds", [], duration)
    }

    /// A reconciliation that ended, and what it found.
    public func reconciliation(provider: String, status: String, counts: [String: Int]) {
        count("settle_reconciliation_runs_total", [("provider", provider), ("status", status)])
        for (kind, n) in counts where n > 0 {
            count("settle_reconciliation_items_total", [("provider", provider), ("class", kind)], by: n)
        }
    }
}
