import Configuration
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
    public var maximumAmount: Int64 = 99_999_999_999
    /// Seconds between sweeps for expired payments.
    public var sweepInterval: Int = 30
    public var logLevel: Logger.Level = .info
    /// Outbound webhook delivery (retry schedule, timeout, when to disable failing endpoints).
    public var webhooks = WebhookDispatcher.Configuration()
    /// Each catalog provider's settings, by provider name (`providers["stripe"]["secret_key"]`).
    public var providers: [String: ProviderSettings] = [:]
    /// The API client of a provider (timeouts, retries, breaker), by provider name; the default for the others.
    public var providerClients: [String: ProviderClient.Configuration] = [:]
    /// Run the webhook dispatcher inside the server (tests drive their own with a controllable clock).
    public var runDispatcher = true

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
        maximumAmount = Int64(config.int(forKey: "max.amount", default: Int(maximumAmount)))
        sweepInterval = config.int(forKey: "sweep.interval", default: sweepInterval)
        logLevel = Logger.Level(rawValue: config.string(forKey: "log.level", default: "info")) ?? .info
        webhooks.disableAfterSeconds = Int64(config.int(forKey: "webhooks.disable.after", default: Int(webhooks.disableAfterSeconds)))
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
