import Foundation
import SettleCore

extension StoreTransaction {
    /// Keys live 24 hours; a request that has held its key for `staleAfter` without finishing is taken to have died.
    public func claimIdempotencyKey(
        _ scope: IdempotencyScope, at now: Date, lifetimeSeconds: Int64 = 86_400, staleAfterSeconds: Int64 = 120
    ) async throws -> IdempotencyClaim {
        let nowMS = UnixTime.milliseconds(now)
        let inserted = try await query(
            """
            INSERT INTO idempotency_keys (api_key_id, idempotency_key, request_hash, state, created_at, locked_at)
            VALUES (\(scope.apiKeyID), \(scope.key), \(scope.requestHash), 'running', \(nowMS), \(nowMS))
            ON CONFLICT (api_key_id, idempotency_key) DO NOTHING RETURNING api_key_id
            """
        )
        if !inserted.isEmpty { return .proceed }
        guard
            let row = try await query(
                "SELECT * FROM idempotency_keys WHERE api_key_id = \(scope.apiKeyID) AND idempotency_key = \(scope.key)\(raw: forUpdate)"
            ).first
        else { return .proceed }
        let createdAt = try row.int("created_at")
        let state = try row.string("state")
        let lockedAt = try row.int("locked_at")
        let expired = createdAt < nowMS - lifetimeSeconds * 1000
        let sameRequest = (try row.string("request_hash")) == scope.requestHash
        // A request that died holding its key may be taken over, but only by the same request: another body with
        // the key is still a reuse.
        let stale = state == "running" && lockedAt < nowMS - staleAfterSeconds * 1000 && sameRequest
        if expired || stale {
            try await query(
                """
                UPDATE idempotency_keys SET request_hash = \(scope.requestHash), state = 'running', response_status = NULL,
                    response_body = NULL, created_at = \(expired ? nowMS : createdAt), locked_at = \(nowMS)
                WHERE api_key_id = \(scope.apiKeyID) AND idempotency_key = \(scope.key)
                """
            )
            return .proceed
        }
        if !sameRequest { return .mismatch }
        if state == "running" { return .inProgress }
        return .replay(status: Int(try row.int("response_status")), body: try row.bytes("response_body"))
    }

    /// Stores the response so that a retry replays it.
    public func completeIdempotencyKey(_ scope: IdempotencyScope, status: Int, body: [UInt8]) async throws {
        try await query(
            """
            UPDATE idempotency_keys SET state = 'done', response_status = \(status), response_body = \(body)
            WHERE api_key_id = \(scope.apiKeyID) AND idempotency_key = \(scope.key)
            """
        )
    }

    /// Frees the key when the request did nothing (validation failed, storage was down), so a retry may run.
    public func releaseIdempotencyKey(_ scope: IdempotencyScope) async throws {
        try await query(
            "DELETE FROM idempotency_keys WHERE api_key_id = \(scope.apiKeyID) AND idempotency_key = \(scope.key) AND state = 'running'"
        )
    }
}
