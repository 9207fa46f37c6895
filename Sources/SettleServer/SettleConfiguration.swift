import Configuration
import Foundation
import Logging
import Settle
import SettleCore
import SettleProviders

/// Every setting, read once: flags, then environment, then `.env`, then defaults (see the README's table). Each
/// catalog provider's settings are read from what it declares (`SETTLE_<NAME>_<KEY>`). Printing, dumping or
/// reflecting a configuration never shows a secret or the database password.
public struct SettleConfiguration: Sendable {
    public var host: String = "127.0.0.1"
    public var port: Int = 8080
    /// `SETTLE_DATABASE_URL`: it may carry a password, so it is never printed.
    public var databaseURL: String = Self.defaultDatabaseURL
    /// Base for the URLs Settle hands out; defaults to `http://<host>:<port>`.
    public var publicURL: String?
    public var durability: Durability = .full
    /// `SETTLE_DATABASE_TIMEOUT`, `…_STATEMENT_TIMEOUT`, `…_LOCK_TIMEOUT`, `…_IDLE_IN_TRANSACTION_TIMEOUT` (seconds) and
    /// `SETTLE_DATABASE_CA_FILE`: how long anything waits on the database, and the CA for `sslmode=verify-*`.
    public var databaseTimeout: Duration = .seconds(5)
    public var databaseStatementTimeout: Duration = .seconds(30)
    public var databaseLockTimeout: Duration = .seconds(5)
    public var databaseIdleInTransactionTimeout: Duration = .seconds(60)
    public var databaseCAFile: String?
    /// `SETTLE_AUDIT_KEY` (secret, at least 32 characters): anchors the audit chain's head with an HMAC under it.
    public var auditKey: Secret?
    public var maximumAmount: Int64 = 99_999_999_999
    /// Seconds between sweeps for expired payments.
    public var sweepInterval: Int = 30
    public var logLevel: Logger.Level = .info
    /// Timeouts, the connection cap and rate limits of the HTTP server.
    public var limits = ServerLimits()
    /// How long a rejected provider call and a webhook attempt are kept (`SETTLE_RETENTION_DAYS`), and how many
    /// rejected calls per provider and minute are stored at most (`SETTLE_REJECTED_PER_MINUTE`).
    public var retentionDays = 30
    public var rejectedPerMinute = 60
    /// Outbound webhook delivery (retry schedule, timeout, when to disable failing endpoints).
    public var webhooks = WebhookDispatcher.Configuration()
    /// Each catalog provider's settings, by provider name (`providers["stripe"]["secret_key"]`).
    public var providers: [String: ProviderSettings] = [:]
    /// The API client of a provider (timeouts, retries, breaker), by provider name; the default for the others.
    public var providerClients: [String: ProviderClient.Configuration] = [:]
    /// Run the webhook dispatcher inside the server (tests drive their own with a controllable clock).
    public var runDispatcher = true
    /// `SETTLE_RECONCILE_SCHEDULE`: `daily@HH:MM` (UTC) with an optional `+apply`, or `off` (``ReconciliationSchedule``).
    public var reconcileSchedule: String?
    /// How long readiness answers 503 on graceful shutdown before the server stops taking requests
    /// (`SETTLE_DRAIN_SECONDS`).
    public var drainDelay: Duration = .seconds(5)
    /// `text` (the default) or `json`: one JSON object per line (`SETTLE_LOG_FORMAT`).
    public var logFormat: LogFormat = .text
    /// `GET /metrics` (`SETTLE_METRICS`, on unless `off`), and the bearer token it asks for (`SETTLE_METRICS_TOKEN`).
    public var metricsEnabled = true
    public var metricsToken: Secret?
    /// An OTLP/HTTP collector for traces (`SETTLE_OTEL_ENDPOINT`, e.g. `http://127.0.0.1:4318`); none by default.
    public var otelEndpoint: String?
    /// Whether this instance takes queued reconciliations (tests turn it off to drive runs by hand).
    public var runReconciliations = true

