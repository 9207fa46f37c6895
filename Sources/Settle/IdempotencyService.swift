import Crypto
import Foundation
import Logging
import SettleCore
import SettleStore

/// `Idempotency-Key` on every POST, with Stripe's semantics: scoped to the API key, kept 24 hours; the same key and
/// request replays the first response; another request with the key is refused (`422`), as is a second one while the
/// first still runs (`409`). Requests refused by validation free their key.
public struct IdempotencyService: Sendable {
    /// What a request's work produced.
    public struct Response: Sendable {
        public var status: Int
        public var body: [UInt8]
        /// The work stored the response itself, in the same transaction as its change (creating a payment).
        public var storedWithChange: Bool

        public init(status: Int, body: [UInt8], storedWithChange: Bool = false) {
            self.status = status
            self.body = body
            self.storedWithChange = storedWithChange
        }
    }

    /// Thrown by work whose error response was already stored with its change (a provider refused the payment, and
    /// the failed payment and this error were written together): a retry replays it.
    public struct Completed: Error {
        public let error: SettleError

        public init(error: SettleError) {
            self.error = error
        }
    }

    /// The answer to send.
    public struct Outcome: Sendable {
        public var status: Int
        public var body: [UInt8]
        /// A stored response sent again (`Idempotent-Replayed: true`).
        public var replayed: Bool
    }

    let store: Store
    let now: @Sendable () -> Date
    let logger: Logger

    public init(store: Store, now: @escaping @Sendable () -> Date = { Date() }, logger: Logger) {
        self.store = store
        self.now = now
        self.logger = logger
    }

    /// Runs `work` once per key (or every time, without a key).
    public func run(
        key: String?, caller: Caller, method: String, path: String, body: [UInt8],
        _ work: (IdempotencyScope?) async throws -> Response
    ) async throws -> Outcome {
        guard let key else {
            do {
                let response = try await work(nil)
                return Outcome(status: response.status, body: response.body, replayed: false)
            } catch let completed as Completed {
                throw completed.error
            }
        }
        guard (1...255).contains(key.utf8.count), key.utf8.allSatisfy({ (0x20...0x7E).contains($0) }) else {
            throw SettleError.invalid("Idempotency-Key", "Idempotency-Key must be 1 to 255 printable ASCII characters.")
        }
        var hasher = SHA256()
        hasher.update(data: Array("\(method) \(path)\n".utf8))
        hasher.update(data: body)
        let scope = IdempotencyScope(apiKeyID: caller.apiKeyID, key: key, requestHash: Hex.encode(hasher.finalize()))
        let at = now()
        let logger = self.logger.forRequest(caller.requestID)
        let claim = try await store.perform({ tx in try await tx.claimIdempotencyKey(scope, at: at) }, logger: logger)
        switch claim {
        case .replay(let status, let stored):
            return Outcome(status: status, body: stored, replayed: true)
        case .mismatch:
            throw SettleError(.idempotencyKeyReused, "This Idempotency-Key was used with a different request.", param: "Idempotency-Key")
        case .inProgress:
            throw SettleError(
                .idempotencyKeyInUse, "A request with this Idempotency-Key is still running; retry shortly.", param: "Idempotency-Key"
            )
        case .proceed:
            do {
                let response = try await work(scope)
                if !response.storedWithChange {
                    do {
                        try await store.write { tx in try await tx.completeIdempotencyKey(scope, status: response.status, body: response.body) }
                    } catch {
                        // The change is done; the key stays claimed until it goes stale, and a retry then runs again
                        // only if its request is the same.
                        logger.warning("could not store an idempotent response", metadata: ["error": "\(error)"])
                    }
                }
                return Outcome(status: response.status, body: response.body, replayed: false)
            } catch let completed as Completed {
                throw completed.error
            } catch {
                // Refused, or failed before doing anything that must be replayed: free the key, as Stripe does.
                _ = try? await store.write { tx in try await tx.releaseIdempotencyKey(scope) }
                throw error
            }
        }
    }
}
