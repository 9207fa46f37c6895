import Foundation
import Logging
import NIOCore
import NIOPosix
import SQLiteNIO
import ServiceLifecycle
import Synchronization

/// SQLite in WAL mode: one writer connection (every write goes through the group commit, so it is never shared by
/// two transactions) and a few reader connections that read committed data while the writer works.
///
/// Durability: `synchronous=FULL`, so an acknowledged write survives a process kill and a power loss.
final class SQLiteDriver: DatabaseDriver {
    let dialect = SQLDialect.sqlite
    let writer: SQLiteSQLConnection
    let readers: [SQLiteSQLConnection]
    let next = Atomic<Int>(0)
    let pool: PoolCounter

    static func open(path: String, readers readerCount: Int = 4, synchronous: String, busyTimeout: Duration, logger: Logger) async throws
        -> SQLiteDriver
    {
        func connect() async throws -> SQLiteSQLConnection {
            let connection = try await SQLiteConnection.open(storage: .file(path: path), logger: logger)
            let wrapped = SQLiteSQLConnection(connection: connection)
            try await wrapped.query(SQL(stringLiteral: "PRAGMA busy_timeout = \(StoreOptions.milliseconds(busyTimeout))"))
            try await wrapped.query("PRAGMA foreign_keys = ON")
            return wrapped
        }
        let writer = try await connect()
        try await writer.query("PRAGMA journal_mode = WAL")
        try await writer.query(SQL(stringLiteral: "PRAGMA synchronous = \(synchronous)"))
        var readers: [SQLiteSQLConnection] = []
        for _ in 0..<readerCount { readers.append(try await connect()) }
        return SQLiteDriver(writer: writer, readers: readers)
    }

    private init(writer: SQLiteSQLConnection, readers: [SQLiteSQLConnection]) {
        self.writer = writer
        self.readers = readers
        self.pool = PoolCounter(capacity: readers.count + 1)
    }

    func withReader<T: Sendable>(_ body: @Sendable (any SQLConnection) async throws -> T) async throws -> T {
        let index = next.wrappingAdd(1, ordering: .relaxed).oldValue
        return try await pool.using { try await body(readers[abs(index) % readers.count]) }
    }

    func withWriter<T: Sendable>(_ body: @Sendable (any SQLConnection) async throws -> T) async throws -> T {
        try await pool.using { try await body(writer) }
    }

    func beginWrite(on connection: any SQLConnection) async throws {
        try await connection.query("BEGIN IMMEDIATE")
    }

    func run() async throws {
        try? await gracefulShutdown()
    }

    private let closed = Atomic<Bool>(false)

    /// Closes every connection once (SQLite requires it before a connection is released).
    func close() async {
        guard !closed.exchange(true, ordering: .relaxed) else { return }
        // The future-based close is not abandoned when the calling task is already cancelled (shutdown).
        for connection in readers + [writer] {
            let closing: EventLoopFuture<Void> = connection.connection.close()
            try? await closing.get()
        }
    }
}

/// A SQLite connection speaking ``SQL``.
struct SQLiteSQLConnection: SQLConnection {
    let connection: SQLiteConnection
    var dialect: SQLDialect { .sqlite }

    @discardableResult
    func query(_ sql: SQL) async throws -> [SQLRow] {
        let (text, binds) = sql.render(for: .sqlite)
        let data: [SQLiteData] = binds.map { value in
            switch value {
            case .int(let i): .integer(Int(i))
            case .text(let s): .text(s)
            case .blob(let b): .blob(ByteBuffer(bytes: b))
            case .null: .null
            }
        }
        let rows: [SQLiteRow]
        do {
            rows = try await connection.query(text, data).get()
        } catch let error as SQLiteError {
            throw SQLErrorClassifier.classify(sqlite: error)
        }
        return rows.map { row in
            var values: [String: SQLValue] = [:]
            for column in row.columns {
                switch column.data {
                case .integer(let i): values[column.name] = .int(Int64(i))
                case .text(let s): values[column.name] = .text(s)
                case .blob(var buffer): values[column.name] = .blob(buffer.readBytes(length: buffer.readableBytes) ?? [])
                case .null: values[column.name] = .null
                case .float: values[column.name] = .null  // Settle never stores floating point.
                }
            }
            return SQLRow(values: values)
        }
    }
}
