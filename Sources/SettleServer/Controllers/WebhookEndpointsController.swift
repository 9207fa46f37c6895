import Foundation
import Hummingbird
import Settle
import SettleCore
import SettleStore

/// `/v1/webhook_endpoints`: where Settle sends the merchant's events.
struct WebhookEndpointsController {
    let webhooks: WebhookService
    let store: Store

    func addRoutes(to group: RouterGroup<SettleRequestContext>) {
        group.post("webhook_endpoints", use: create)
        group.get("webhook_endpoints", use: list)
        group.get("webhook_endpoints/:id", use: get)
        group.post("webhook_endpoints/:id", use: update)
        group.delete("webhook_endpoints/:id", use: delete)
        group.post("webhook_endpoints/:id/rotate_secret", use: rotate)
        group.post("webhook_endpoints/:id/recover", use: recover)
        group.get("webhook_endpoints/:id/attempts", use: attempts)
    }

    struct CreateBody: Decodable {
        let url: String
        let enabled_events: [String]
        let description: String?
    }

    struct UpdateBody: Decodable {
        let url: String?
        let enabled_events: [String]?
        let description: String?
        let enabled: Bool?
    }

    struct RecoverBody: Decodable {
        let since: Int64
    }

    private func body(_ request: Request, _ context: SettleRequestContext) async throws -> [UInt8] {
        if request.headers[.contentType] != nil {
            return try await JSONBody.read(request, context: context)
        }
        return Array(buffer: try await request.body.collect(upTo: context.maxUploadSize))
    }

    @Sendable func create(_ request: Request, context: SettleRequestContext) async throws -> Response {
        let caller = try context.requireCaller()
        let bytes = try await JSONBody.read(request, context: context)
        return try await Idempotency.run(request: request, body: bytes, caller: caller, store: store) { _ in
            let input = try StrictJSON.decode(CreateBody.self, from: bytes, allowed: ["url", "enabled_events", "description"])
            let endpoint = try await webhooks.create(url: input.url, enabledEvents: input.enabled_events, description: input.description, caller: caller)
            return (201, endpoint.apiObject(showSecret: true).bytes(), false)
        }
    }

    @Sendable func list(_ request: Request, context: SettleRequestContext) async throws -> Response {
        let caller = try context.requireCaller()
        return APIResponse.list(try await webhooks.list(mode: caller.mode).map { $0.apiObject(showSecret: false) }, hasMore: false)
    }

    @Sendable func get(_ request: Request, context: SettleRequestContext) async throws -> Response {
        let caller = try context.requireCaller()
        let endpoint = try await webhooks.endpoint(id: try context.parameters.require("id"), mode: caller.mode)
        return APIResponse.json(endpoint.apiObject(showSecret: false))
    }

    @Sendable func update(_ request: Request, context: SettleRequestContext) async throws -> Response {
        let caller = try context.requireCaller()
        let bytes = try await body(request, context)
        let id = try context.parameters.require("id")
        return try await Idempotency.run(request: request, body: bytes, caller: caller, store: store) { _ in
            let input = try StrictJSON.decode(UpdateBody.self, from: bytes, allowed: ["url", "enabled_events", "description", "enabled"])
            let endpoint = try await webhooks.update(
                id: id, url: input.url, enabledEvents: input.enabled_events, description: input.description, enabled: input.enabled,
                caller: caller
            )
            return (200, endpoint.apiObject(showSecret: false).bytes(), false)
        }
    }

    @Sendable func delete(_ request: Request, context: SettleRequestContext) async throws -> Response {
        let caller = try context.requireCaller()
        let id = try context.parameters.require("id")
        try await webhooks.delete(id: id, caller: caller)
        return APIResponse.json(.object([("id", .string(id)), ("object", .string("webhook_endpoint")), ("deleted", .bool(true))]))
    }

    @Sendable func rotate(_ request: Request, context: SettleRequestContext) async throws -> Response {
        let caller = try context.requireCaller()
        let bytes = try await body(request, context)
        let id = try context.parameters.require("id")
        return try await Idempotency.run(request: request, body: bytes, caller: caller, store: store) { _ in
            (200, try await webhooks.rotateSecret(id: id, caller: caller).apiObject(showSecret: true).bytes(), false)
        }
    }

    @Sendable func recover(_ request: Request, context: SettleRequestContext) async throws -> Response {
        let caller = try context.requireCaller()
        let bytes = try await body(request, context)
        let id = try context.parameters.require("id")
        return try await Idempotency.run(request: request, body: bytes, caller: caller, store: store) { _ in
            let input = try StrictJSON.decode(RecoverBody.self, from: bytes, allowed: ["since"])
            let count = try await webhooks.recover(endpointID: id, since: input.since, caller: caller)
            return (200, JSONValue.object([("id", .string(id)), ("object", .string("webhook_endpoint")), ("requeued", .int(Int64(count)))]).bytes(), false)
        }
    }

    @Sendable func attempts(_ request: Request, context: SettleRequestContext) async throws -> Response {
        let caller = try context.requireCaller()
        let limit = try Pagination.limit(request.uri.queryParameters.get("limit"), default: 50)
        let attempts = try await webhooks.attempts(endpointID: try context.parameters.require("id"), limit: limit, caller: caller)
        return APIResponse.list(
            attempts.map { attempt in
                .object([
                    ("object", .string("webhook_attempt")), ("message_id", .string(attempt.messageID)),
                    ("event_id", .string(attempt.eventID)), ("attempted_at", .int(UnixTime.seconds(attempt.attemptedAt))),
                    ("status_code", .int(attempt.statusCode.map(Int64.init))), ("duration_ms", .int(attempt.durationMilliseconds)),
                    ("response_body", .string(attempt.responseBody)), ("error", .string(attempt.error)),
                ])
            },
            hasMore: false
        )
    }
}
