import Foundation
import Hummingbird
import Settle
import SettleCore

/// `/v1/events`: the merchant's events, and resending them.
struct EventsController {
    let webhooks: WebhookService
    let idempotency: IdempotencyService

    func addRoutes(to group: RouterGroup<SettleRequestContext>) {
        group.get("events", use: list)
        group.get("events/:id", use: get)
        group.post("events/:id/resend", use: resend)
    }

    @Sendable func list(_ request: Request, context: SettleRequestContext) async throws -> Response {
        let caller = try context.requireCaller()
        let query = request.uri.queryParameters
        let limit = try Pagination.limit(query.get("limit"))
        let page = try await webhooks.events(
            mode: caller.mode, type: try Pagination.text(query.get("type"), param: "type"),
            objectID: try Pagination.text(query.get("object_id"), param: "object_id"), limit: limit,
            startingAfter: try Pagination.text(query.get("starting_after"), param: "starting_after")
        )
        let body = "{\"object\":\"list\",\"data\":[" + page.events.map(\.json).joined(separator: ",") + "],\"has_more\":\(page.hasMore)}"
        return APIResponse.bytes(Array(body.utf8), status: 200)
    }

    @Sendable func get(_ request: Request, context: SettleRequestContext) async throws -> Response {
        let caller = try context.requireCaller()
        let event = try await webhooks.event(id: try context.parameters.require("id"), mode: caller.mode)
        return APIResponse.bytes(Array(event.json.utf8), status: 200)
    }

    @Sendable func resend(_ request: Request, context: SettleRequestContext) async throws -> Response {
        let caller = try context.requireCaller()
        let bytes = try await JSONBody.readAny(request, context: context)
        let id = try context.parameters.require("id")
        return try await Idempotent.run(idempotency, request, body: bytes, caller: caller) { _ in
            let body = try StrictJSON.parse(bytes, allowed: ["endpoint_id"])
            let count = try await webhooks.resend(eventID: id, endpointID: try body.string("endpoint_id"), caller: caller)
            return .init(
                status: 200, body: JSONValue.object([("id", .string(id)), ("object", .string("event")), ("requeued", .int(Int64(count)))]).bytes()
            )
        }
    }
}
