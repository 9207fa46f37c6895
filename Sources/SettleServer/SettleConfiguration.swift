import Configuration
import Logging
import Settle
import SettleCore
import SettleProviders
import SettleStore

/// Every setting, read once: flags, then environment, then `.env`, then defaults (see the README's table).
public struct SettleConfiguration: Sendable {
    public var host: String = "127.0.0.1"
    public var port: Int = 8080
    public var databaseURL: String = DatabaseLocation.defaultURL
    /// Base for the URLs Settle hands out; defaults to `http://<host>:<port>`.
    public var publicURL: String?
    /// `whsec_…`; generated and stored on first start when unset.
    public var sandboxWebhookSecret: String?
    public var durability: Durability = .full
    public var maximumAmount: Int64 = 99_999_999_999
    /// Seconds between sweeps for expired payments.
    public var sweepInterval: Int = 30
    public var logLevel: Logger.Level = .info
    /// Outbound webhook delivery (retry schedule, timeout, when to disable failing endpoints).
    public var webhooks = WebhookDispatcher.Configuration()
    /// Stripe (`SETTLE_STRIPE_SECRET_KEY`, `SETTLE_STRIPE_WEBHOOK_SECRET`, `SETTLE_STRIPE_API_BASE`).
    public var stripe = StripeConfiguration()
    /// Payme (`SETTLE_PAYME_MERCHANT_ID`, `SETTLE_PAYME_KEY`, `SETTLE_PAYME_ACCOUNT_FIELD`, `SETTLE_PAYME_MODE`,
    /// `SETTLE_PAYME_CHECKOUT_BASE`, `SETTLE_PAYME_API_BASE`).
    public var payme = PaymeConfiguration()
    /// Run the webhook dispatcher inside the server (tests drive their own with a controllable clock).
    public var runDispatcher = true

    public init() {}

    /// Reads `settle.*` keys (`SETTLE_*` in the environment and `.env`).
    public init(reader: ConfigReader) {
        let config = reader.scoped(to: "settle")
        host = config.string(forKey: "host", default: host)
        port = config.int(forKey: "port", default: port)
        databaseURL = config.string(forKey: "database.url", isSecret: true, default: databaseURL)
        publicURL = config.string(forKey: "public.url")
        sandboxWebhookSecret = config.string(forKey: "sandbox.webhook.secret", isSecret: true)
        durability = Durability(rawValue: config.string(forKey: "durability", default: "full")) ?? .full
        maximumAmount = Int64(config.int(forKey: "max.amount", default: Int(maximumAmount)))
        sweepInterval = config.int(forKey: "sweep.interval", default: sweepInterval)
        logLevel = Logger.Level(rawValue: config.string(forKey: "log.level", default: "info")) ?? .info
        stripe = StripeConfiguration(
            secretKey: config.string(forKey: "stripe.secret.key", isSecret: true),
            webhookSecret: config.string(forKey: "stripe.webhook.secret", isSecret: true),
            apiBase: config.string(forKey: "stripe.api.base", default: StripeConfiguration.defaultAPIBase)
        )
        payme = PaymeConfiguration(
            merchantID: config.string(forKey: "payme.merchant.id"),
            key: config.string(forKey: "payme.key", isSecret: true),
            accountField: config.string(forKey: "payme.account.field", default: "order_id"),
            mode: Mode(rawValue: config.string(forKey: "payme.mode", default: "test")) ?? .test,
            checkoutBase: config.string(forKey: "payme.checkout.base"),
            apiBase: config.string(forKey: "payme.api.base")
        )
        webhooks.disableAfterSeconds = Int64(config.int(forKey: "webhooks.disable.after", default: Int(webhooks.disableAfterSeconds)))
    }
}
