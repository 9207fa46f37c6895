import Logging
import PostgresNIO
import SQLiteNIO
import ServiceLifecycle

/// One SQL engine behind the store.
protocol DatabaseDriver: Sendable {
    var dialect: SQLDialect { get }
    /// A connection for reads of committed data.
    func withReader<T: Sendable>(_ body: @Sendable (any SQLConnection) async throws -> T) async throws -> T
    /// A connection for one write transaction. Only the group commit calls this (and migrations before it).
    func withWriter<T: Sendable>(_ body: @Sendable (any SQLConnection) async throws -> T) async throws -> T
    /// Starts a write transaction that holds the engine's write lock as early as it can.
    func beginWrite(on connection: any SQLConnection) async throws
    /// Connections in use and callers waiting, counted around each lease.
    var pool: PoolCounter { get }
    /// Runs background work (the PostgreSQL pool) until cancelled.
    func run() async throws
    func close() async
}

/// Maps engine errors onto ``StoreError`` without leaking SQL or values.
enum SQLErrorClassifier {
    static func classify(postgres error: PSQLError) -> any Error {
        if let state = error.serverInfo?[.sqlState] {
            switch state {
            case "23505": return StoreError(.conflict, "A unique constraint was violated.")
            case "40P01", "40001": return RetryableConflict()
            default: return StoreError(.unavailable, "PostgreSQL refused a statement (SQLSTATE \(state)).")
            }
        }
        return StoreError(.unavailable, "PostgreSQL is unavailable.")
    }

    static func classify(sqlite error: SQLiteError) -> any Error {
        switch error.reason {
        case .constraint, .constraintUniqueFailed, .constraintPrimaryKeyFailed:
            return StoreError(.conflict, "A unique constraint was violated.")
        default:
            return StoreError(.unavailable, "SQLite failed: \(error.reason).")
        }
    }
}

/// A deadlock or serialization failure: the whole transaction may be retried.
struct RetryableConflict: Error {}
