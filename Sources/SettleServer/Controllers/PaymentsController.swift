import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Settle
import SettleCore

/// `/v1/payments`: create, read, list, cancel, fulfil, timeline.
struct PaymentsController {
    let payments: PaymentService
    let idempotency: IdempotencyService
    /// Parameters the providers accept as aliases of `payment_method` (`payme_mode`).
    let aliases: Set<String>

    func addRoutes(to group: RouterGroup<SettleRequestContext>) {
        group.post("payments", use: create)
        group.get("payments", use: list)
        group.get("payments/:id", use: get)
        group.post("payments/:id/cancel", use: cancel)
        group.post("payments/:id/resolve", use: resolve)
        group.post("payments/:id/fulfill", use: fulfill)
        group.get("payments/:id/events", use: events)
    }

    @Sendable func create(_ request: Request, context: SettleRequestContext) async throws -> Response {
        let caller = try context.requireCaller()
        let body = try await JSONBody.read(request, context: context)
        return try await Idempotent.run(idempotency, request, body: body, caller: caller) { scope in
            let input = try CreatePaymentBody.decode(body, aliases: aliases)
            do {
                let (status, payment) = try await payments.create(input, caller: caller, idempotency: scope)
                return .init(status: status, body: payment.apiObject.bytes(), storedWithChange: true)
            } catch let error as SettleError where error.kind == .provider {
                // The failed payment and this error were stored together; a retry replays them.
                throw IdempotencyService.Completed(error: error)
            }
        }
    }

    @Sendable func get(_ request: Request, context: SettleRequestContext) async throws -> Response {
        let caller = try context.requireCaller()
        let id = try context.parameters.require("id")
        return APIResponse.json(try await payments.payment(id: id, mode: caller.mode).apiObject)
    }

    @Sendable func list(_ request: Request, context: SettleRequestContext) async throws -> Response {
        let caller = try context.requireCaller()
        let query = request.uri.queryParameters
        var filter = PaymentFilter(mode: caller.mode)
        filter.limit = try Pagination.limit(query.get("limit"))
        if let status = query.get("status") {
            guard let value = PaymentStatus(rawValue: status) else {
                throw SettleError.invalid("status", "status must be one of \(PaymentStatus.allCases.map(\.rawValue).joined(separator: ", ")).")
            }
            filter.status = value
        }
        filter.reference = try Pagination.text(query.get("reference"), param: "reference")
        filter.provider = try Pagination.text(query.get("provider"), param: "provider")
        filter.startingAfter = try Pagination.text(query.get("starting_after"), param: "starting_after")
        let page = try await payments.list(filter)
        return APIResponse.list(page.payments.map(\.apiObject), hasMore: page.hasMore)
    }

    /// `POST /v1/payments/{id}/resolve` `{"status": "succeeded"|"failed", "note"}`: an operator decides a payment under
    /// review.
    @Sendable func resolve(_ request: Request, context: SettleRequestContext) async throws -> Response {
        let caller = try context.requireCaller()
        let id = try context.parameters.require("id")
        let body = try await JSONBody.read(request, context: context)
        return try await Idempotent.run(idempotency, request, body: body, caller: caller) { _ in
            let input = try StrictJSON.parse(body, allowed: ["status", "note"])
            let status = try input.requiredString("status")
            guard status == "succeeded" || status == "failed" else {
                throw SettleError.invalid("status", "status must be succeeded or failed.")
            }
            let payment = try await payments.resolve(id: id, succeeded: status == "succeeded", note: try input.requiredString("note"), caller: caller)
            return .init(status: 200, body: payment.apiObject.bytes())
        }
    }

    @Sendable func cancel(_ request: Request, context: SettleRequestContext) async throws -> Response {
        let caller = try context.requireCaller()
        let id = try context.parameters.require("id")
        let body = try await JSONBody.readAny(request, context: context)
        _ = try StrictJSON.parse(body, allowed: [])  // no parameters: nothing, or an empty object
        return try await Idempotent.run(idempotency, request, body: body, caller: caller) { _ in
            .init(status: 200, body: try await payments.cancel(id: id, caller: caller).apiObject.bytes())
        }
    }

    @Sendable func fulfill(_ request: Request, context: SettleRequestContext) async throws -> Response {
        let caller = try context.requireCaller()
        let id = try context.parameters.require("id")
        let body = try await JSONBody.readAny(request, context: context)
        _ = try StrictJSON.parse(body, allowed: [])  // no parameters: nothing, or an empty object
        return try await Idempotent.run(idempotency, request, body: body, caller: caller) { _ in
            .init(status: 200, body: try await payments.fulfill(id: id, caller: caller).apiObject.bytes())
        }
    }

