import Foundation
import Logging
import SettleCore
import Synchronization

/// Settle's persistence: SQLite (embedded default) or PostgreSQL, behind operations at the level of the use
/// cases. Writes go through a group commit (``write(_:)``); reads see committed data (``read(_:)``).
public final class Store: Sendable {
    let driver: any DatabaseDriver
    let commits: GroupCommit
    private let migrated = Atomic<Bool>(false)
    public let logger: Logger
    public let location: DatabaseLocation
    public let options: StoreOptions

    private init(driver: any DatabaseDriver, location: DatabaseLocation, options: StoreOptions, logger: Logger) {
        self.driver = driver
        self.location = location
        self.options = options
        self.logger = logger
        self.commits = GroupCommit(
            driver: driver, timeout: options.timeout, auditKey: options.auditKey, logger: logger, observe: options.observeCommit
        )
    }

    /// Opens the database. For PostgreSQL the pool works only while ``run()`` runs (a service in `serve`, or
    /// ``withStore(_:durability:logger:_:)`` for one-off commands).
    public static func open(_ location: DatabaseLocation, durability: Durability = .full, logger: Logger) async throws -> Store {
        try await open(location, options: StoreOptions(durability: durability), logger: logger)
    }

    public static func open(_ location: DatabaseLocation, options: StoreOptions, logger: Logger) async throws -> Store {
        let driver: any DatabaseDriver
        switch location {
        case .sqlite(let path):
            do {
                driver = try await SQLiteDriver.open(
                    path: path, synchronous: options.durability == .full ? "FULL" : "NORMAL", busyTimeout: options.timeout, logger: logger
                )
            } catch {
                throw StoreError(.unavailable, "Cannot open the SQLite database at \(path).")
            }
        case .postgres(let server):
            driver = try PostgresDriver(server, options: options, logger: logger)
        }
        return Store(driver: driver, location: location, options: options, logger: logger)
    }

    /// Opens the store, runs it for the duration of `body`, then closes it.
    public static func withStore<T: Sendable>(
        _ location: DatabaseLocation, options: StoreOptions = StoreOptions(), logger: Logger,
        _ body: @Sendable (Store) async throws -> T
    ) async throws -> T {
        let store = try await open(location, options: options, logger: logger)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await store.run() }
            defer { group.cancelAll() }
            do {
                let result = try await body(store)
                await store.close()
                return result
            } catch {
                await store.close()
                throw error
            }
        }
    }

    public var dialect: SQLDialect { driver.dialect }

    /// The connections in use, the callers waiting for one and the writes queued for the group commit, now.
    public var poolUsage: PoolUsage { driver.pool.usage(commitQueue: commits.queued) }

    /// Background work (the PostgreSQL pool) until cancelled.
    public func run() async throws { try await driver.run() }

    public func close() async { await driver.close() }

    /// Applies pending migrations; returns what ran.
    @discardableResult
    public func migrate() async throws -> [String] {
        let ran = try await Migrator.migrate(driver)
        migrated.store(true, ordering: .releasing)
        return ran
    }

    /// Whether ``migrate()`` has succeeded in this process.
    public var isMigrated: Bool { migrated.load(ordering: .acquiring) }

    /// Waits until ``migrate()`` has succeeded in this process. Background workers call it first, so none writes
    /// while the schema is being created (on SQLite they would share the one writer connection with the migration).
    public func waitUntilMigrated() async throws {
        while !migrated.load(ordering: .acquiring) {
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Runs `work` in a write transaction shared with concurrent writers (one commit, one flush for all).
    /// When `work` throws, only its own changes are rolled back.
    public func write<T: Sendable>(_ work: @escaping @Sendable (StoreTransaction) async throws -> T) async throws -> T {
        try await commits.write(work)
    }

    /// Runs `body` against committed data (waiting at most ``StoreOptions/timeout`` for a connection).
    public func read<T: Sendable>(_ body: @Sendable (any SQLConnection) async throws -> T) async throws -> T {
        do {
            return try await driver.withReader(body)
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError(.unavailable, "The database could not be read.")
        }
    }
}
