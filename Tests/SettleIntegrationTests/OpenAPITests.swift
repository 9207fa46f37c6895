import Foundation
import Hummingbird
import NIOHTTP1
import Settle
import SettleCore
import SettleProviders
@testable import SettleServer
import SettleStore
import Synchronization
import Testing

/// The OpenAPI document (`/openapi.json`) against the server: every route is documented and every documented route
/// exists; every answer of a real workload validates against the schema documented for its operation and status, so
/// a field on one side only fails (response objects are closed, and every field the server always sends is
/// required). Schemathesis checks the same document against a live server in CI (`scripts/contract`).
@Suite(.serialized) struct OpenAPITests {
    static let document = APIDocument.parsed

    /// The buyer's HTML pages are not part of the merchant API; every other route must be in the document.
    static let pages: Set<String> = [
        "GET /checkout/return/{id}", "GET /checkout/return/{id}/{token}", "GET /checkout/return/{id}/{token}/qr",
        "GET /pay/{id}/{token}", "POST /pay/{id}/{token}",
        "GET /sandbox/checkout/{id}", "POST /sandbox/checkout/{id}", "GET /sandbox/refunds/{id}", "POST /sandbox/refunds/{id}",
    ]

    /// Response fields that are sometimes left out (every other field is always sent, `null` when absent).
    static let optionalFields: Set<String> = ["Voucher.agreement", "Voucher.barcode"]

    static func documentedRoutes() -> Set<String> {
        var routes: Set<String> = []
        guard case .object(let paths)? = document["paths"] else { return routes }
        for (path, item) in paths {
            for method in APIReference.methods where item[method] != nil { routes.insert("\(method.uppercased()) \(path)") }
        }
        return routes
    }

    @Test func theDocumentIsOpenAPI31AndEveryReferenceResolves() throws {
        #expect(Self.document["openapi"]?.stringValue == "3.1.0")
        #expect(Self.documentedRoutes().count > 40)
        var operationIDs: [String] = []
        var linked: Set<String> = []
        var unresolved: [String] = []
        func walk(_ value: JSONValue, parent: String = "") {
            switch value {
            case .object(let members):
                for (key, member) in members {
                    if key == "$ref", let reference = member.stringValue, SchemaValidator(document: Self.document).lookup(reference) == nil {
                        unresolved.append(reference)
                    }
                    if key == "operationId", let id = member.stringValue {
                        if APIReference.methods.contains(parent) { operationIDs.append(id) } else { linked.insert(id) }
                    }
                    walk(member, parent: key)
                }
            case .array(let items): items.forEach { walk($0) }
            default: break
            }
        }
        walk(Self.document)
        #expect(unresolved.isEmpty, "\(unresolved)")
        #expect(Set(operationIDs).count == operationIDs.count, "operation ids repeat")
        #expect(linked.subtracting(operationIDs).sorted() == [], "links to operations that do not exist")
        // Every response object lists what it always carries: a property left out of `required` is named here.
        var optional: [String] = []
        if case .object(let schemas)? = Self.document["components"]?["schemas"] {
            for (name, schema) in schemas where !name.hasSuffix("Request") {
                guard case .object(let properties)? = schema["properties"] else { continue }
                var required: Set<String> = []
                if case .array(let names)? = schema["required"] { required = Set(names.compactMap(\.stringValue)) }
                for (field, _) in properties where !required.contains(field) { optional.append("\(name).\(field)") }
            }
        }
        #expect(Set(optional) == Self.optionalFields)
        // The enums requests are held to are Settle's own lists.
        let schemas = Self.document["components"]?["schemas"]
        func enumeration(_ name: String) -> [String] {
            guard case .array(let values)? = schemas?[name]?["enum"] else { return [] }
            return values.compactMap(\.stringValue)
        }
        #expect(enumeration("Currency") == Currency.all.map(\.code))
        #expect(Set(enumeration("ProviderName")) == Set(ProviderCatalog.all.map { $0.name }))
        // Outbound webhooks: one per event type Settle sends.
        guard case .object(let webhooks)? = Self.document["webhooks"] else { Issue.record("no webhooks"); return }
        #expect(Set(webhooks.map(\.0)) == Set(EventType.allCases.map(\.rawValue)))
    }

