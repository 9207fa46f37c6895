import Foundation
import SettleCore

/// One versioned schema change: statements run in order, in the same transaction as its ledger entry.
struct Migration: Sendable {
    let version: Int
    let name: String
    let statements: @Sendable (SQLDialect) -> [String]
}

/// Runs pending migrations, recording each in `schema_migrations`. On PostgreSQL a transaction-scoped advisory
/// lock keeps two instances starting at once from racing; on SQLite `BEGIN IMMEDIATE` does the same.
enum Migrator {
    /// `pg_advisory_xact_lock` key: "settle" in ASCII.
    static let advisoryLockKey: Int64 = 0x7365_7474_6C65

    static func migrate(_ driver: any DatabaseDriver, migrations: [Migration] = Schema.all) async throws -> [String] {
        if driver.dialect == .postgres { try await requireDurableCommits(driver) }
        return try await driver.withWriter { connection -> [String] in
            try await driver.beginWrite(on: connection)
            do {
                if connection.dialect == .postgres {
                    try await connection.query("SELECT pg_advisory_xact_lock(\(advisoryLockKey))")
                }
                try await connection.query(
                    "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)"
                )
                let applied = Set(try await connection.query("SELECT version FROM schema_migrations").map { try $0.int("version") })
                var ran: [String] = []
                for migration in migrations.sorted(by: { $0.version < $1.version }) where !applied.contains(Int64(migration.version)) {
                    for statement in migration.statements(connection.dialect) {
                        try await connection.query(SQL(stringLiteral: statement))
                    }
                    try await connection.query(
                        "INSERT INTO schema_migrations (version, name, applied_at) VALUES (\(migration.version), \(migration.name), \(UnixTime.milliseconds(Date())))"
                    )
                    ran.append("\(migration.version) \(migration.name)")
                }
                try await connection.query("COMMIT")
                return ran
            } catch {
                _ = try? await connection.query("ROLLBACK")
                throw error
            }
        }
    }
}

extension Migrator {
    /// Refuses a PostgreSQL session whose commits are not durable (`synchronous_commit = off`, set for the server, the
    /// database or the role): Settle acknowledges a notification only once it is on disk.
    static func requireDurableCommits(_ driver: any DatabaseDriver) async throws {
        let setting = try await driver.withReader { connection in
            try await connection.query("SELECT current_setting('synchronous_commit') AS value").first?.string("value")
        }
        guard setting != "off" else {
            throw StoreError(
                .configuration,
                "PostgreSQL runs Settle's session with synchronous_commit=off, so an acknowledged payment could be lost in a crash. "
                    + "Set it on for Settle's role or database (ALTER ROLE … SET synchronous_commit = on) and start again."
            )
        }
    }
}

/// Settle's schema. Money is BIGINT minor units; times are BIGINT Unix milliseconds; flags are 0/1 integers;
/// JSON is TEXT. The only differences between engines are the auto-increment key and the bytes type.
enum Schema {
    static let all: [Migration] = [initial, webhooks, providerTransactions, paymentMethods, retentionAndAnchors, leaseTokens, openPaymentPolling, vouchers, settlements, refundStates, reconciliations, refundPolling, wallets]

