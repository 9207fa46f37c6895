import Hummingbird
import Settle
import SettleCore

/// `POST /sandbox/payments/{id}/provider_state` `{"status", "amount"?, "currency"?}` (a test-mode secret key): changes
/// the sandbox's own record of a test payment without notifying Settle, so reconciliations have divergences to show.
struct SandboxStateController {
    let reconciliations: ReconciliationService

    func addRoutes(to group: RouterGroup<SettleRequestContext>) {
        group.post("sandbox/payments/:id/provider_state", use: set)
    }

    @Sendable func set(_ request: Request, context: SettleRequestContext) async throws -> Response {
        let caller = try context.requireCaller()
        let body = try await JSONBody.read(request, context: context)
        let input = try StrictJSON.parse(body, allowed: ["status", "amount", "currency"])
        let record = try await reconciliations.setSandboxState(
            paymentID: try context.parameters.require("id"), status: try input.requiredString("status"),
            amount: try input.integer("amount", expected: "an integer in minor units", code: .amountInvalid), currency: try input.string("currency"),
            caller: caller
        )
        return APIResponse.json(record)
    }
}