    @Test func everyRouteIsDocumentedAndNothingElse() async throws {
        let store = try await Store.open(try DatabaseLocation(url: "postgres://settle@127.0.0.1:1/none"), logger: Engine.logger)
        let useCases = makeUseCases(
            store: store, configuration: SettleConfiguration(), runtime: ServerRuntime(publicURL: "http://settle.test", host: "127.0.0.1"),
            metrics: ServerMetrics(), httpClient: testHTTPClient, logger: Engine.logger
        )
        let routed = Set(buildRouter(useCases).routes.map { "\($0.method.rawValue) \($0.path)" })
        let api = routed.subtracting(Self.pages)
        #expect(Self.pages.isSubset(of: routed), "a page route moved: \(Self.pages.subtracting(routed))")
        let documented = Self.documentedRoutes()
        #expect(api.subtracting(documented).sorted() == [], "routed but not documented")
        #expect(documented.subtracting(api).sorted() == [], "documented but not routed")
    }

    @Test(arguments: Engine.enabled)
    func everyAnswerOfAWorkloadMatchesItsSchema(_ engine: Engine) async throws {
        let receiver = WebhookReceiver()
        try await receiver.run {
            try await withSettle(databaseURL: try await engine.makeDatabaseURL()) { settle in
                let checker = Checker(settle: settle)
                // Payments.
                let created = try await checker.call(.POST, "/v1/payments", #"{"amount":150000,"currency":"COP","provider":"sandbox","reference":"order-1","description":"Plan","customer":{"email":"a@example.com"},"metadata":{"plan":"pro"}}"#, key: "pay-1")
                #expect(created.status == 201)
                let id = created.json["id"] as? String ?? ""
                // The validator bites: a field on one side only, or of another type, is caught.
                let payment = try JSONValue.parse(created.body)
                let schema = JSONValue.object([("$ref", .string("#/components/schemas/Payment"))])
                #expect(checker.validator.errors(payment, schema, at: "$") == [])
                guard case .object(var members) = payment else { Issue.record("not an object"); return }
                #expect(checker.validator.errors(.object(members + [("colour", .string("red"))]), schema, at: "$") == ["$: colour is not documented"])
                members.removeAll { $0.0 == "amount" }
                #expect(checker.validator.errors(.object(members), schema, at: "$") == ["$: amount is missing"])
                #expect(checker.validator.errors(.object(members + [("amount", .string("1500.00"))]), schema, at: "$") == [#"$.amount: "1500.00" is not integer"#])
                let replay = try await checker.call(.POST, "/v1/payments", #"{"amount":150000,"currency":"COP","provider":"sandbox","reference":"order-1","description":"Plan","customer":{"email":"a@example.com"},"metadata":{"plan":"pro"}}"#, key: "pay-1")
                #expect(replay.headers.first(name: "idempotent-replayed") == "true")
                try await checker.call(.GET, "/v1/payments/\(id)")
                try await checker.call(.GET, "/v1/payments?limit=2&status=requires_action")
                try await checker.call(.GET, "/v1/payments/\(id)/events")
                try await checker.call(.POST, "/v1/payments/\(id)/fulfill")
                try await checker.call(.POST, "/v1/payments/\(id)/resolve", #"{"status":"failed","note":"n"}"#)
                // An action without parameters takes nothing or an empty object, and refuses anything else.
                #expect(try await checker.call(.POST, "/v1/payments/\(id)/cancel", "true").errorCode == "invalid_json")
                #expect(try await checker.call(.POST, "/v1/payments/\(id)/cancel", #"{"now":1}"#).errorCode == "parameter_unknown")
                #expect(try await settle.paymentStatus(id) == "requires_action")
                try await checker.call(.POST, "/v1/payments/\(id)/cancel")
                try await checker.call(.GET, "/v1/payments/pay_nothing")
                try await checker.call(.POST, "/v1/payments", #"{"amount":1.5,"currency":"COP","provider":"sandbox","reference":"r"}"#)
                try await checker.call(.POST, "/v1/payments", #"{"amount":100"#)
                try await checker.call(.GET, "/v1/payments", auth: false)
                // A paid payment, refunded.
                let paid = try await settle.createPayment(amount: 100_000)
                let notifier = settle.notifier
                #expect(try await notifier.send(notifier.message(for: .approve, paymentID: paid, amount: Money(minorUnits: 100_000, currency: .cop))) == 200)
                try await checker.call(.GET, "/v1/payments/\(paid)")
                try await checker.call(.POST, "/v1/payments/\(paid)/fulfill")
                let refund = try await checker.call(.POST, "/v1/refunds", #"{"payment":"\#(paid)","amount":30000,"reason":"requested_by_customer","metadata":{"t":"1"}}"#, key: "ref-1")
                #expect(refund.status == 201)
                try await checker.call(.GET, "/v1/refunds/\(refund.json["id"] as? String ?? "")")
                try await checker.call(.GET, "/v1/refunds?payment=\(paid)")
                try await checker.call(.POST, "/v1/refunds", #"{"payment":"\#(paid)","amount":999999}"#)
                // Wallets: a top-up, its credit, a debit, a transfer, the refusals.
                let wallet = try await checker.call(.POST, "/v1/wallets", #"{"reference":"customer-1","currency":"COP","metadata":{"app":"1"}}"#, key: "wal-1")
                let walletID = wallet.json["id"] as? String ?? ""
                let other = try await checker.call(.POST, "/v1/wallets", #"{"reference":"customer-2","currency":"COP"}"#)
                let otherID = other.json["id"] as? String ?? ""
                let topUp = try await settle.createPayment(amount: 100_000, extra: #","wallet":"\#(walletID)""#)
                #expect(try await notifier.send(notifier.message(for: .approve, paymentID: topUp, amount: Money(minorUnits: 100_000, currency: .cop))) == 200)
                try await checker.call(.GET, "/v1/payments/\(topUp)")
                try await checker.call(.GET, "/v1/wallets/\(walletID)")
                try await checker.call(.GET, "/v1/wallets?reference=customer-1")
                let spent = try await checker.call(.POST, "/v1/wallets/\(walletID)/debits", #"{"amount":20000,"reference":"order-9","description":"GPU"}"#, key: "debit-1")
                #expect(spent.status == 201)
                try await checker.call(.POST, "/v1/wallets/\(walletID)/debits", #"{"amount":9000000,"reference":"order-10"}"#, key: "debit-2")
                try await checker.call(.POST, "/v1/wallets/\(walletID)/debits", #"{"amount":1,"reference":"order-11"}"#)
                let moved = try await checker.call(.POST, "/v1/transfers", #"{"from":"\#(walletID)","to":"\#(otherID)","amount":5000,"reference":"gift"}"#, key: "tr-1")
                try await checker.call(.GET, "/v1/transfers/\(moved.json["id"] as? String ?? "")")
                try await checker.call(.GET, "/v1/wallets/\(walletID)/entries?limit=5")
                try await checker.call(.GET, "/v1/wallets/wal_nothing")
                // Events and webhook endpoints.
                let endpoint = try await checker.call(.POST, "/v1/webhook_endpoints", #"{"url":"\#(receiver.url)","enabled_events":["payment.succeeded"],"description":"d"}"#)
                #expect(endpoint.status == 201, "\(endpoint.text)")
                let endpointID = endpoint.json["id"] as? String ?? ""
                try await checker.call(.GET, "/v1/webhook_endpoints")
                try await checker.call(.GET, "/v1/webhook_endpoints/\(endpointID)")
                try await checker.call(.POST, "/v1/webhook_endpoints/\(endpointID)", #"{"description":"e"}"#)
                try await checker.call(.POST, "/v1/webhook_endpoints/\(endpointID)/rotate_secret")
                let events = try await checker.call(.GET, "/v1/events?limit=5")
                let eventID = ((events.json["data"] as? [[String: Any]])?.first?["id"] as? String) ?? ""
                try await checker.call(.GET, "/v1/events/\(eventID)")
                try await checker.call(.POST, "/v1/events/\(eventID)/resend", #"{"endpoint_id":"\#(endpointID)"}"#)
                try await checker.call(.GET, "/v1/webhook_endpoints/\(endpointID)/attempts")
                try await checker.call(.POST, "/v1/webhook_endpoints/\(endpointID)/recover", #"{"since":1}"#)
                try await checker.call(.DELETE, "/v1/webhook_endpoints/\(endpointID)")
                // Providers and reconciliations.
                try await checker.call(.GET, "/v1/providers")
                let run = try await checker.call(.POST, "/v1/reconciliations", #"{"provider":"sandbox","from":"2026-11-01","to":"2026-11-02"}"#)
                #expect(run.status == 202)
                let runID = run.json["id"] as? String ?? ""
                try await checker.call(.GET, "/v1/reconciliations")
                try await checker.call(.GET, "/v1/reconciliations/\(runID)")
                try await checker.call(.GET, "/v1/reconciliations/\(runID)/items")
                try await checker.call(.POST, "/v1/reconciliations", #"{"provider":"nobody","from":"2026-11-01","to":"2026-11-02"}"#)
                // Health and the document itself.
                try await checker.call(.GET, "/health", auth: false)
                try await checker.call(.GET, "/health/live", auth: false)
                try await checker.call(.GET, "/health/ready", auth: false)
                let served = try await checker.call(.GET, "/openapi.json", auth: false)
                #expect(served.body == APIDocument.json)
                let page = try await settle.request(.GET, "/docs/api", auth: false)
                #expect(page.status == 200 && page.headers.first(name: "content-type")?.hasPrefix("text/html") == true)
                #expect(page.text.contains(#"id="createPayment""#) && page.text.contains(#"id="schema-Payment""#))
                // Nothing loaded from anywhere: no script, no stylesheet or image by address.
                #expect(!page.text.contains("<script") && !page.text.contains("<link") && !page.text.contains("src="))
                #expect(checker.failures.withLock { $0 } == [])
                #expect(checker.checked.withLock { $0 } == 53)
            }
        }
    }

    /// A validator of a response against its schema in the document, counting what it checked.
    final class Checker: Sendable {
        let settle: RunningSettle
        let validator = SchemaValidator(document: OpenAPITests.document)
        let failures = Mutex<[String]>([])
        let checked = Mutex(0)

        init(settle: RunningSettle) { self.settle = settle }

        @discardableResult
        func call(_ method: NIOHTTP1.HTTPMethod, _ path: String, _ body: String? = nil, key: String? = nil, auth: Bool = true) async throws
            -> RunningSettle.HTTPResult
        {
            let json = body ?? (method == .POST ? "{}" : nil)
            let result = try await settle.request(method, path, json: json, headers: key.map { [("idempotency-key", $0)] } ?? [], auth: auth)
            let problems = validator.check(method: method.rawValue.lowercased(), path: path, status: result.status, contentType: result.headers.first(name: "content-type"), body: result.body)
            checked.withLock { $0 += 1 }
            if !problems.isEmpty { failures.withLock { $0.append("\(method) \(path) → \(result.status): \(problems.joined(separator: "; ")) — \(result.text.prefix(300))") } }
            return result
        }
    }
}

/// Enough of JSON Schema (2020-12, as OpenAPI 3.1 uses it) to hold Settle's answers to its document: `$ref`, `type`
/// (with lists), `const`, `enum`, `properties`, `required`, `additionalProperties`, `items`, `oneOf`, `anyOf`, `allOf`,
/// `minimum`, `maximum`, `minLength`, `maxLength`.
struct SchemaValidator: Sendable {
    let document: JSONValue

    func lookup(_ reference: String) -> JSONValue? {
        guard reference.hasPrefix("#/") else { return nil }
        var current: JSONValue? = document
        for part in reference.dropFirst(2).split(separator: "/") {
            current = current?[String(part).replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")]
        }
        return current
    }

    func resolve(_ value: JSONValue) -> JSONValue {
        var value = value
        while let reference = value["$ref"]?.stringValue, let target = lookup(reference) { value = target }
        return value
    }

    /// The documented path template `concrete` matches (a literal segment before a `{parameter}`).
    func template(for concrete: String) -> String? {
        guard case .object(let paths)? = document["paths"] else { return nil }
        let segments = concrete.split(separator: "?").first.map { $0.split(separator: "/", omittingEmptySubsequences: false) } ?? []
        var best: (String, Int)?
        for (template, _) in paths {
            let parts = template.split(separator: "/", omittingEmptySubsequences: false)
            guard parts.count == segments.count else { continue }
            var literals = 0
            var matches = true
            for (part, segment) in zip(parts, segments) {
                if part.hasPrefix("{") && part.hasSuffix("}") { continue }
                if part == segment { literals += 1 } else { matches = false; break }
            }
            if matches, literals > (best?.1 ?? -1) { best = (template, literals) }
        }
        return best?.0
    }

    /// What is wrong with an answer, by its documented operation: an undocumented status, or a body off its schema.
    func check(method: String, path: String, status: Int, contentType: String?, body: [UInt8]) -> [String] {
        guard let template = template(for: path), let operation = document["paths"]?[template]?[method] else { return ["no documented operation"] }
        guard let responses = operation["responses"] else { return ["no responses"] }
        guard let documented = responses[String(status)] ?? responses["default"] else { return ["status \(status) is not documented"] }
        let response = resolve(documented)
        let type = (contentType ?? "").split(separator: ";").first.map(String.init) ?? ""
        guard let content = response["content"] else { return body.isEmpty ? [] : ["a body where none is documented"] }
        guard let media = content[type] else { return ["content type \(type) is not documented for \(status)"] }
        guard type == "application/json", let schema = media["schema"] else { return [] }
        guard let value = try? JSONValue.parse(body) else { return ["the body is not JSON"] }
        return errors(value, schema, at: "$")
    }

    func errors(_ value: JSONValue, _ schema: JSONValue, at location: String) -> [String] {
        let schema = resolve(schema)
        var found: [String] = []
        if case .array(let all)? = schema["allOf"] { for part in all { found += errors(value, part, at: location) } }
        if case .array(let choices)? = schema["oneOf"] {
            let passing = choices.filter { errors(value, $0, at: location).isEmpty }.count
            if passing != 1 { found.append("\(location): matches \(passing) of oneOf") }
        }
        if case .array(let choices)? = schema["anyOf"], !choices.contains(where: { errors(value, $0, at: location).isEmpty }) {
            found.append("\(location): matches none of anyOf")
        }
        var types: [String] = []
        switch schema["type"] {
        case .string(let type)?: types = [type]
        case .array(let list)?: types = list.compactMap(\.stringValue)
        default: break
        }
        if !types.isEmpty, !types.contains(where: { Self.has(value, type: $0) }) {
            return found + ["\(location): \(Self.describe(value)) is not \(types.joined(separator: "|"))"]
        }
        if let constant = schema["const"], constant != value { found.append("\(location): is not \(constant.serialized())") }
        if case .array(let values)? = schema["enum"], !values.contains(value) { found.append("\(location): \(value.serialized()) is not in its enum") }
        if case .int(let number) = value {
            if let minimum = schema["minimum"]?.intValue, number < minimum { found.append("\(location): below \(minimum)") }
            if let maximum = schema["maximum"]?.intValue, number > maximum { found.append("\(location): above \(maximum)") }
        }
        if case .string(let text) = value {
            if let shortest = schema["minLength"]?.intValue, text.count < shortest { found.append("\(location): shorter than \(shortest)") }
            if let longest = schema["maxLength"]?.intValue, text.count > longest { found.append("\(location): longer than \(longest)") }
        }
        if case .object(let members) = value {
            if case .array(let required)? = schema["required"] {
                for name in required.compactMap(\.stringValue) where !members.contains(where: { $0.0 == name }) {
                    found.append("\(location): \(name) is missing")
                }
            }
            let properties = schema["properties"]
            for (name, member) in members {
                if let property = properties?[name] {
                    found += errors(member, property, at: "\(location).\(name)")
                } else if let additional = schema["additionalProperties"] {
                    if additional == .bool(false) {
                        found.append("\(location): \(name) is not documented")
                    } else if additional != .bool(true) {
                        found += errors(member, additional, at: "\(location).\(name)")
                    }
                }
            }
        }
        if case .array(let items) = value, let itemSchema = schema["items"] {
            for (index, item) in items.enumerated() { found += errors(item, itemSchema, at: "\(location)[\(index)]") }
        }
        return found
    }

    static func has(_ value: JSONValue, type: String) -> Bool {
        switch (type, value) {
        case ("null", .null), ("boolean", .bool), ("integer", .int), ("number", .int), ("string", .string), ("array", .array), ("object", .object):
            true
        default:
            false
        }
    }

    static func describe(_ value: JSONValue) -> String {
        let text = value.serialized()
        return text.count > 60 ? String(text.prefix(60)) + "…" : text
    }
}