    @Sendable func events(_ request: Request, context: SettleRequestContext) async throws -> Response {
        let caller = try context.requireCaller()
        let id = try context.parameters.require("id")
        let entries = try await payments.timeline(id: id, mode: caller.mode)
        return APIResponse.list(
            entries.map { entry in
                .object([
                    ("id", .string(entry.id)), ("object", .string(entry.kind == .event ? "event" : "notification")),
                    ("type", .string(entry.type)), ("outcome", .string(entry.detail)),
                    ("created_at", .int(UnixTime.seconds(entry.at))),
                ])
            },
            hasMore: false
        )
    }
}

/// Reading request bodies.
enum JSONBody {
    /// A body that must be `application/json`.
    static func read(_ request: Request, context: SettleRequestContext) async throws -> [UInt8] {
        let contentType = request.headers[.contentType]?.lowercased() ?? ""
        guard contentType.hasPrefix("application/json") else {
            throw SettleError(.unsupportedMediaType, "Send the request body as application/json.")
        }
        return try await readAny(request, context: context)
    }

    /// A body that is JSON when it has a content type, and may be empty.
    static func readAny(_ request: Request, context: SettleRequestContext) async throws -> [UInt8] {
        if request.headers[.contentType] != nil, !(request.headers[.contentType]?.lowercased().hasPrefix("application/json") ?? false) {
            throw SettleError(.unsupportedMediaType, "Send the request body as application/json.")
        }
        return Array(buffer: try await request.body.collect(upTo: context.maxUploadSize))
    }
}

/// Runs a POST through the idempotency use case and renders its outcome.
enum Idempotent {
    static func run(
        _ service: IdempotencyService, _ request: Request, body: [UInt8], caller: Caller,
        _ work: (IdempotencyScope?) async throws -> IdempotencyService.Response
    ) async throws -> Response {
        let outcome = try await service.run(
            key: request.headers[.idempotencyKey], caller: caller, method: request.method.rawValue, path: request.uri.path, body: body,
            work
        )
        var response = APIResponse.bytes(outcome.body, status: outcome.status)
        if outcome.replayed { response.headers[.idempotentReplayed] = "true" }
        return response
    }
}

/// The JSON body of `POST /v1/payments`, decoded strictly: unknown fields, wrong types, fractions and malformed JSON
/// each get a precise error naming the parameter.
enum CreatePaymentBody {
    static let fields: Set<String> = [
        "amount", "currency", "provider", "reference", "description", "customer", "return_url", "cancel_url", "metadata",
        "expires_in", "payment_method", "wallet",
    ]

    static func decode(_ bytes: [UInt8], aliases: Set<String>) throws(SettleError) -> CreatePaymentRequest {
        let body = try StrictJSON.parse(bytes, allowed: fields.union(aliases))
        guard let amount = try body.integer("amount", expected: "an integer in minor units (no fractions, no strings)", code: .amountInvalid)
        else { throw body.missing("amount") }
        let customer = try body.object("customer", allowed: ["email", "name", "phone"]).map { customer throws(SettleError) in
            Customer(email: try customer.string("email"), name: try customer.string("name"), phone: try customer.string("phone"))
        }
        var method: PaymentMethod?
        if let fields = try body.stringFields("payment_method") {
            var values = Dictionary(fields, uniquingKeysWith: { first, _ in first })
            guard let type = values.removeValue(forKey: "type") else {
                throw SettleError.invalid("payment_method.type", "payment_method.type is required.", code: .parameterMissing)
            }
            method = PaymentMethod(type: type, fields: values)
        }
        var given: [String: String] = [:]
        for alias in aliases { if let value = try body.string(alias) { given[alias] = value } }
        return CreatePaymentRequest(
            amount: amount, currency: try body.requiredString("currency"), provider: try body.requiredString("provider"),
            reference: try body.requiredString("reference"), description: try body.string("description"), customer: customer,
            returnURL: try body.string("return_url"), cancelURL: try body.string("cancel_url"),
            metadata: try body.stringMap("metadata") ?? [:],
            expiresIn: try body.integer("expires_in", expected: "an integer number of seconds", code: .expiresInInvalid),
            paymentMethod: method, aliases: given, wallet: try body.string("wallet")
        )
    }
}

enum Pagination {
    static func limit(_ value: String?, default fallback: Int = 10) throws(SettleError) -> Int {
        guard let value else { return fallback }
        guard let limit = ExternalInteger.unsigned(value, maxDigits: 3), (1...100).contains(limit) else {
            throw SettleError.invalid("limit", "limit must be an integer from 1 to 100.")
        }
        return Int(limit)
    }

    /// A query filter: at most 255 bytes, no control characters.
    static func text(_ value: String?, param: String) throws(SettleError) -> String? {
        guard let value else { return nil }
        guard value.utf8.count <= 255, !Text.hasControlCharacters(value) else {
            throw SettleError.invalid(param, "\(param) must be at most 255 bytes without control characters.")
        }
        return value
    }
}
