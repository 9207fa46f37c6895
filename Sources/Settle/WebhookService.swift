import Foundation
import Logging
import SettleCore
import SettleStore

/// Merchant webhook endpoints and the events they receive.
public struct WebhookService: Sendable {
    /// Event types a merchant can subscribe to.
    public static let eventTypes: [String] = EventType.allCases.map(\.rawValue)

    let store: Store
    let policy: EndpointAddressPolicy
    let now: @Sendable () -> Date
    let logger: Logger

    public init(store: Store, policy: EndpointAddressPolicy = .init(), now: @escaping @Sendable () -> Date = { Date() }, logger: Logger) {
        self.store = store
        self.policy = policy
        self.now = now
        self.logger = logger
    }

    func validateEvents(_ events: [String]) throws(SettleError) -> [String] {
        guard !events.isEmpty else { throw .invalid("enabled_events", "enabled_events must list event types, or be [\"*\"].") }
        for type in events where type != "*" && !Self.eventTypes.contains(type) {
            throw .invalid("enabled_events", "Unknown event type \(Text.echo(type, limit: 64)); known: \(Self.eventTypes.joined(separator: ", ")).")
        }
        return events.contains("*") ? ["*"] : Array(Set(events)).sorted()
    }

    func audit(_ caller: Caller, _ action: AuditAction, _ endpoint: WebhookEndpoint, before: JSONValue = .null, at: Date) -> AuditRecord {
        AuditRecord(
            actorKind: caller.actorKind, actorID: caller.apiKeyID, action: action, targetType: .webhookEndpoint, targetID: endpoint.id,
            before: before, after: endpoint.apiObject(showSecret: false), requestID: caller.requestID, at: at
        )
    }

    public func create(url: String, enabledEvents: [String], description: String?, caller: Caller) async throws(SettleError)
        -> WebhookEndpoint
    {
        do {
            _ = try policy.validate(url: url, mode: caller.mode)
        } catch {
            throw .invalid("url", error.message)
        }
        let events = try validateEvents(enabledEvents)
        if let description { try PaymentService.text(description, param: "description", max: 500) }
        let at = now()
        let endpoint = WebhookEndpoint(mode: caller.mode, url: url, description: description, enabledEvents: events, at: at)
        try await write(caller) { tx in
            try await tx.insertWebhookEndpoint(endpoint)
            try await tx.appendAudit(audit(caller, .webhookEndpointCreated, endpoint, at: at))
        }
        return endpoint
    }

    public func endpoint(id: String, mode: Mode) async throws(SettleError) -> WebhookEndpoint {
        let found = try await read { try await store.webhookEndpoint(id: id, mode: mode) }
        guard let found else { throw .notFound(.webhookEndpoint, id: id) }
        return found
    }

    public func list(mode: Mode) async throws(SettleError) -> [WebhookEndpoint] {
        try await read { try await store.webhookEndpoints(mode: mode) }
    }

    /// Changes what is given. `enabled: true` re-enables an endpoint that was disabled (by 410 or by failing).
    public func update(
        id: String, url: String?, enabledEvents: [String]?, description: String?, enabled: Bool?, caller: Caller
    ) async throws(SettleError) -> WebhookEndpoint {
        if let url {
            do { _ = try policy.validate(url: url, mode: caller.mode) } catch { throw .invalid("url", error.message) }
        }
        let events = try enabledEvents.map { events throws(SettleError) in try validateEvents(events) }
        if let description { try PaymentService.text(description, param: "description", max: 500) }
        let at = now()
        return try await mutate(id: id, caller: caller, action: .webhookEndpointUpdated, at: at) { endpoint in
            if let url { endpoint.url = url }
            if let events { endpoint.enabledEvents = events }
            if let description { endpoint.description = description }
            if let enabled {
                endpoint.status = enabled ? .enabled : .disabled
                endpoint.disabledReason = enabled ? nil : "disabled by the merchant"
                if enabled { endpoint.failingSince = nil }
            }
        }
    }

    /// A new secret; the old one keeps signing alongside it for 24 hours.
    public func rotateSecret(id: String, caller: Caller) async throws(SettleError) -> WebhookEndpoint {
        let at = now()
        let fresh = StandardWebhookSecret.generate().serialized
        return try await mutate(id: id, caller: caller, action: .webhookEndpointSecretRotated, at: at) { endpoint in
            endpoint.previousSecret = endpoint.secret
            endpoint.previousSecretExpiresAt = at.addingTimeInterval(86_400)
            endpoint.secret = fresh
        }
    }

    public func delete(id: String, caller: Caller) async throws(SettleError) {
        let at = now()
        try await write(caller) { tx in
            guard let endpoint = try await tx.lockWebhookEndpoint(id: id, mode: caller.mode) else {
                throw SettleError.notFound(.webhookEndpoint, id: id)
            }
            try await tx.deleteWebhookEndpoint(id: id, at: at)
            try await tx.appendAudit(audit(caller, .webhookEndpointDeleted, endpoint, at: at))
        }
    }

