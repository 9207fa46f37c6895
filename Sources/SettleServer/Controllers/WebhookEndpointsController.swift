import Foundation
import Hummingbird
import Settle
import SettleCore

/// `/v1/webhook_endpoints`: where Settle sends the merchant's events.
struct WebhookEndpointsController {
    let webhooks: WebhookService
    let idempotency: IdempotencyService

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

    @Sendable func create(_ request: Request, context: SettleRequestContext) async throws -> Response {
        let caller = try context.requireCaller()
        let bytes = try await JSONBody.read(request, context: context)
        return try await Idempotent.run(idempotency, request, body: bytes, caller: caller) { _ in
            let input = try StrictJSON.parse(bytes, allowed: ["url", "enabled_events", "description"])
            guard let events = try input.strings("enabled_events") else { throw input.missing("enabled_events") }
            let endpoint = try await webhooks.create(
                url: try input.requiredString("url"), enabledEvents: events, description: try input.string("description"), caller: caller
            )
            return .init(status: 201, body: endpoint.apiObject(showSecret: true).bytes())
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
        let bytes = try await JSONBody.readAny(request, context: context)
        let id = try context.parameters.require("id")
        return try await Idempotent.run(idempotency, request, body: bytes, caller: caller) { _ in
            let input = try StrictJSON.parse(bytes, allowed: ["url", "enabled_events", "description", "enabled"])
            let endpoint = try await webhooks.update(
                id: id, url: try input.string("url"), enabledEvents: try input.strings("enabled_events"),
                description: try input.string("description"), enabled: try input.bool("enabled"), caller: caller
            )
            return .init(status: 200, body: endpoint.apiObject(showSecret: false).bytes())
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
        let bytes = try await JSONBody.readAny(request, context: context)
        _ = try StrictJSON.parse(bytes, allowed: [])  // no parameters: nothing, or an empty object
        let id = try context.parameters.require("id")
        return try await Idempotent.run(idempotency, request, body: bytes, caller: caller) { _ in
            .init(status: 200, body: try await webhooks.rotateSecret(id: id, caller: caller).apiObject(showSecret: true).bytes())
        }
    }

    @Sendable func recover(_ request: Request, context: SettleRequestContext) async throws -> Response {
        let caller = try context.requireCaller()
        let bytes = try await JSONBody.readAny(request, context: context)
        let id = try context.parameters.require("id")
        return try await Idempotent.run(idempotency, request, body: bytes, caller: caller) { _ in
            let input = try StrictJSON.parse(bytes, allowed: ["since"])
            guard let since = try input.integer("since", expected: "Unix seconds") else { throw input.missing("since") }
            let count = try await webhooks.recover(endpointID: id, since: since, caller: caller)
            return .init(
                status: 200,
                body: JSONValue.object([("id", .string(id)), ("object", .string("webhook_endpoint")), ("requeued", .int(Int64(count)))]).bytes()
            )
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