    static let initial = Migration(version: 1, name: "initial") { dialect in
        let serial = dialect == .postgres ? "BIGSERIAL PRIMARY KEY" : "INTEGER PRIMARY KEY AUTOINCREMENT"
        let bytes = dialect == .postgres ? "BYTEA" : "BLOB"
        return [
            """
            CREATE TABLE api_keys (
                id TEXT PRIMARY KEY, mode TEXT NOT NULL CHECK (mode IN ('test', 'live')), name TEXT NOT NULL,
                display TEXT NOT NULL, key_hash TEXT NOT NULL UNIQUE, created_at BIGINT NOT NULL, revoked_at BIGINT
            )
            """,
            "CREATE TABLE settings (name TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at BIGINT NOT NULL)",
            """
            CREATE TABLE payments (
                seq \(serial), id TEXT NOT NULL UNIQUE, mode TEXT NOT NULL, status TEXT NOT NULL,
                amount BIGINT NOT NULL CHECK (amount > 0), currency TEXT NOT NULL, provider TEXT NOT NULL,
                reference TEXT NOT NULL, description TEXT, customer TEXT, return_url TEXT, cancel_url TEXT,
                metadata TEXT NOT NULL, checkout_url TEXT, provider_payment_id TEXT, failure_code TEXT,
                failure_message TEXT, expires_at BIGINT, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL,
                UNIQUE (provider, provider_payment_id)
            )
            """,
            "CREATE INDEX payments_mode_reference ON payments (mode, reference)",
            "CREATE INDEX payments_mode_status ON payments (mode, status)",
            "CREATE INDEX payments_open_expiry ON payments (status, expires_at)",
            """
            CREATE TABLE events (
                seq \(serial), id TEXT NOT NULL UNIQUE, mode TEXT NOT NULL, type TEXT NOT NULL, payment_id TEXT,
                data TEXT NOT NULL, created_at BIGINT NOT NULL
            )
            """,
            "CREATE INDEX events_payment ON events (payment_id, seq)",
            "CREATE INDEX events_mode_type ON events (mode, type, seq)",
            """
            CREATE TABLE notifications (
                seq \(serial), id TEXT NOT NULL UNIQUE, provider TEXT NOT NULL, provider_event_id TEXT NOT NULL,
                event_type TEXT NOT NULL, payment_id TEXT, headers TEXT NOT NULL, body \(bytes) NOT NULL,
                received_at BIGINT NOT NULL, outcome TEXT NOT NULL, detail TEXT,
                UNIQUE (provider, provider_event_id)
            )
            """,
            "CREATE INDEX notifications_payment ON notifications (payment_id, seq)",
            """
            CREATE TABLE rejected_notifications (
                seq \(serial), provider TEXT NOT NULL, reason TEXT NOT NULL, body_sha256 TEXT NOT NULL,
                body_size BIGINT NOT NULL, received_at BIGINT NOT NULL
            )
            """,
            """
            CREATE TABLE audit_log (
                seq BIGINT PRIMARY KEY, actor_kind TEXT NOT NULL, actor_id TEXT NOT NULL, action TEXT NOT NULL,
                target_type TEXT NOT NULL, target_id TEXT NOT NULL, before_state TEXT NOT NULL, after_state TEXT NOT NULL,
                request_id TEXT, at BIGINT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL
            )
            """,
            "CREATE TABLE audit_head (id INTEGER PRIMARY KEY CHECK (id = 1), seq BIGINT NOT NULL, hash TEXT NOT NULL)",
            "INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '\(AuditChain.genesis)')",
            """
            CREATE TABLE idempotency_keys (
                api_key_id TEXT NOT NULL, idempotency_key TEXT NOT NULL, request_hash TEXT NOT NULL, state TEXT NOT NULL,
                response_status INTEGER, response_body \(bytes), created_at BIGINT NOT NULL, locked_at BIGINT NOT NULL,
                PRIMARY KEY (api_key_id, idempotency_key)
            )
            """,
        ]
    }

    static let webhooks = Migration(version: 2, name: "webhooks") { dialect in
        let serial = dialect == .postgres ? "BIGSERIAL PRIMARY KEY" : "INTEGER PRIMARY KEY AUTOINCREMENT"
        return [
            """
            CREATE TABLE webhook_endpoints (
                seq \(serial), id TEXT NOT NULL UNIQUE, mode TEXT NOT NULL, url TEXT NOT NULL, description TEXT,
                enabled_events TEXT NOT NULL, secret TEXT NOT NULL, previous_secret TEXT, previous_secret_expires_at BIGINT,
                status TEXT NOT NULL CHECK (status IN ('enabled', 'disabled')), disabled_reason TEXT, failing_since BIGINT,
                deleted_at BIGINT, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL
            )
            """,
            "CREATE INDEX webhook_endpoints_mode ON webhook_endpoints (mode, status)",
            """
            CREATE TABLE webhook_messages (
                seq \(serial), id TEXT NOT NULL UNIQUE, endpoint_id TEXT NOT NULL, event_id TEXT NOT NULL,
                event_type TEXT NOT NULL, state TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
                attempts INTEGER NOT NULL, next_attempt_at BIGINT NOT NULL, locked_until BIGINT, last_status INTEGER,
                last_error TEXT, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL, delivered_at BIGINT,
                UNIQUE (endpoint_id, event_id)
            )
            """,
            "CREATE INDEX webhook_messages_due ON webhook_messages (state, next_attempt_at)",
            "CREATE INDEX webhook_messages_endpoint ON webhook_messages (endpoint_id, state, created_at)",
            """
            CREATE TABLE webhook_attempts (
                seq \(serial), message_id TEXT NOT NULL, endpoint_id TEXT NOT NULL, event_id TEXT NOT NULL,
                attempted_at BIGINT NOT NULL, status_code INTEGER, duration_ms BIGINT NOT NULL, response_body TEXT,
                error TEXT
            )
            """,
            "CREATE INDEX webhook_attempts_endpoint ON webhook_attempts (endpoint_id, seq)",
        ]
    }