    private func mutate(
        id: String, caller: Caller, action: AuditAction, at: Date, _ change: @escaping @Sendable (inout WebhookEndpoint) -> Void
    ) async throws(SettleError) -> WebhookEndpoint {
        try await write(caller) { tx in
            guard var endpoint = try await tx.lockWebhookEndpoint(id: id, mode: caller.mode) else {
                throw SettleError.notFound(.webhookEndpoint, id: id)
            }
            let before = endpoint.apiObject(showSecret: false)
            change(&endpoint)
            endpoint.updatedAt = at
            try await tx.updateWebhookEndpoint(endpoint)
            try await tx.appendAudit(audit(caller, action, endpoint, before: before, at: at))
            return endpoint
        }
    }

    /// Queues an event again: for one endpoint, or for every enabled endpoint that receives its type.
    public func resend(eventID: String, endpointID: String?, caller: Caller) async throws(SettleError) -> Int {
        let event = try await read { try await store.event(id: eventID, mode: caller.mode) }
        guard let event else { throw .notFound(.event, id: eventID) }
        let targets: [WebhookEndpoint]
        if let endpointID {
            targets = [try await endpoint(id: endpointID, mode: caller.mode)]
        } else {
            targets = try await list(mode: caller.mode).filter { $0.status == .enabled && $0.receives(event.type) }
        }
        let at = now()
        try await write(caller) { tx in
            for target in targets {
                try await tx.queueMessage(endpointID: target.id, eventID: event.id, eventType: event.type, at: at)
            }
            try await tx.appendAudit(
                AuditRecord(
                    actorKind: caller.actorKind, actorID: caller.apiKeyID, action: .eventResent, targetType: .event, targetID: event.id,
                    after: .object([("endpoints", .array(targets.map { .string($0.id) }))]), requestID: caller.requestID, at: at
                )
            )
        }
        return targets.count
    }

    /// `since` as given by a caller: Unix seconds from 0 to the year 9999, else a typed refusal.
    static func sinceDate(_ seconds: Int64) throws(SettleError) -> Date {
        guard (0...UnixTime.maximumSeconds).contains(seconds) else {
            throw .invalid("since", "since must be Unix seconds between 0 and \(UnixTime.maximumSeconds).")
        }
        return Date(timeIntervalSince1970: TimeInterval(seconds))
    }

    /// Requeues every failed message of an endpoint since `since` (Unix seconds); returns how many.
    public func recover(endpointID: String, since seconds: Int64, caller: Caller, chunk: Int? = nil) async throws(SettleError) -> Int {
        let since = try Self.sinceDate(seconds)
        let endpoint = try await endpoint(id: endpointID, mode: caller.mode)
        let at = now()
        return try await write(caller) { tx in
            let count = try await tx.recoverFailedMessages(endpointID: endpoint.id, since: since, at: at, limit: chunk)
            try await tx.appendAudit(
                AuditRecord(
                    actorKind: caller.actorKind, actorID: caller.apiKeyID, action: .webhookEndpointRecovered,
                    targetType: .webhookEndpoint, targetID: endpoint.id,
                    after: .object([("since", .int(UnixTime.seconds(since))), ("requeued", .int(Int64(count)))]),
                    requestID: caller.requestID, at: at
                )
            )
            return count
        }
    }

    /// How many failed messages of an endpoint a recovery since `since` would requeue.
    public func failedCount(endpointID: String, since seconds: Int64, mode: Mode) async throws(SettleError) -> Int {
        let since = try Self.sinceDate(seconds)
        let endpoint = try await endpoint(id: endpointID, mode: mode)
        return try await read { try await store.failedMessageCount(endpointID: endpoint.id, since: since) }
    }

    public func attempts(endpointID: String, limit: Int, caller: Caller) async throws(SettleError) -> [StoredAttempt] {
        let endpoint = try await endpoint(id: endpointID, mode: caller.mode)
        return try await read { try await store.webhookAttempts(endpointID: endpoint.id, limit: limit) }
    }

    public func event(id: String, mode: Mode) async throws(SettleError) -> StoredEvent {
        let found = try await read { try await store.event(id: id, mode: mode) }
        guard let found else { throw .notFound(.event, id: id) }
        return found
    }

    public func events(mode: Mode, type: String?, objectID: String?, limit: Int, startingAfter: String?) async throws(SettleError)
        -> (events: [StoredEvent], hasMore: Bool)
    {
        if let startingAfter {
            guard try await read({ try await store.event(id: startingAfter, mode: mode) }) != nil else {
                throw .invalid("starting_after", "No event with id \(Text.echo(startingAfter, limit: 64)) to continue after.")
            }
        }
        return try await read { try await store.events(mode: mode, type: type, objectID: objectID, limit: limit, startingAfter: startingAfter) }
    }

    func write<T: Sendable>(_ caller: Caller, _ work: @escaping @Sendable (StoreTransaction) async throws -> T) async throws(SettleError)
        -> T
    {
        try await store.perform(work, logger: logger(for: caller))
    }

    /// The logger for one caller's request.
    func logger(for caller: Caller) -> Logger { logger.forRequest(caller.requestID) }

    func read<T: Sendable>(_ body: () async throws -> T) async throws(SettleError) -> T {
        try await store.fetch(body, logger: logger)
    }
}
