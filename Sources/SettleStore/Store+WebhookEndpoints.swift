import Foundation
import SettleCore

/// A merchant's webhook endpoint. Its secret signs every delivery; after a rotation the previous secret keeps
/// signing alongside the new one until `previousSecretExpiresAt`.
public struct WebhookEndpoint: Sendable, Hashable {
    public enum Status: String, Sendable, Hashable {
        case enabled
        case disabled
    }

    public var id: String
    public var mode: Mode
    public var url: String
    public var description: String?
    /// Event types delivered here; `["*"]` for all.
    public var enabledEvents: [String]
    public var secret: String
    public var previousSecret: String?
    public var previousSecretExpiresAt: Date?
    public var status: Status
    public var disabledReason: String?
    /// When the current run of failed deliveries began (nil while deliveries succeed).
    public var failingSince: Date?
    public var createdAt: Date
    public var updatedAt: Date

    public init(
        id: String = Identifier.make("we"), mode: Mode, url: String, description: String?, enabledEvents: [String],
        secret: String = StandardWebhookSecret.generate().serialized, at: Date
    ) {
        self.id = id
        self.mode = mode
        self.url = url
        self.description = description
        self.enabledEvents = enabledEvents
        self.secret = secret
        self.status = .enabled
        self.createdAt = at
        self.updatedAt = at
    }

    /// Secrets that sign a delivery at `date`: the current one, and the previous one during its grace period.
    public func signingSecrets(at date: Date) -> [StandardWebhookSecret] {
        var secrets = [secret]
        if let previousSecret, let until = previousSecretExpiresAt, date < until { secrets.append(previousSecret) }
        return secrets.compactMap(StandardWebhookSecret.init)
    }

    public func receives(_ eventType: String) -> Bool {
        enabledEvents.contains("*") || enabledEvents.contains(eventType)
    }

    /// The endpoint as the API shows it; the secret only when just created or rotated.
    public func apiObject(showSecret: Bool) -> JSONValue {
        .object([
            ("id", .string(id)), ("object", .string("webhook_endpoint")), ("url", .string(url)),
            ("description", .string(description)), ("enabled_events", .array(enabledEvents.map(JSONValue.string))),
            ("status", .string(status.rawValue)), ("disabled_reason", .string(disabledReason)),
            ("secret", showSecret ? .string(secret) : .null), ("livemode", .bool(mode.isLive)),
            ("created_at", .int(UnixTime.seconds(createdAt))), ("updated_at", .int(UnixTime.seconds(updatedAt))),
        ])
    }

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
