import Hummingbird
import Settle
import SettleCore

/// Wallets and their ledger: `POST /v1/wallets` `{"reference", "currency", "metadata"?, "allow_negative"?}`,
/// `GET /v1/wallets?reference=&limit=&starting_after=`, `GET /v1/wallets/{id}`, `GET /v1/wallets/{id}/entries`,
/// `POST /v1/wallets/{id}/debits` `{"amount", "reference", "description"?, "metadata"?}`, `POST /v1/transfers`
/// `{"from", "to", "amount", "reference", "description"?, "metadata"?}` and `GET /v1/transfers/{id}`. Moving money
/// requires an `Idempotency-Key`, stored in the transaction that moves it.
struct WalletsController {
    let wallets: WalletService
    let idempotency: IdempotencyService

    func addRoutes(to group: RouterGroup<SettleRequestContext>) {
        group.post("wallets", use: create)
        group.get("wallets", use: list)
        group.get("wallets/:id", use: get)
        group.get("wallets/:id/entries", use: entries)
        group.post("wallets/:id/debits", use: debit)
        group.post("transfers", use: transfer)
        group.get("transfers/:id", use: getTransfer)
    }

    @Sendable func create(_ request: Request, context: SettleRequestContext) async throws -> Response {
        let caller = try context.requireCaller()
        let body = try await JSONBody.read(request, context: context)
        return try await Idempotent.run(idempotency, request, body: body, caller: caller) { scope in
            let input = try StrictJSON.parse(body, allowed: ["reference", "currency", "metadata", "allow_negative"])
            let wallet = try await wallets.create(
                WalletService.CreateRequest(
                    reference: try input.requiredString("reference"), currency: try input.requiredString("currency"),
                    metadata: try input.stringMap("metadata") ?? [:], allowNegative: try input.bool("allow_negative") ?? false
                ),
                caller: caller, idempotency: scope
            )
            return .init(status: 201, body: wallet.apiObject.bytes(), storedWithChange: scope != nil)
        }
    }

    @Sendable func get(_ request: Request, context: SettleRequestContext) async throws -> Response {
        let caller = try context.requireCaller()
        return APIResponse.json(try await wallets.wallet(id: try context.parameters.require("id"), mode: caller.mode).apiObject)
    }

    @Sendable func list(_ request: Request, context: SettleRequestContext) async throws -> Response {
        let caller = try context.requireCaller()
        let query = request.uri.queryParameters
        let page = try await wallets.list(
            mode: caller.mode, reference: try Pagination.text(query.get("reference"), param: "reference"),
            limit: try Pagination.limit(query.get("limit")), startingAfter: try Pagination.text(query.get("starting_after"), param: "starting_after")
        )
        return APIResponse.list(page.wallets.map(\.apiObject), hasMore: page.hasMore)
    }

    @Sendable func entries(_ request: Request, context: SettleRequestContext) async throws -> Response {
        let caller = try context.requireCaller()
        let query = request.uri.queryParameters
        let page = try await wallets.entries(
            walletID: try context.parameters.require("id"), mode: caller.mode, limit: try Pagination.limit(query.get("limit")),
            startingAfter: try Pagination.text(query.get("starting_after"), param: "starting_after")
        )
        return APIResponse.list(page.entries.map(\.apiObject), hasMore: page.hasMore)
    }

    @Sendable func debit(_ request: Request, context: SettleRequestContext) async throws -> Response {
        let caller = try context.requireCaller()
        let id = try context.parameters.require("id")
        let body = try await JSONBody.read(request, context: context)
        try Self.requireKey(request)
        return try await Idempotent.run(idempotency, request, body: body, caller: caller) { scope in
            let input = try StrictJSON.parse(body, allowed: ["amount", "reference", "description", "metadata"])
            let transfer = try await wallets.debit(walletID: id, try Self.move(input), caller: caller, idempotency: scope)
            return .init(status: 201, body: transfer.apiObject.bytes(), storedWithChange: scope != nil)
        }
    }

    @Sendable func transfer(_ request: Request, context: SettleRequestContext) async throws -> Response {
        let caller = try context.requireCaller()
        let body = try await JSONBody.read(request, context: context)
        try Self.requireKey(request)
        return try await Idempotent.run(idempotency, request, body: body, caller: caller) { scope in
            let input = try StrictJSON.parse(body, allowed: ["from", "to", "amount", "reference", "description", "metadata"])
            let transfer = try await wallets.transfer(
                from: try input.requiredString("from"), to: try input.requiredString("to"), try Self.move(input), caller: caller, idempotency: scope
            )
            return .init(status: 201, body: transfer.apiObject.bytes(), storedWithChange: scope != nil)
        }
    }

    @Sendable func getTransfer(_ request: Request, context: SettleRequestContext) async throws -> Response {
        let caller = try context.requireCaller()
        return APIResponse.json(try await wallets.transfer(id: try context.parameters.require("id"), mode: caller.mode).apiObject)
    }

    static func move(_ input: StrictJSON) throws(SettleError) -> WalletService.MoveRequest {
        guard let amount = try input.integer("amount", expected: "an integer in minor units (no fractions, no strings)", code: .amountInvalid) else {
            throw input.missing("amount")
        }
        return WalletService.MoveRequest(
            amount: amount, reference: try input.requiredString("reference"), description: try input.string("description"),
            metadata: try input.stringMap("metadata") ?? [:]
        )
    }

    /// Money moves only under an `Idempotency-Key`: a retry after a lost answer must never spend twice.
    static func requireKey(_ request: Request) throws(SettleError) {
        guard let key = request.headers[.idempotencyKey], !key.isEmpty else {
            throw SettleError(.idempotencyKeyRequired, "Moving money requires an Idempotency-Key header, so that a retry never moves it twice.")
        }
    }
}
