import Foundation
import Hummingbird
import NIOCore
import Settle
import SettleCore

/// `POST /v1/reconciliations` `{"provider", "from", "to", "apply"?}` (times as Unix seconds, RFC 3339 or `YYYY-MM-DD`
/// for midnight UTC): queued, answered `202` with the run, which an instance's runner takes in the background;
/// `GET /v1/reconciliations[?limit=&starting_after=]`, `GET /v1/reconciliations/{id}` (status, counts per class,
/// progress), `GET /v1/reconciliations/{id}/items[?class=&limit=&starting_after=]` and `…/items.csv[?class=]`.
struct ReconciliationsController {
    let reconciliations: ReconciliationService
    let idempotency: IdempotencyService

    func addRoutes(to group: RouterGroup<SettleRequestContext>) {
        group.post("reconciliations", use: create)
        group.get("reconciliations", use: list)
        group.get("reconciliations/:id", use: get)
        group.get("reconciliations/:id/items", use: items)
        group.get("reconciliations/:id/items.csv", use: csv)
    }

    @Sendable func create(_ request: Request, context: SettleRequestContext) async throws -> Response {
        let caller = try context.requireCaller()
        let body = try await JSONBody.read(request, context: context)
        return try await Idempotent.run(idempotency, request, body: body, caller: caller) { scope in
            let input = try StrictJSON.parse(body, allowed: ["provider", "from", "to", "apply"])
            let create = ReconciliationService.CreateRequest(
                provider: try input.requiredString("provider"), from: try Self.time(input, "from"), to: try Self.time(input, "to"),
                apply: try input.bool("apply") ?? false
            )
            let run = try await reconciliations.create(create, caller: caller, idempotency: scope)
            return .init(status: 202, body: run.apiObject.bytes(), storedWithChange: true)
        }
    }

    static func time(_ input: StrictJSON, _ key: String) throws(SettleError) -> Date {
        guard input.contains(key) else { throw input.missing(key) }
        if let seconds = try? input.integer(key) {
            guard seconds >= 0, seconds < 253_402_300_800 else { throw SettleError.invalid(key, "\(key) is out of range.") }
            return Date(timeIntervalSince1970: TimeInterval(seconds))
        }
        let text: String?
        do {
            text = try input.string(key)
        } catch {
            throw SettleError.invalid(key, "\(key) must be Unix seconds, an RFC 3339 time or a date (YYYY-MM-DD, midnight UTC).")
        }
        guard let text, let date = ReconciliationService.parseTime(text) else {
            throw SettleError.invalid(key, "\(key) must be Unix seconds, an RFC 3339 time or a date (YYYY-MM-DD, midnight UTC).")
        }
        return date
    }

    @Sendable func get(_ request: Request, context: SettleRequestContext) async throws -> Response {
        let caller = try context.requireCaller()
        return APIResponse.json(try await reconciliations.run(id: try context.parameters.require("id"), mode: caller.mode).apiObject)
    }

    @Sendable func list(_ request: Request, context: SettleRequestContext) async throws -> Response {
        let caller = try context.requireCaller()
        let query = request.uri.queryParameters
        let page = try await reconciliations.list(
            mode: caller.mode, limit: try Pagination.limit(query.get("limit")),
            startingAfter: try Pagination.text(query.get("starting_after"), param: "starting_after")
        )
        return APIResponse.list(page.runs.map(\.apiObject), hasMore: page.hasMore)
    }

    static func kind(_ request: Request) throws(SettleError) -> ReconciliationClass? {
        guard let value = request.uri.queryParameters.get("class") else { return nil }
        guard let kind = ReconciliationClass(rawValue: String(value)) else {
            throw SettleError.invalid("class", "class must be one of \(ReconciliationClass.allCases.map(\.rawValue).joined(separator: ", ")).")
        }
        return kind
    }

    @Sendable func items(_ request: Request, context: SettleRequestContext) async throws -> Response {
        let caller = try context.requireCaller()
        let query = request.uri.queryParameters
        let page = try await reconciliations.items(
            runID: try context.parameters.require("id"), mode: caller.mode, kind: try Self.kind(request),
            limit: try Pagination.limit(query.get("limit")),
            startingAfter: try Pagination.text(query.get("starting_after"), param: "starting_after")
        )
        return APIResponse.list(page.items.map(\.apiObject), hasMore: page.hasMore)
    }

    @Sendable func csv(_ request: Request, context: SettleRequestContext) async throws -> Response {
        let caller = try context.requireCaller()
        let export = try await reconciliations.csv(runID: try context.parameters.require("id"), mode: caller.mode, kind: try Self.kind(request))
        // Streamed a page at a time: a run of millions of items is never held whole.
        let body = ResponseBody { writer in
            try await export.write { text in try await writer.write(ByteBuffer(string: text)) }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: "text/csv; charset=utf-8"], body: body)
    }
}
