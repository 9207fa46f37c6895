import Logging
import NIOCore
import PostgresNIO

/// PostgreSQL through a `PostgresClient` pool. Several Settle instances may share one database: all coordination
/// goes through it (row locks, unique constraints, `SKIP LOCKED`, an advisory lock for migrations).
final class PostgresDriver: DatabaseDriver {
    let dialect = SQLDialect.postgres
    let client: PostgresClient
    let logger: Logger

    init(host: String, port: Int, user: String, password: String?, database: String, unixSocket: String?, logger: Logger) {
        var configuration: PostgresClient.Configuration
        if let unixSocket {
            configuration = .init(unixSocketPath: unixSocket, username: user, password: password, database: database)
        } else {
            configuration = .init(host: host, port: port, username: user, password: password, database: database, tls: .disable)
        }
        configuration.options.maximumConnections = 40
        configuration.options.minimumConnections = 2
        self.client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        self.logger = logger
    }

    func withReader<T: Sendable>(_ body: (any SQLConnection) async throws -> T) async throws -> T {
        try await withConnection(body)
    }

    func withWriter<T: Sendable>(_ body: (any SQLConnection) async throws -> T) async throws -> T {
        try await withConnection(body)
    }

    private func withConnection<T: Sendable>(_ body: (any SQLConnection) async throws -> T) async throws -> T {
        do {
            return try await client.withConnection { connection in
                try await body(PostgresSQLConnection(connection: connection, logger: logger))
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
