import Foundation
import SettleCore

extension StoreTransaction {
    /// Queues the event for every enabled endpoint of its mode that receives its type (the outbox, written in the
    /// same transaction as the change).
    public func fanOut(eventID: String, type: String, mode: Mode, at: Date) async throws {
        let now = UnixTime.milliseconds(at)
        let position = dialect == .postgres ? "strpos" : "instr"
        try await query(
            """
            INSERT INTO webhook_messages (id, endpoint_id, event_id, event_type, state, attempts, next_attempt_at,
                created_at, updated_at)
            SELECT 'msg_' || \(eventID) || '_' || id, id, \(eventID), \(type), 'pending', 0, \(now), \(now), \(now)
            FROM webhook_endpoints
            WHERE mode = \(mode.rawValue) AND status = 'enabled' AND deleted_at IS NULL
                AND (enabled_events = '*' OR \(raw: position)(enabled_events, \(",\(type),")) > 0)
            """
        )
    }

    /// (Re)queues one event for one endpoint, now, with a fresh attempt count.
    public func queueMessage(endpointID: String, eventID: String, eventType: String, at: Date) async throws {
        let now = UnixTime.milliseconds(at)
        try await query(
            """
            INSERT INTO webhook_messages (id, endpoint_id, event_id, event_type, state, attempts, next_attempt_at,
                created_at, updated_at)
            VALUES (\("msg_\(eventID)_\(endpointID)"), \(endpointID), \(eventID), \(eventType), 'pending', 0, \(now), \(now), \(now))
            ON CONFLICT (endpoint_id, event_id) DO UPDATE SET state = 'pending', attempts = 0,
                next_attempt_at = excluded.next_attempt_at, locked_until = NULL, lease_token = NULL,
                updated_at = excluded.updated_at
            """
        )
    }

    /// Requeues failed messages of an endpoint created at or after `since` (at most `limit`, oldest first, when
    /// given); returns how many.
    public func recoverFailedMessages(endpointID: String, since: Date, at: Date, limit: Int? = nil) async throws -> Int {
        let now = UnixTime.milliseconds(at)
        let bound: SQL = limit.map { " ORDER BY seq LIMIT \($0)" } ?? ""
        return try await query(
            """
            UPDATE webhook_messages SET state = 'pending', attempts = 0, next_attempt_at = \(now), locked_until = NULL,
                lease_token = NULL, updated_at = \(now)
            WHERE id IN (SELECT id FROM webhook_messages WHERE endpoint_id = \(endpointID) AND state = 'failed'
                AND created_at >= \(UnixTime.milliseconds(since))\(bound))
            RETURNING id
            """
        ).count
    }

    /// Claims up to `limit` due messages of enabled endpoints for `lease` seconds. On PostgreSQL other instances skip
    /// the claimed rows (`FOR UPDATE SKIP LOCKED`); a message whose lease runs out (its dispatcher died) is due again.
    /// The claims share a fresh token (``ClaimedMessage/leaseToken``).
    public func claimDueMessages(at: Date, limit: Int, leaseSeconds: Int64) async throws -> [ClaimedMessage] {
        let now = UnixTime.milliseconds(at)
        let skipLocked = dialect == .postgres ? " FOR UPDATE OF m SKIP LOCKED" : ""
        let token = Identifier.make("lease", length: 20)
        let claimed = try await query(
            """
            UPDATE webhook_messages SET locked_until = \(now + leaseSeconds * 1000), lease_token = \(token), updated_at = \(now)
            WHERE id IN (
                SELECT m.id FROM webhook_messages m JOIN webhook_endpoints e ON e.id = m.endpoint_id
                WHERE m.state = 'pending' AND m.next_attempt_at <= \(now) AND (m.locked_until IS NULL OR m.locked_until <= \(now))
                    AND e.status = 'enabled'
                ORDER BY m.next_attempt_at LIMIT \(limit)\(raw: skipLocked)
            )
            RETURNING id, endpoint_id, event_id, attempts
            """
        )
        guard !claimed.isEmpty else { return [] }
        var endpoints: [String: WebhookEndpoint] = [:]
        var events: [String: StoredEvent] = [:]
        for row in claimed {
            let endpointID = try row.string("endpoint_id")
            let eventID = try row.string("event_id")
            if endpoints[endpointID] == nil {
                endpoints[endpointID] = try await query("SELECT * FROM webhook_endpoints WHERE id = \(endpointID)").first
                    .map(WebhookEndpoint.init(row:))
            }
            if events[eventID] == nil {
                events[eventID] = try await query("SELECT * FROM events WHERE id = \(eventID)").first.map(StoredEvent.init(row:))
            }
        }
        return try claimed.compactMap { row in
            guard let endpoint = endpoints[try row.string("endpoint_id")], let event = events[try row.string("event_id")] else {
                return nil
            }
            return ClaimedMessage(
                messageID: try row.string("id"), attempts: Int(try row.int("attempts")), endpoint: endpoint, event: event,
                leaseToken: token
            )
        }
    }

