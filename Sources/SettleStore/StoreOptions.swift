import SettleCore

/// How the store treats its database: how durable a commit is, and how long anything may wait on the database, so
/// an outage is answered (503) within seconds and a frozen instance cannot hold locks for long.
public struct StoreOptions: Sendable {
    public var durability: Durability = .full
    /// The longest a request waits to get a connection, or for the group commit to take its write (SQLite and
    /// PostgreSQL).
    public var timeout: Duration = .seconds(5)
    /// PostgreSQL `statement_timeout`: no statement runs longer.
    public var statementTimeout: Duration = .seconds(30)
    /// PostgreSQL `lock_timeout`: no statement waits longer for a row another instance holds.
    public var lockTimeout: Duration = .seconds(5)
    /// PostgreSQL `idle_in_transaction_session_timeout`: a session that stops working inside a transaction (a frozen
    /// instance) is ended and its locks released.
    public var idleInTransactionTimeout: Duration = .seconds(60)
    /// A PEM file of CA certificates for `sslmode=verify-ca`/`verify-full` (`SETTLE_DATABASE_CA_FILE`); the URL's
    /// `sslrootcert` wins.
    public var caFile: String?
    /// `SETTLE_AUDIT_KEY`: anchors the audit chain's head with an HMAC under this key, so truncating or rewriting the
    /// trail is detected by `settle audit verify`.
    public var auditKey: Secret?
    /// Told of every committed batch of writes: how many jobs it held and how long it took (metrics).
    public var observeCommit: (@Sendable (_ jobs: Int, _ duration: Duration) -> Void)?

    public init(durability: Durability = .full) {
        self.durability = durability
    }

    /// Milliseconds, as PostgreSQL's settings take them.
    static func milliseconds(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        return String(seconds * 1000 + attoseconds / 1_000_000_000_000_000)
    }
}
