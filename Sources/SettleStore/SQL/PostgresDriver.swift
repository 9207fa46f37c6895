import Logging
import NIOCore
import NIOSSL
import PostgresNIO
import SettleCore
import Synchronization

/// PostgreSQL through a `PostgresClient` pool. Several Settle instances may share one database: all coordination
/// goes through it (row locks, unique constraints, `SKIP LOCKED`, an advisory lock for migrations).
///
/// Every session is started with `statement_timeout`, `lock_timeout` and `idle_in_transaction_session_timeout`, so a
/// frozen instance cannot stall the others for long; waiting for a connection is bounded too, so an outage is a 503
/// within seconds. The connection is encrypted as `sslmode` asks (at least `require` for any host but this machine).
final class PostgresDriver: DatabaseDriver {
    let dialect = SQLDialect.postgres
    let client: PostgresClient
    let acquireTimeout: Duration
    let logger: Logger
    let pool = PoolCounter(capacity: PostgresDriver.maximumConnections)
    static let maximumConnections = 40

    init(_ server: DatabaseLocation.Postgres, options: StoreOptions, logger: Logger) throws(StoreError) {
        var configuration: PostgresClient.Configuration
        let password = server.password?.value
        if let unixSocket = server.unixSocket {
            configuration = .init(unixSocketPath: unixSocket, username: server.user, password: password, database: server.database)
        } else {
            configuration = .init(
                host: server.host, port: server.port, username: server.user, password: password, database: server.database,
                tls: try Self.tls(server, caFile: server.caFile ?? options.caFile)
            )
        }
        configuration.options.maximumConnections = Self.maximumConnections
        configuration.options.minimumConnections = 2
        configuration.options.connectTimeout = options.timeout
        configuration.options.additionalStartupParameters = [
            ("statement_timeout", StoreOptions.milliseconds(options.statementTimeout)),
            ("lock_timeout", StoreOptions.milliseconds(options.lockTimeout)),
            ("idle_in_transaction_session_timeout", StoreOptions.milliseconds(options.idleInTransactionTimeout)),
            ("application_name", "settle"),
        ]
        self.client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        self.acquireTimeout = options.timeout
        self.logger = logger
    }

    /// The TLS of a server's connection, from its `sslmode`.
    static func tls(_ server: DatabaseLocation.Postgres, caFile: String?) throws(StoreError) -> PostgresClient.Configuration.TLS {
        var tls = TLSConfiguration.makeClientConfiguration()
        switch server.tls {
        case .disable:
            return .disable
        case .prefer, .require:
            tls.certificateVerification = .none
        case .verifyCA:
            tls.certificateVerification = .noHostnameVerification
        case .verifyFull:
            tls.certificateVerification = .fullVerification
        }
        if let caFile, server.tls == .verifyCA || server.tls == .verifyFull {
            do {
                tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caFile))
            } catch {
                throw StoreError(.configuration, "The database CA file \(caFile) could not be read as PEM certificates.")
            }
        }
        return server.tls == .prefer ? .prefer(tls) : .require(tls)
    }

    func withReader<T: Sendable>(_ body: @Sendable (any SQLConnection) async throws -> T) async throws -> T {
        try await withConnection(body)
    }

    func withWriter<T: Sendable>(_ body: @Sendable (any SQLConnection) async throws -> T) async throws -> T {
        try await withConnection(body)
    }

    /// Leases a connection, waiting at most `acquireTimeout` for one (the pool keeps trying to connect during an
    /// outage; the request does not wait for it), then runs `body` on it. Whichever comes first wins, once: a
    /// connection that arrives after the caller was told "unavailable" runs nothing, so no write commits behind an
    /// error.
    private func withConnection<T: Sendable>(_ body: @Sendable (any SQLConnection) async throws -> T) async throws -> T {
        let race = AcquireRace()
        let client = self.client
        let logger = self.logger
        let timeout = acquireTimeout
        let unavailable = StoreError(.unavailable, "No PostgreSQL connection within \(timeout).")
        let pool = self.pool
        pool.startWaiting()
        // Whoever decides the race stops the wait, once; a lease abandoned undecided (cancelled) stops it here.
        defer { if race.settle(.timedOut) { pool.stopWaiting() } }
        do {
            return try await withoutActuallyEscaping(body) { body in
                try await withThrowingTaskGroup(of: T?.self) { group in
                    group.addTask {
                        try await client.withConnection { connection in
                            guard race.settle(.acquired) else { throw unavailable }
                            pool.stopWaiting()
                            return try await pool.using { try await body(PostgresSQLConnection(connection: connection, logger: logger)) }
                        }
                    }
                    group.addTask {
                        try await Task.sleep(for: timeout)
                        guard !race.settle(.timedOut) else {
                            pool.stopWaiting()
                            throw unavailable
                        }
                        return nil
                    }
                    defer { group.cancelAll() }
                    while let next = try await group.next() {
                        if let value = next { return value }
                    }
                    throw StoreError(.unavailable, "PostgreSQL is unavailable.")
                }
            }
        } catch let error as PSQLError {
            throw SQLErrorClassifier.classify(postgres: error)
        }
    }

    func beginWrite(on connection: any SQLConnection) async throws {
        try await connection.query("BEGIN")
    }

    func run() async throws {
        await client.run()
    }

    func close() async {}
}

/// A PostgreSQL connection speaking ``SQL``.
struct PostgresSQLConnection: SQLConnection {
    let connection: PostgresConnection
    let logger: Logger
    var dialect: SQLDialect { .postgres }

    @discardableResult
    func query(_ sql: SQL) async throws -> [SQLRow] {
        let (text, binds) = sql.render(for: .postgres)
        var bindings = PostgresBindings(capacity: binds.count)
        for value in binds {
            switch value {
            case .int(let i): bindings.append(i)
            case .text(let s): bindings.append(s)
            case .blob(let b): bindings.append(ByteBuffer(bytes: b))
            case .null: bindings.appendNull()
            }
        }
        do {
            let rows = try await connection.query(PostgresQuery(unsafeSQL: text, binds: bindings), logger: logger)
            var out: [SQLRow] = []
            for try await row in rows {
                var values: [String: SQLValue] = [:]
                for cell in row {
                    guard cell.bytes != nil else {
                        values[cell.columnName] = .null
                        continue
                    }
                    switch cell.dataType {
                    case .int2, .int4, .int8: values[cell.columnName] = .int(try cell.decode(Int64.self))
                    case .bytea:
                        var buffer = try cell.decode(ByteBuffer.self)
                        values[cell.columnName] = .blob(buffer.readBytes(length: buffer.readableBytes) ?? [])
                    case .bool: values[cell.columnName] = .int(try cell.decode(Bool.self) ? 1 : 0)
                    default: values[cell.columnName] = .text(try cell.decode(String.self))
                    }
                }
                out.append(SQLRow(values: values))
            }
            return out
        } catch let error as PSQLError {
            throw SQLErrorClassifier.classify(postgres: error)
        }
    }
}

/// A flag shared by the tasks of one connection request.
/// Who won the race between a connection and the acquire deadline: decided once.
final class AcquireRace: Sendable {
    enum Outcome: UInt8 {
        case acquired = 1
        case timedOut = 2
    }

    private let state = Atomic<UInt8>(0)

    /// Records `outcome` if nothing was decided yet; returns whether it was.
    func settle(_ outcome: Outcome) -> Bool {
        state.compareExchange(expected: 0, desired: outcome.rawValue, ordering: .acquiringAndReleasing).exchanged
    }
}
