import Logging
import SettleStore

extension Store {
    /// A write for a use case: domain errors pass through; anything from storage becomes 503, never 2xx. The
    /// failure is logged here, once, by the use case that answers for it.
    func perform<T: Sendable>(
        _ work: @escaping @Sendable (StoreTransaction) async throws -> T, logger: Logger
    ) async throws(SettleError) -> T {
        do {
            return try await write(work)
        } catch let error as SettleError {
            throw error
        } catch {
            logger.error("database write failed", metadata: ["error": "\(error)"])
            throw SettleError.storageUnavailable
        }
    }

    /// A read for a use case: anything from storage becomes 503, logged once here.
    func fetch<T: Sendable>(_ body: () async throws -> T, logger: Logger) async throws(SettleError) -> T {
        do {
            return try await body()
        } catch let error as SettleError {
            throw error
        } catch {
            logger.error("database read failed", metadata: ["error": "\(error)"])
            throw SettleError.storageUnavailable
        }
    }
}