    /// A SQLite file in the working directory: Settle runs with no set-up.
    public static let defaultDatabaseURL = "./settle.sqlite"

    public init() {}

    /// Reads `settle.*` keys (`SETTLE_*` in the environment and `.env`).
    public init(reader: ConfigReader, catalog: [any ProviderModule.Type] = ProviderCatalog.all) {
        let config = reader.scoped(to: "settle")
        host = config.string(forKey: "host", default: host)
        port = config.int(forKey: "port", default: port)
        databaseURL = config.string(forKey: "database.url", isSecret: true, default: databaseURL)
        publicURL = config.string(forKey: "public.url")
        durability = Durability(rawValue: config.string(forKey: "durability", default: "full")) ?? .full
        func seconds(_ key: String, _ fallback: Duration) -> Duration {
            config.int(forKey: ConfigKey(key)).map { .seconds(max(1, $0)) } ?? fallback
        }
        databaseTimeout = seconds("database.timeout", databaseTimeout)
        databaseStatementTimeout = seconds("database.statement.timeout", databaseStatementTimeout)
        databaseLockTimeout = seconds("database.lock.timeout", databaseLockTimeout)
        databaseIdleInTransactionTimeout = seconds("database.idle.in.transaction.timeout", databaseIdleInTransactionTimeout)
        databaseCAFile = config.string(forKey: "database.ca.file")
        auditKey = config.string(forKey: "audit.key", isSecret: true).map { Secret($0) }
        maximumAmount = Int64(config.int(forKey: "max.amount", default: Int(maximumAmount)))
        sweepInterval = config.int(forKey: "sweep.interval", default: sweepInterval)
        logLevel = Logger.Level(rawValue: config.string(forKey: "log.level", default: "info")) ?? .info
        webhooks.disableAfterSeconds = Int64(config.int(forKey: "webhooks.disable.after", default: Int(webhooks.disableAfterSeconds)))
        limits.readTimeout = seconds("http.read.timeout", limits.readTimeout)
        limits.idleTimeout = seconds("http.idle.timeout", limits.idleTimeout)
        limits.maxConnections = max(1, config.int(forKey: "http.max.connections", default: limits.maxConnections))
        limits.apiRate = max(0, config.int(forKey: "rate.limit.api", default: limits.apiRate))
        limits.providerRate = max(0, config.int(forKey: "rate.limit.providers", default: limits.providerRate))
        limits.pageRate = max(0, config.int(forKey: "rate.limit.pages", default: limits.pageRate))
        limits.trustedProxies = config.string(forKey: "trusted.proxies", default: "").split(separator: ",")
            .map { String($0).trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        retentionDays = max(1, config.int(forKey: "retention.days", default: retentionDays))
        rejectedPerMinute = max(0, config.int(forKey: "rejected.per.minute", default: rejectedPerMinute))
        reconcileSchedule = config.string(forKey: "reconcile.schedule")
        drainDelay = .seconds(max(0, config.int(forKey: "drain.seconds", default: 5)))
        metricsEnabled = config.string(forKey: "metrics", default: "on").lowercased() != "off"
        metricsToken = config.string(forKey: "metrics.token", isSecret: true).map { Secret($0) }
        otelEndpoint = config.string(forKey: "otel.endpoint")
        logFormat = LogFormat(rawValue: config.string(forKey: "log.format", default: "text")) ?? .text
        for module in catalog {
            var values: [String: String] = [:]
            for setting in module.settings {
                let key = ProviderSetting.configurationKey(provider: module.name, key: setting.key)
                if let value = reader.string(forKey: ConfigKey(key), isSecret: setting.isSecret), !value.isEmpty {
                    values[setting.key] = value
                }
            }
            providers[module.name] = ProviderSettings(values)
        }
    }

    /// The settings of one provider (empty when none are configured).
    public func settings(for provider: String) -> ProviderSettings { providers[provider] ?? ProviderSettings() }
}
