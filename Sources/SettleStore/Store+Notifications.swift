import Crypto
import Foundation
import SettleCore

/// A provider notification to store raw.
public struct StoredNotification: Sendable {
    public var id: String
    public var provider: String
    public var providerEventID: String
    public var eventType: String
    /// Headers as received, minus credentials (`authorization`, cookies).
    public var headers: [String: String]
    public var body: [UInt8]
    public var receivedAt: Date

    public init(
        id: String = Identifier.make("ntf"), provider: String, providerEventID: String, eventType: String,
        headers: [String: String], body: [UInt8], receivedAt: Date
    ) {
        self.id = id
        self.provider = provider
        self.providerEventID = providerEventID
        self.eventType = eventType
        self.headers = headers.filter { !["authorization", "cookie", "proxy-authorization"].contains($0.key.lowercased()) }
        self.body = body
        self.receivedAt = receivedAt
    }
}

extension StoreTransaction {
    /// Stores a notification under its unique (provider, provider event id), with what it led to. Returns false
    /// (and stores nothing) for a duplicate.
    public func insertNotification(
        _ notification: StoredNotification, paymentID: String? = nil, outcome: String = "received", detail: String? = nil
    ) async throws -> Bool {
        let headers = JSONValue.stringMap(notification.headers).serialized()
        let rows = try await query(
            """
            INSERT INTO notifications (id, provider, provider_event_id, event_type, payment_id, headers, body,
                received_at, outcome, detail)
            VALUES (\(notification.id), \(notification.provider), \(notification.providerEventID), \(notification.eventType),
                \(paymentID), \(headers), \(notification.body), \(UnixTime.milliseconds(notification.receivedAt)), \(outcome),
                \(detail))
            ON CONFLICT (provider, provider_event_id) DO NOTHING
            RETURNING id
            """
        )
        return !rows.isEmpty
    }

    /// Records a refused notification (bad signature…): its size and hash, never its content.
    public func recordRejectedNotification(provider: String, reason: String, body: [UInt8], at: Date) async throws {
        let digest = Hex.encode(SHA256.hash(data: body))
        try await query(
            """
            INSERT INTO rejected_notifications (provider, reason, body_sha256, body_size, received_at)
            VALUES (\(provider), \(reason), \(digest), \(body.count), \(UnixTime.milliseconds(at)))
            """
        )
    }
}

/// Counts used by operators, tests and the benchmark.
public struct StoreCounts: Sendable, Hashable {
    public var payments: Int64
    public var events: Int64
    public var notifications: Int64
    public var rejectedNotifications: Int64
    public var auditEntries: Int64
}

extension Store {
    public func counts(paymentID: String? = nil) async throws -> StoreCounts {
        try await read { connection in
            func count(_ sql: SQL) async throws -> Int64 {
                try await connection.query(sql).first?.int("n") ?? 0
            }
            if let paymentID {
                return StoreCounts(
                    payments: try await count("SELECT COUNT(*) AS n FROM payments WHERE id = \(paymentID)"),
                    events: try await count("SELECT COUNT(*) AS n FROM events WHERE payment_id = \(paymentID)"),
                    notifications: try await count("SELECT COUNT(*) AS n FROM notifications WHERE payment_id = \(paymentID)"),
                    rejectedNotifications: try await count("SELECT COUNT(*) AS n FROM rejected_notifications"),
                    auditEntries: try await count(
                        "SELECT COUNT(*) AS n FROM audit_log WHERE target_type = 'payment' AND target_id = \(paymentID)"
                    )
                )
            }
            return StoreCounts(
                payments: try await count("SELECT COUNT(*) AS n FROM payments"),
                events: try await count("SELECT COUNT(*) AS n FROM events"),
                notifications: try await count("SELECT COUNT(*) AS n FROM notifications"),
                rejectedNotifications: try await count("SELECT COUNT(*) AS n FROM rejected_notifications"),
                auditEntries: try await count("SELECT COUNT(*) AS n FROM audit_log")
            )
        }
    }

    /// Events of one payment of a given type (tests assert exactly one `payment.succeeded`).
    public func eventCount(paymentID: String, type: String) async throws -> Int64 {
        try await read { connection in
            try await connection.query(
                "SELECT COUNT(*) AS n FROM events WHERE payment_id = \(paymentID) AND type = \(type)"
            ).first?.int("n") ?? 0
        }
    }

    /// Audit entries of one payment with a given action.
    public func auditCount(targetID: String, action: String) async throws -> Int64 {
        try await read { connection in
            try await connection.query(
                "SELECT COUNT(*) AS n FROM audit_log WHERE target_id = \(targetID) AND action = \(action)"
            ).first?.int("n") ?? 0
        }
    }
}
