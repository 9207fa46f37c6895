import Hummingbird
import Settle
import SettleCore

/// `POST /v1/refunds` `{"payment", "amount"?, "reason"?, "metadata"?}` (with `Idempotency-Key`, Stripe's semantics),
/// `GET /v1/refunds/{id}`, `GET /v1/refunds?payment=&status=&limit=&starting_after=`, and
/// `POST /v1/refunds/{id}/confirm` `{"note"}`: an operator paid back a refund the provider could not make.
struct RefundsController {
    let refunds: RefundService
    let idempotency: IdempotencyService

    func addRoutes(to group: RouterGroup<SettleRequestContext>) {
        group.post("refunds", use: create)
        group.get("refunds", use: list)
        group.get("refunds/:id", use: get)
        group.post("refunds/:id/confirm", use: confirm)
    }

    @Sendable func create(_ request: Request, context: SettleRequestContext) async throws -> Response {
        let caller = try context.requireCaller()
        let body = try await JSONBody.read(request, context: context)
        return try await Idempotent.run(idempotency, request, body: body, caller: caller) { scope in
            let input = try StrictJSON.parse(body, allowed: ["payment", "amount", "reason", "metadata", "allow_negative"])
            let create = RefundService.CreateRequest(
                paymentID: try input.requiredString("payment"),
                amount: try input.integer("amount", expected: "an integer in minor units (no fractions, no strings)", code: .amountInvalid),
                reason: try input.string("reason"), metadata: try input.stringMap("metadata") ?? [:],
                allowNegative: try input.bool("allow_negative") ?? false
            )
            let (status, refund) = try await refunds.create(create, caller: caller, idempotency: scope)
            return .init(status: status, body: refund.apiObject.bytes(), storedWithChange: true)
        }
    }

    @Sendable func get(_ request: Request, context: SettleRequestContext) async throws -> Response {
        let caller = try context.requireCaller()
        return APIResponse.json(try await refunds.refund(id: try context.parameters.require("id"), mode: caller.mode).apiObject)
    }

    @Sendable func list(_ request: Request, context: SettleRequestContext) async throws -> Response {
        let caller = try context.requireCaller()
        let query = request.uri.queryParameters
        var filter = RefundFilter(mode: caller.mode, limit: try Pagination.limit(query.get("limit")))
        if let status = query.get("status") {
            guard let value = RefundStatus(rawValue: String(status)) else {
                throw SettleError.invalid("status", "status must be one of \(RefundStatus.allCases.map(\.rawValue).joined(separator: ", ")).")
            }
            filter.status = value
        }
        filter.paymentID = try Pagination.text(query.get("payment"), param: "payment")
        filter.startingAfter = try Pagination.text(query.get("starting_after"), param: "starting_after")
        let page = try await refunds.list(filter)
        return APIResponse.list(page.refunds.map(\.apiObject), hasMore: page.hasMore)
    }

    @Sendable func confirm(_ request: Request, context: SettleRequestContext) async throws -> Response {
        let caller = try context.requireCaller()
        let id = try context.parameters.require("id")
        let body = try await JSONBody.read(request, context: context)
        return try await Idempotent.run(idempotency, request, body: body, caller: caller) { _ in
            let input = try StrictJSON.parse(body, allowed: ["note"])
            let refund = try await refunds.confirm(refundID: id, note: try input.requiredString("note"), caller: caller)
            return .init(status: 200, body: refund.apiObject.bytes())
        }
    }
}