    /// Extends the claims of messages still being delivered (their attempts not yet recorded), those still held with
    /// `token`.
    public func renewLeases(messageIDs: [String], token: String, at: Date, leaseSeconds: Int64) async throws {
        guard !messageIDs.isEmpty else { return }
        let until = UnixTime.milliseconds(at) + leaseSeconds * 1000
        for chunk in stride(from: 0, to: messageIDs.count, by: 300).map({ messageIDs[$0..<min($0 + 300, messageIDs.count)] }) {
            var ids: SQL = ""
            for (index, id) in chunk.enumerated() { ids = ids + (index == 0 ? "" : ",") + "\(id)" }
            try await query(
                """
                UPDATE webhook_messages SET locked_until = \(until)
                WHERE id IN (\(ids)) AND state = 'pending' AND locked_until IS NOT NULL AND lease_token = \(token)
                """
            )
        }
    }

    /// Frees every claim (a single-instance database at startup: whoever held them is gone). Returns how many.
    @discardableResult
    public func releaseAllLeases(at: Date) async throws -> Int {
        try await query(
            """
            UPDATE webhook_messages SET locked_until = NULL
            WHERE state = 'pending' AND locked_until IS NOT NULL AND locked_until > \(UnixTime.milliseconds(at)) RETURNING id
            """
        ).count
    }

    /// Records the attempts of one dispatcher pass and applies each decision: attempts in one multi-row insert,
    /// delivered messages in one update; retries, dead letters and disabling per message. `disableAfterSeconds` is
    /// how long an endpoint may fail continuously before it is disabled.
    public func recordDeliveries(
        _ outcomes: [(message: ClaimedMessage, attempt: DeliveryAttempt, decision: DeliveryDecision)], at: Date,
        disableAfterSeconds: Int64
    ) async throws {
        guard !outcomes.isEmpty else { return }
        let now = UnixTime.milliseconds(at)
        for chunk in stride(from: 0, to: outcomes.count, by: 300).map({ outcomes[$0..<min($0 + 300, outcomes.count)] }) {
            var sql: SQL = """
                INSERT INTO webhook_attempts (message_id, endpoint_id, event_id, attempted_at, status_code, duration_ms,
                    response_body, error) VALUES
                """
            for (index, outcome) in chunk.enumerated() {
                let attempt = outcome.attempt
                sql = sql + (index == 0 ? "" : ",") + """
                    (\(outcome.message.messageID), \(outcome.message.endpoint.id), \(outcome.message.event.id),
                    \(UnixTime.milliseconds(attempt.at)), \(attempt.statusCode.map(Int64.init)), \(attempt.durationMilliseconds),
                    \(attempt.responseBody), \(attempt.error))
                    """
            }
            try await query(sql)
        }
        // Outcomes apply only to messages still claimed with their token; the attempts above are history either way.
        let delivered = outcomes.filter { $0.decision == .delivered }
        var recordedEndpoints = Set<String>()
        for (token, held) in Dictionary(grouping: delivered, by: \.message.leaseToken) {
            for chunk in stride(from: 0, to: held.count, by: 300).map({ held[$0..<min($0 + 300, held.count)] }) {
                var ids: SQL = ""
                for (index, outcome) in chunk.enumerated() { ids = ids + (index == 0 ? "" : ",") + "\(outcome.message.messageID)" }
                let updated = try await query(
                    """
                    UPDATE webhook_messages SET state = 'delivered', attempts = attempts + 1, locked_until = NULL,
                        last_status = 200, last_error = NULL, delivered_at = \(now), updated_at = \(now)
                    WHERE id IN (\(ids)) AND lease_token = \(token)
                    RETURNING endpoint_id
                    """
                )
                for row in updated { recordedEndpoints.insert(try row.string("endpoint_id")) }
            }
        }
        for endpointID in recordedEndpoints {
            try await query("UPDATE webhook_endpoints SET failing_since = NULL WHERE id = \(endpointID) AND failing_since IS NOT NULL")
        }
        for outcome in outcomes where outcome.decision != .delivered {
            try await applyFailure(outcome.message, attempt: outcome.attempt, decision: outcome.decision, now: now,
                disableAfterSeconds: disableAfterSeconds)
        }
    }

