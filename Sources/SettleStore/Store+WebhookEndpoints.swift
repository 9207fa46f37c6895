import Foundation
import SettleCore

extension WebhookEndpoint {
    /// `*` or `,a,b,` so one event type can be matched with a substring search in SQL.
    static func encode(events: [String]) -> String {
        events.contains("*") ? "*" : "," + events.joined(separator: ",") + ","
    }

    static func decode(events: String) -> [String] {
        events == "*" ? ["*"] : events.split(separator: ",").map(String.init)
    }
}

extension StoreTransaction {
    public func insertWebhookEndpoint(_ endpoint: WebhookEndpoint) async throws {
        try await query(
            """
            INSERT INTO webhook_endpoints (id, mode, url, description, enabled_events, secret, previous_secret,
                previous_secret_expires_at, status, disabled_reason, failing_since, created_at, updated_at)
            VALUES (\(endpoint.id), \(endpoint.mode.rawValue), \(endpoint.url), \(endpoint.description),
                \(WebhookEndpoint.encode(events: endpoint.enabledEvents)), \(endpoint.secret), \(endpoint.previousSecret),
                \(endpoint.previousSecretExpiresAt.map(UnixTime.milliseconds)), \(endpoint.status.rawValue),
                \(endpoint.disabledReason), \(endpoint.failingSince.map(UnixTime.milliseconds)),
                \(UnixTime.milliseconds(endpoint.createdAt)), \(UnixTime.milliseconds(endpoint.updatedAt)))
            """
        )
    }

    /// Reads a (not deleted) endpoint of this mode and locks it.
    public func lockWebhookEndpoint(id: String, mode: Mode) async throws -> WebhookEndpoint? {
        try await query(
            "SELECT * FROM webhook_endpoints WHERE id = \(id) AND mode = \(mode.rawValue) AND deleted_at IS NULL\(raw: forUpdate)"
        ).first.map(WebhookEndpoint.init(row:))
    }

    public func updateWebhookEndpoint(_ endpoint: WebhookEndpoint) async throws {
        try await query(
            """
            UPDATE webhook_endpoints SET url = \(endpoint.url), description = \(endpoint.description),
                enabled_events = \(WebhookEndpoint.encode(events: endpoint.enabledEvents)), secret = \(endpoint.secret),
                previous_secret = \(endpoint.previousSecret),
                previous_secret_expires_at = \(endpoint.previousSecretExpiresAt.map(UnixTime.milliseconds)),
                status = \(endpoint.status.rawValue), disabled_reason = \(endpoint.disabledReason),
                failing_since = \(endpoint.failingSince.map(UnixTime.milliseconds)),
                updated_at = \(UnixTime.milliseconds(endpoint.updatedAt))
            WHERE id = \(endpoint.id)
            """
        )
    }

    /// Deletes an endpoint: it stops receiving; its history stays for the audit trail.
    public func deleteWebhookEndpoint(id: String, at: Date) async throws {
        let now = UnixTime.milliseconds(at)
        try await query(
            "UPDATE webhook_endpoints SET deleted_at = \(now), status = 'disabled', disabled_reason = 'deleted', updated_at = \(now) WHERE id = \(id)"
        )
        try await query(
            "UPDATE webhook_messages SET state = 'failed', last_error = 'endpoint deleted', updated_at = \(now) WHERE endpoint_id = \(id) AND state = 'pending'"
        )
    }
}

extension Store {
    public func webhookEndpoints(mode: Mode) async throws -> [WebhookEndpoint] {
        try await read { connection in
            try await connection.query(
                "SELECT * FROM webhook_endpoints WHERE mode = \(mode.rawValue) AND deleted_at IS NULL ORDER BY seq DESC"
            ).map(WebhookEndpoint.init(row:))
        }
    }

    public func webhookEndpoint(id: String, mode: Mode) async throws -> WebhookEndpoint? {
        try await read { connection in
            try await connection.query(
                "SELECT * FROM webhook_endpoints WHERE id = \(id) AND mode = \(mode.rawValue) AND deleted_at IS NULL"
            ).first.map(WebhookEndpoint.init(row:))
        }
    }
}

extension WebhookEndpoint {
    init(row: SQLRow) throws {
        guard let mode = Mode(rawValue: try row.string("mode")), let status = Status(rawValue: try row.string("status")) else {
            throw StoreError(.decoding, "Stored webhook endpoint has an unknown mode or status.")
        }
        self.init(
            id: try row.string("id"), mode: mode, url: try row.string("url"), description: try row.optionalString("description"),
            enabledEvents: Self.decode(events: try row.string("enabled_events")), secret: try row.string("secret"),
            at: UnixTime.date(milliseconds: try row.int("created_at"))
        )
        previousSecret = try row.optionalString("previous_secret")
        previousSecretExpiresAt = try row.optionalInt("previous_secret_expires_at").map(UnixTime.date(milliseconds:))
        self.status = status
        disabledReason = try row.optionalString("disabled_reason")
        failingSince = try row.optionalInt("failing_since").map(UnixTime.date(milliseconds:))
        updatedAt = UnixTime.date(milliseconds: try row.int("updated_at"))
    }
}
