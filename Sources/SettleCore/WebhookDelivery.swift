import Foundation

/// A merchant-facing event as stored.
public struct StoredEvent: Sendable, Hashable {
    public var id: String
    public var mode: Mode
    public var type: String
    public var paymentID: String?
    /// `{"object": …}` exactly as written with the change.
    public var data: String
    public var createdAt: Date

    /// `{"id","object":"event","type","created_at","livemode","data":{…}}`: the API's and the webhooks' body.
    public var json: String {
        let head = JSONValue.object([
            ("id", .string(id)), ("object", .string("event")), ("type", .string(type)),
            ("created_at", .int(UnixTime.seconds(createdAt))), ("livemode", .bool(mode.isLive)),
        ]).serialized()
        return String(head.dropLast()) + ",\"data\":" + data + "}"
    }

    public init(id: String, mode: Mode, type: String, paymentID: String? = nil, data: String, createdAt: Date) {
        self.id = id
        self.mode = mode
        self.type = type
        self.paymentID = paymentID
        self.data = data
        self.createdAt = createdAt
    }
}

/// One message claimed for delivery, with what is needed to send it.
public struct ClaimedMessage: Sendable, Hashable {
    public var messageID: String
    public var attempts: Int
    public var endpoint: WebhookEndpoint
    public var event: StoredEvent
    /// The claim's own token: renewing the claim and recording its outcome apply only while the message is still
    /// claimed with it (a dispatcher that stalled past its lease cannot overwrite the next claimant's outcome).
    public var leaseToken: String

    public init(messageID: String, attempts: Int, endpoint: WebhookEndpoint, event: StoredEvent, leaseToken: String) {
        self.messageID = messageID
        self.leaseToken = leaseToken
        self.attempts = attempts
        self.endpoint = endpoint
        self.event = event
    }
}

/// What one delivery attempt found.
public struct DeliveryAttempt: Sendable, Hashable {
    public var statusCode: Int?
    public var durationMilliseconds: Int64
    /// The first 1 KiB of the response body.
    public var responseBody: String?
    public var error: String?
    public var at: Date

    public init(statusCode: Int?, durationMilliseconds: Int64, responseBody: String?, error: String?, at: Date) {
        self.statusCode = statusCode
        self.durationMilliseconds = durationMilliseconds
        self.responseBody = responseBody
        self.error = error
        self.at = at
    }
}

/// What to do with a message after an attempt.
public enum DeliveryDecision: Sendable, Hashable {
    case delivered
    /// Try again at this time.
    case retry(at: Date)
    /// Dead letter: no more automatic attempts.
    case failed
    /// The endpoint said 410 Gone: disable it and stop.
    case disableEndpoint(reason: String)
}

/// An attempt as listed by the API.
public struct StoredAttempt: Sendable, Hashable {
    public var messageID: String
    public var eventID: String
    public var attemptedAt: Date
    public var statusCode: Int?
    public var durationMilliseconds: Int64
    public var responseBody: String?
    public var error: String?

    public init(messageID: String, eventID: String, attemptedAt: Date, statusCode: Int? = nil, durationMilliseconds: Int64, responseBody: String? = nil, error: String? = nil) {
        self.messageID = messageID
        self.eventID = eventID
        self.attemptedAt = attemptedAt
        self.statusCode = statusCode
        self.durationMilliseconds = durationMilliseconds
        self.responseBody = responseBody
        self.error = error
    }
}

/// A message's delivery state.
public struct StoredMessage: Sendable, Hashable {
    public var id: String
    public var endpointID: String
    public var eventID: String
    public var state: String
    public var attempts: Int
    public var nextAttemptAt: Date

    public init(id: String, endpointID: String, eventID: String, state: String, attempts: Int, nextAttemptAt: Date) {
        self.id = id
        self.endpointID = endpointID
        self.eventID = eventID
        self.state = state
        self.attempts = attempts
        self.nextAttemptAt = nextAttemptAt
    }
}