    /// Refunds and fulfilment on payments, and the transactions of providers that call Settle synchronously
    /// (Payme's Merchant API). A provider transaction changes only under its payment's row lock.
    static let providerTransactions = Migration(version: 3, name: "provider_transactions") { dialect in
        let serial = dialect == .postgres ? "BIGSERIAL PRIMARY KEY" : "INTEGER PRIMARY KEY AUTOINCREMENT"
        return [
            "ALTER TABLE payments ADD COLUMN amount_refunded BIGINT NOT NULL DEFAULT 0",
            "ALTER TABLE payments ADD COLUMN fulfilled_at BIGINT",
            """
            CREATE TABLE provider_transactions (
                seq \(serial), id TEXT NOT NULL UNIQUE, provider TEXT NOT NULL, provider_transaction_id TEXT NOT NULL,
                payment_id TEXT NOT NULL, state INTEGER NOT NULL, amount BIGINT NOT NULL, provider_time BIGINT NOT NULL,
                create_time BIGINT NOT NULL, perform_time BIGINT NOT NULL, cancel_time BIGINT NOT NULL,
                reason INTEGER, open_until BIGINT, account TEXT NOT NULL, fiscal_data TEXT NOT NULL,
                UNIQUE (provider, provider_transaction_id)
            )
            """,
            "CREATE INDEX provider_transactions_payment ON provider_transactions (payment_id, seq)",
            "CREATE INDEX provider_transactions_time ON provider_transactions (provider, provider_time)",
            """
            CREATE TABLE refunds (
                seq \(serial), id TEXT NOT NULL UNIQUE, payment_id TEXT NOT NULL, amount BIGINT NOT NULL CHECK (amount > 0),
                currency TEXT NOT NULL, reason TEXT NOT NULL, provider_refund_id TEXT, created_at BIGINT NOT NULL
            )
            """,
            "CREATE INDEX refunds_payment ON refunds (payment_id, seq)",
        ]
    }

    /// How the buyer pays (`payment_method`, JSON), and generated provider settings named `<provider>.<key>` like the
    /// credentials providers store (the sandbox's secret was `sandbox_webhook_secret`).
    static let paymentMethods = Migration(version: 4, name: "payment_methods") { _ in
        [
            "ALTER TABLE payments ADD COLUMN payment_method TEXT",
            "UPDATE settings SET name = 'sandbox.webhook_secret' WHERE name = 'sandbox_webhook_secret'",
        ]
    }

    /// Indexes for the retention purge and for checking payments against the audit trail, and the audit head's
    /// anchor (an HMAC of the head under `SETTLE_AUDIT_KEY`).
    static let retentionAndAnchors = Migration(version: 5, name: "retention_and_anchors") { _ in
        [
            "CREATE INDEX rejected_notifications_received ON rejected_notifications (received_at)",
            "CREATE INDEX webhook_attempts_attempted ON webhook_attempts (attempted_at)",
            "CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at)",
            "CREATE INDEX audit_log_target ON audit_log (target_type, target_id, seq)",
            "ALTER TABLE audit_head ADD COLUMN mac TEXT",
        ]
    }

    /// Each claim of an outbound message carries its own token, checked when the claim is renewed or its outcome
    /// recorded.
    static let leaseTokens = Migration(version: 6, name: "lease_tokens") { _ in
        ["ALTER TABLE webhook_messages ADD COLUMN lease_token TEXT"]
    }

