import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Settle
import SettleCore
import SettleStore

/// `/v1/payments`: create, read, list, cancel, timeline.
struct PaymentsController {
    let payments: PaymentService
    let store: Store

    func addRoutes(to group: RouterGroup<SettleRequestContext>) {
        group.post("payments", use: create)
        group.get("payments", use: list)
        group.get("payments/:id", use: get)
        group.post("payments/:id/cancel", use: cancel)
        group.post("payments/:id/fulfill", use: fulfill)
        group.get("payments/:id/events", use: events)
    }

    @Sendable func create(_ request: Request, context: SettleRequestContext) async throws -> Response {
        let caller = try context.requireCaller()
        let body = try await JSONBody.read(request, context: context)
        return try await Idempotency.run(request: request, body: body, caller: caller, store: store) { scope in
            let input = try CreatePaymentBody.decode(body)
            do {
                let (status, payment) = try await payments.create(input, caller: caller, idempotency: scope)
                return (status, payment.apiObject.bytes(), true)
            } catch let error as SettleError where error.kind == .provider {
                // The failed payment and this error were stored together; a retry replays them.
                throw Idempotency.Completed(error: error)
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
        if let limit = query.get("limit") {
            guard let value = Int(limit), (1...100).contains(value) else {
                throw SettleError.invalid("limit", "limit must be an integer from 1 to 100.")
            }
            filter.limit = value
        }
        if let status = query.get("status") {
            guard let value = PaymentStatus(rawValue: status) else {
                throw SettleError.invalid("status", "status must be one of \(PaymentStatus.allCases.map(\.rawValue).joined(separator: ", ")).")
            }
            filter.status = value
        }
        filter.reference = query.get("reference")
        filter.provider = query.get("provider")
        filter.startingAfter = query.get("starting_after")
        let page = try await payments.list(filter)
        return APIResponse.list(page.payments.map(\.apiObject), hasMore: page.hasMore)
    }

    @Sendable func cancel(_ request: Request, context: SettleRequestContext) async throws -> Response {
        let caller = try context.requireCaller()
        let id = try context.parameters.require("id")
        let body = try await request.body.collect(upTo: context.maxUploadSize)
        return try await Idempotency.run(request: request, body: Array(buffer: body), caller: caller, store: store) { _ in
            (200, try await payments.cancel(id: id, caller: caller).apiObject.bytes(), false)
        }
    }

    @Sendable func fulfill(_ request: Request, context: SettleRequestContext) async throws -> Response {
        let caller = try context.requireCaller()
        let id = try context.parameters.require("id")
        let body = try await request.body.collect(upTo: context.maxUploadSize)
        return try await Idempotency.run(request: request, body: Array(buffer: body), caller: caller, store: store) { _ in
            (200, try await payments.fulfill(id: id, caller: caller).apiObject.bytes(), false)
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

/// Reading a JSON request body strictly.
enum JSONBody {
    static func read(_ request: Request, context: SettleRequestContext) async throws -> [UInt8] {
        let contentType = request.headers[.contentType]?.lowercased() ?? ""
        guard contentType.hasPrefix("application/json") else {
            throw SettleError(
                .invalidRequest, status: 415, code: "unsupported_media_type", "Send the request body as application/json."
            )
        }
        let buffer = try await request.body.collect(upTo: context.maxUploadSize)
        return Array(buffer: buffer)
    }
}

/// The JSON body of `POST /v1/payments`, decoded strictly: unknown fields, wrong types, fractions and
/// malformed JSON each get a precise error naming the parameter.
struct CreatePaymentBody: Decodable {
    let request: CreatePaymentRequest

    static let fields: Set<String> = [
        "amount", "currency", "provider", "reference", "description", "customer", "return_url", "cancel_url", "metadata",
        "expires_in", "payme_mode",
    ]

    static func decode(_ bytes: [UInt8]) throws(SettleError) -> CreatePaymentRequest {
        try StrictJSON.decode(CreatePaymentBody.self, from: bytes, allowed: fields).request
    }

    static func expected(_ param: String) -> String {
        switch param {
        case "amount": ": an integer in minor units is expected (no fractions, no strings)"
        case "expires_in": ": an integer number of seconds is expected"
        case "metadata": ": an object of string values is expected"
        default: ""
        }
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: StrictJSON.Key.self)
        func key(_ name: String) -> StrictJSON.Key { StrictJSON.Key(stringValue: name) }
        func integer(_ name: String, required: Bool) throws -> Int64? {
            guard container.contains(key(name)) else {
                if required { throw SettleError.invalid(name, "\(name) is required.", code: "parameter_missing") }
                return nil
            }
            do {
                return try container.decode(Int64.self, forKey: key(name))
            } catch {
                throw SettleError.invalid(name, "\(name) has the wrong type\(Self.expected(name)).", code: "\(name)_invalid")
            }
        }
        request = CreatePaymentRequest(
            amount: try integer("amount", required: true)!,
            currency: try container.decode(String.self, forKey: key("currency")),
            provider: try container.decode(String.self, forKey: key("provider")),
            reference: try container.decode(String.self, forKey: key("reference")),
            description: try container.decodeIfPresent(String.self, forKey: key("description")),
            customer: try container.decodeIfPresent(Customer.self, forKey: key("customer")),
            returnURL: try container.decodeIfPresent(String.self, forKey: key("return_url")),
            cancelURL: try container.decodeIfPresent(String.self, forKey: key("cancel_url")),
            metadata: try container.decodeIfPresent([String: String].self, forKey: key("metadata")) ?? [:],
            expiresIn: try integer("expires_in", required: false),
            providerOptions: try container.decodeIfPresent(String.self, forKey: key("payme_mode")).map { ["payme_mode": $0] } ?? [:]
        )
    }
}

/// Stripe's `Idempotency-Key` semantics, scoped to the API key, kept 24 hours.
enum Idempotency {
    /// Thrown by a body whose error response was already stored with its state change.
    struct Completed: Error {
        let error: SettleError
    }

    /// Runs `body` once per key. `body` returns the response and whether it already stored it (in the same
    /// transaction as its change); otherwise it is stored here.
    static func run(
        request: Request, body: [UInt8], caller: Caller, store: Store,
        _ work: (IdempotencyScope?) async throws -> (status: Int, body: [UInt8], storedWithChange: Bool)
    ) async throws -> Response {
        guard let key = request.headers[.idempotencyKey] else {
            do {
                let (status, bytes, _) = try await work(nil)
                return APIResponse.bytes(bytes, status: status)
            } catch let completed as Completed {
                throw completed.error
            }
        }
        guard !key.isEmpty, key.count <= 255 else {
            throw SettleError.invalid("Idempotency-Key", "Idempotency-Key must be 1 to 255 characters.")
        }
        var hasher = SHA256()
        hasher.update(data: Array("\(request.method.rawValue) \(request.uri.path)\n".utf8))
        hasher.update(data: body)
        let scope = IdempotencyScope(apiKeyID: caller.apiKeyID, key: key, requestHash: Hex.encode(hasher.finalize()))
        let claim: IdempotencyClaim
        do {
            claim = try await store.write { tx in try await tx.claimIdempotencyKey(scope, at: Date()) }
        } catch {
            throw SettleError.storageUnavailable
        }
        switch claim {
        case .replay(let status, let stored):
            var response = APIResponse.bytes(stored, status: status)
            response.headers[.idempotentReplayed] = "true"
            return response
        case .mismatch:
            throw SettleError(
                .idempotency, status: 422, code: "idempotency_key_reused",
                "This Idempotency-Key was used with a different request.", param: "Idempotency-Key"
            )
        case .inProgress:
            throw SettleError(
                .idempotency, status: 409, code: "idempotency_key_in_use",
                "A request with this Idempotency-Key is still running; retry shortly.", param: "Idempotency-Key"
            )
        case .proceed:
            do {
                let (status, bytes, stored) = try await work(scope)
                if !stored {
                    try? await store.write { tx in try await tx.completeIdempotencyKey(scope, status: status, body: bytes) }
                }
                return APIResponse.bytes(bytes, status: status)
            } catch let completed as Completed {
                throw completed.error
            } catch let error as SettleError where error.status < 500 && error.kind != .provider {
                // Refused before doing anything that must be replayed: free the key, as Stripe does for validation errors.
                _ = try? await store.write { tx in try await tx.releaseIdempotencyKey(scope) }
                throw error
            } catch {
                _ = try? await store.write { tx in try await tx.releaseIdempotencyKey(scope) }
                throw error
            }
        }
    }
}