    private func applyFailure(
        _ message: ClaimedMessage, attempt: DeliveryAttempt, decision: DeliveryDecision, now: Int64, disableAfterSeconds: Int64
    ) async throws {
        let lastStatus = attempt.statusCode.map(Int64.init)
        switch decision {
        case .delivered:
            return
        case .retry, .failed:
            let state = decision == .failed ? "failed" : "pending"
            let nextAt: Int64 = if case .retry(let next) = decision { UnixTime.milliseconds(next) } else { now }
            let held = try await query(
                """
                UPDATE webhook_messages SET state = \(state), attempts = attempts + 1, next_attempt_at = \(nextAt),
                    locked_until = NULL, last_status = \(lastStatus), last_error = \(attempt.error), updated_at = \(now)
                WHERE id = \(message.messageID) AND lease_token = \(message.leaseToken)
                RETURNING id
                """
            )
            guard !held.isEmpty else { return }  // another claim owns the message now
            try await query(
                "UPDATE webhook_endpoints SET failing_since = \(now) WHERE id = \(message.endpoint.id) AND failing_since IS NULL"
            )
            try await query(
                """
                UPDATE webhook_endpoints SET status = 'disabled', disabled_reason = 'failing continuously', updated_at = \(now)
                WHERE id = \(message.endpoint.id) AND status = 'enabled' AND failing_since <= \(now - disableAfterSeconds * 1000)
                """
            )
        case .disableEndpoint(let reason):
            let held = try await query(
                """
                UPDATE webhook_messages SET state = 'failed', attempts = attempts + 1, locked_until = NULL,
                    last_status = \(lastStatus), last_error = \(reason), updated_at = \(now)
                WHERE id = \(message.messageID) AND lease_token = \(message.leaseToken)
                RETURNING id
                """
            )
            guard !held.isEmpty else { return }
            try await query(
                """
                UPDATE webhook_endpoints SET status = 'disabled', disabled_reason = \(reason), updated_at = \(now)
                WHERE id = \(message.endpoint.id)
                """
            )
        }
    }
}

extension Store {
    public func event(id: String, mode: Mode) async throws -> StoredEvent? {
        try await read { connection in
            try await connection.query("SELECT * FROM events WHERE id = \(id) AND mode = \(mode.rawValue)").first.map(StoredEvent.init(row:))
        }
    }

    /// Newest first, filtered by type and by the object (payment) id.
    public func events(mode: Mode, type: String?, objectID: String?, limit: Int, startingAfter: String?) async throws
        -> (events: [StoredEvent], hasMore: Bool)
    {
        try await read { connection in
            var sql: SQL = "SELECT * FROM events WHERE mode = \(mode.rawValue)"
            if let type { sql = sql + " AND type = \(type)" }
            if let objectID { sql = sql + " AND payment_id = \(objectID)" }
            if let startingAfter { sql = sql + " AND seq < (SELECT seq FROM events WHERE id = \(startingAfter))" }
            sql = sql + " ORDER BY seq DESC LIMIT \(limit + 1)"
            let rows = try await connection.query(sql)
            return (try rows.prefix(limit).map(StoredEvent.init(row:)), rows.count > limit)
        }
    }

    /// Whether any message is due at `at` (a read: idle dispatchers do not take the writer just to find nothing).
    public func hasDueMessages(at: Date) async throws -> Bool {
        try await read { connection in
            !(try await connection.query(
                """
                SELECT 1 AS one FROM webhook_messages WHERE state = 'pending' AND next_attempt_at <= \(UnixTime.milliseconds(at))
                AND (locked_until IS NULL OR locked_until <= \(UnixTime.milliseconds(at))) LIMIT 1
                """
            )).isEmpty
        }
    }

    public func failedMessageCount(endpointID: String, since: Date) async throws -> Int {
        try await read { connection in
            Int(try await connection.query(
                "SELECT COUNT(*) AS n FROM webhook_messages WHERE endpoint_id = \(endpointID) AND state = 'failed' AND created_at >= \(UnixTime.milliseconds(since))"
            ).first?.int("n") ?? 0)
        }
    }

    /// Attempts of an endpoint, newest first.
    public func webhookAttempts(endpointID: String, limit: Int) async throws -> [StoredAttempt] {
        try await read { connection in
            try await connection.query(
                "SELECT * FROM webhook_attempts WHERE endpoint_id = \(endpointID) ORDER BY seq DESC LIMIT \(limit)"
            ).map { row in
                StoredAttempt(
                    messageID: try row.string("message_id"), eventID: try row.string("event_id"),
                    attemptedAt: UnixTime.date(milliseconds: try row.int("attempted_at")),
                    statusCode: try row.optionalInt("status_code").map(Int.init), durationMilliseconds: try row.int("duration_ms"),
                    responseBody: try row.optionalString("response_body"), error: try row.optionalString("error")
                )
            }
        }
    }

    /// Messages of an endpoint (all states), oldest first.
    public func webhookMessages(endpointID: String? = nil) async throws -> [StoredMessage] {
        try await read { connection in
            var sql: SQL = "SELECT * FROM webhook_messages"
            if let endpointID { sql = sql + " WHERE endpoint_id = \(endpointID)" }
            return try await connection.query(sql + " ORDER BY seq").map { row in
                StoredMessage(
                    id: try row.string("id"), endpointID: try row.string("endpoint_id"), eventID: try row.string("event_id"),
                    state: try row.string("state"), attempts: Int(try row.int("attempts")),
                    nextAttemptAt: UnixTime.date(milliseconds: try row.int("next_attempt_at"))
                )
            }
        }
    }
}

extension StoredEvent {
    init(row: SQLRow) throws {
        guard let mode = Mode(rawValue: try row.string("mode")) else { throw StoreError(.decoding, "Unknown event mode.") }
        self.init(
            id: try row.string("id"), mode: mode, type: try row.string("type"), paymentID: try row.optionalString("payment_id"),
            data: try row.string("data"), createdAt: UnixTime.date(milliseconds: try row.int("created_at"))
        )
    }
}
