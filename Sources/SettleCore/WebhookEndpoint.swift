import Foundation

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

}

// MARK: - CustomDebugStringConvertible, CustomReflectable

extension WebhookEndpoint: CustomDebugStringConvertible, CustomReflectable {
    /// The endpoint without its signing secrets (interpolation and `dump` use the mirror, which leaves them out too).
    public var debugDescription: String { "WebhookEndpoint(\(id), \(mode.rawValue), \(url), \(status.rawValue))" }

    public var customMirror: Mirror {
        Mirror(self, children: ["id": id, "mode": mode, "url": url, "status": status, "enabledEvents": enabledEvents], displayStyle: .struct)
    }
}