    /// When the sweep last asked a payment's provider about it, so polling goes round every open payment.
    static let openPaymentPolling = Migration(version: 7, name: "open_payment_polling") { _ in
        [
            "ALTER TABLE payments ADD COLUMN polled_at BIGINT",
            "CREATE INDEX payments_open_by_provider ON payments (provider, status, polled_at)",
        ]
    }

    /// The cash voucher of a cash payment (its network, reference, expiry and receipt links), as JSON.
    static let vouchers = Migration(version: 8, name: "vouchers") { _ in
        ["ALTER TABLE payments ADD COLUMN voucher TEXT"]
    }

    /// Voucher references, unique per provider (a collision asks the provider for another), and the settlement files
    /// imported, stored raw with their SHA-256 and the report of what each line led to, per mode (a file imported for
    /// test payments is imported again for live ones).
    static let settlements = Migration(version: 9, name: "settlements") { dialect in
        let bytes = dialect == .postgres ? "BYTEA" : "BLOB"
        return [
            """
            CREATE TABLE voucher_references (
                provider TEXT NOT NULL, reference TEXT NOT NULL, payment_id TEXT NOT NULL, created_at BIGINT NOT NULL,
                PRIMARY KEY (provider, reference)
            )
            """,
            """
            CREATE TABLE settlement_imports (
                id TEXT PRIMARY KEY, provider TEXT NOT NULL, mode TEXT NOT NULL, sha256 TEXT NOT NULL, filename TEXT,
                source TEXT NOT NULL, actor TEXT, size BIGINT NOT NULL, body \(bytes) NOT NULL, lines BIGINT NOT NULL,
                report TEXT NOT NULL, imported_at BIGINT NOT NULL, UNIQUE (provider, mode, sha256)
            )
            """,
        ]
    }

    /// Refunds as a state machine of their own: their mode, status, failure, metadata and last change; the provider's
    /// refund id looked up by notifications. The full refunds recorded before are succeeded ones.
    static let refundStates = Migration(version: 10, name: "refund_states") { _ in
        [
            "ALTER TABLE refunds ADD COLUMN mode TEXT",
            "ALTER TABLE refunds ADD COLUMN status TEXT NOT NULL DEFAULT 'succeeded'",
            "ALTER TABLE refunds ADD COLUMN failure_code TEXT",
            "ALTER TABLE refunds ADD COLUMN failure_message TEXT",
            "ALTER TABLE refunds ADD COLUMN metadata TEXT NOT NULL DEFAULT '{}'",
            "ALTER TABLE refunds ADD COLUMN updated_at BIGINT",
            "UPDATE refunds SET mode = (SELECT p.mode FROM payments p WHERE p.id = refunds.payment_id), updated_at = created_at",
            "CREATE INDEX refunds_provider_refund ON refunds (provider_refund_id)",
            "CREATE INDEX refunds_by_mode ON refunds (mode, seq)",
        ]
    }

    /// Reconciliation runs (claimed by one instance at a time under a lease; a scheduled run has a unique key, so
    /// instances sharing the database create it once) and what each found; the sandbox's own record of test payments
    /// where it differs from Settle's; payments by provider and creation time, the window a run reads.
    static let reconciliations = Migration(version: 11, name: "reconciliations") { dialect in
        let serial = dialect == .postgres ? "BIGSERIAL PRIMARY KEY" : "INTEGER PRIMARY KEY AUTOINCREMENT"
        return [
            """
            CREATE TABLE reconciliation_runs (
                id TEXT PRIMARY KEY, mode TEXT NOT NULL, provider TEXT NOT NULL, window_from BIGINT NOT NULL, window_to BIGINT NOT NULL,
                apply_changes BIGINT NOT NULL, status TEXT NOT NULL, trigger_kind TEXT NOT NULL, schedule_key TEXT UNIQUE,
                counts TEXT NOT NULL DEFAULT '{}', applied BIGINT NOT NULL DEFAULT 0, payments_checked BIGINT NOT NULL DEFAULT 0,
                provider_records BIGINT NOT NULL DEFAULT 0, failure TEXT, lease_owner TEXT, lease_until BIGINT, attempts BIGINT NOT NULL DEFAULT 0,
                created_at BIGINT NOT NULL, started_at BIGINT, completed_at BIGINT
            )
            """,
            "CREATE INDEX reconciliation_runs_status ON reconciliation_runs (status, created_at)",
            "CREATE INDEX reconciliation_runs_by_mode ON reconciliation_runs (mode, created_at)",
            """
            CREATE TABLE reconciliation_items (
                seq \(serial), id TEXT NOT NULL UNIQUE, run_id TEXT NOT NULL, item_class TEXT NOT NULL, item_type TEXT NOT NULL,
                payment_id TEXT, refund_id TEXT, provider_id TEXT, settle_status TEXT, settle_amount BIGINT, settle_currency TEXT,
                provider_status TEXT, provider_amount BIGINT, provider_currency TEXT, fee BIGINT, net BIGINT, applied TEXT
            )
            """,
            "CREATE INDEX reconciliation_items_run ON reconciliation_items (run_id, item_class, seq)",
            """
            CREATE TABLE sandbox_records (
                payment_id TEXT PRIMARY KEY, mode TEXT NOT NULL, status TEXT NOT NULL, amount BIGINT, currency TEXT,
                created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL
            )
            """,
            "CREATE INDEX payments_provider_created ON payments (provider, mode, created_at, id)",
        ]
    }

