import Foundation
import Hummingbird
import Settle
import SettleCore
import SettleStore

/// `/v1/events`: the merchant's events, and resending them.
struct EventsController {
    let webhooks: WebhookService
    let store: Store

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
            mode: caller.mode, type: query.get("type"), objectID: query.get("object_id"), limit: limit,
            startingAfter: query.get("starting_after")
        )
        let body = "{\"object\":\"list\",\"data\":[" + page.events.map(\.json).joined(separator: ",") + "],\"has_more\":\(page.hasMore)}"
        return APIResponse.bytes(Array(body.utf8), status: 200)
    }

    @Sendable func get(_ request: Request, context: SettleRequestContext) async throws -> Response {
        let caller = try context.requireCaller()
        let event = try await webhooks.event(id: try context.parameters.require("id"), mode: caller.mode)
        return APIResponse.bytes(Array(event.json.utf8), status: 200)
    }

    struct ResendBody: Decodable {
        let endpoint_id: String?
    }

    @Sendable func resend(_ request: Request, context: SettleRequestContext) async throws -> Response {
        let caller = try context.requireCaller()
        let bytes = Array(buffer: try await request.body.collect(upTo: context.maxUploadSize))
        let id = try context.parameters.require("id")
        return try await Idempotency.run(request: request, body: bytes, caller: caller, store: store) { _ in
            let body = try StrictJSON.decode(ResendBody.self, from: bytes, allowed: ["endpoint_id"])
            let count = try await webhooks.resend(eventID: id, endpointID: body.endpoint_id, caller: caller)
            return (200, JSONValue.object([("id", .string(id)), ("object", .string("event")), ("requeued", .int(Int64(count)))]).bytes(), false)
        }
    }
}

enum Pagination {
    static func limit(_ value: String?, default fallback: Int = 10) throws(SettleError) -> Int {
        guard let value else { return fallback }
        guard let limit = Int(value), (1...100).contains(limit) else {
            throw SettleError.invalid("limit", "limit must be an integer from 1 to 100.")
        }
        return limit
    }
}