    /// When the sweep last asked a provider about a refund it holds as pending (PayU's review).
    static let refundPolling = Migration(version: 12, name: "refund_polling") { _ in
        ["ALTER TABLE refunds ADD COLUMN polled_at BIGINT", "CREATE INDEX refunds_pending ON refunds (status, polled_at)"]
    }

    /// The wallets' double-entry ledger. A transfer's two entries are written with it and never changed; an account's
    /// balance changes only with an entry. `credit_of_payment` is unique: a top-up payment can credit its wallet once,
    /// by construction. (No `CHECK` on the balance: a refund of a spent top-up may be allowed to take a wallet below
    /// zero; `verifyLedger` checks that nothing else ever did.)
    static let wallets = Migration(version: 13, name: "wallets") { dialect in
        let serial = dialect == .postgres ? "BIGSERIAL PRIMARY KEY" : "INTEGER PRIMARY KEY AUTOINCREMENT"
        return [
            """
            CREATE TABLE ledger_accounts (
                seq \(serial), id TEXT NOT NULL UNIQUE, mode TEXT NOT NULL, kind TEXT NOT NULL, currency TEXT NOT NULL,
                reference TEXT, provider TEXT, metadata TEXT NOT NULL, allow_negative INTEGER NOT NULL DEFAULT 0,
                balance BIGINT NOT NULL DEFAULT 0, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL
            )
            """,
            "CREATE INDEX ledger_accounts_reference ON ledger_accounts (mode, reference, seq)",
            """
            CREATE TABLE ledger_transfers (
                seq \(serial), id TEXT NOT NULL UNIQUE, mode TEXT NOT NULL, kind TEXT NOT NULL,
                amount BIGINT NOT NULL CHECK (amount > 0), currency TEXT NOT NULL, from_account TEXT NOT NULL, to_account TEXT NOT NULL,
                payment_id TEXT, refund_id TEXT, reference TEXT, description TEXT, metadata TEXT NOT NULL,
                credit_of_payment TEXT UNIQUE, created_at BIGINT NOT NULL,
                CHECK (from_account <> to_account)
            )
            """,
            "CREATE INDEX ledger_transfers_payment ON ledger_transfers (payment_id)",
            """
            CREATE TABLE ledger_entries (
                seq \(serial), id TEXT NOT NULL UNIQUE, transfer_id TEXT NOT NULL, account_id TEXT NOT NULL,
                amount BIGINT NOT NULL, currency TEXT NOT NULL, balance_after BIGINT NOT NULL, counter_account TEXT NOT NULL,
                created_at BIGINT NOT NULL
            )
            """,
            "CREATE INDEX ledger_entries_account ON ledger_entries (account_id, seq)",
            "CREATE INDEX ledger_entries_transfer ON ledger_entries (transfer_id)",
            "ALTER TABLE payments ADD COLUMN wallet_id TEXT",
            "CREATE INDEX payments_wallet ON payments (wallet_id, status)",
        ]
    }
}
