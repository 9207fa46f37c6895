import Foundation
import NIOHTTP1
import SettleCore

/// An order as PayU's queries API reports it, with what Settle reads of its transactions.
struct PayUOrder: Sendable, Hashable {
    struct Transaction: Sendable, Hashable {
        var id: String
        /// `APPROVED`, `DECLINED`, `PENDING`, `EXPIRED`, `ERROR`.
        var state: String
        var responseCode: String?
        var responseMessage: String?
        var paymentMethod: String?
        var type: String?
    }

    var id: String
    var referenceCode: String
    /// `NEW`, `IN_PROGRESS`, `AUTHORIZED`, `CAPTURED`, `CANCELLED`, `DECLINED`, `REFUNDED`, `CHARGEBACK`.
    var status: String?
    /// `TX_VALUE` as PayU wrote it (a JSON number: `65000` or `65000.00`), and its currency.
    var value: String?
    var currency: String?
    var transactions: [Transaction]
    /// PayU's own mark of a test transaction: never acted on for a live account.
    var isTest: Bool

    init?(_ json: JSONValue) {
        guard json.isObject, let id = PayUAPI.text(json["id"]), let reference = json["referenceCode"]?.stringValue else { return nil }
        self.id = id
        self.referenceCode = reference
        self.status = json["status"]?.stringValue
        self.isTest = json["isTest"] == .bool(true)
        let value = json["additionalValues"]?["TX_VALUE"]
        self.value = PayUAPI.text(value?["value"])
        self.currency = value?["currency"]?.stringValue
        self.transactions = (json["transactions"]?.arrayValue ?? []).compactMap { item in
            guard let id = PayUAPI.text(item["id"]), let state = item["transactionResponse"]?["state"]?.stringValue else { return nil }
            return Transaction(
                id: id, state: state, responseCode: item["transactionResponse"]?["responseCode"]?.stringValue,
                responseMessage: item["transactionResponse"]?["responseMessage"]?.stringValue,
                paymentMethod: item["paymentMethod"]?.stringValue, type: item["type"]?.stringValue
            )
        }
    }

    /// The transaction that decides the order: an approved payment wins, then a pending one, then the latest other.
    var decisive: Transaction? {
        let payments = transactions.filter { $0.type == nil || $0.type == "AUTHORIZATION_AND_CAPTURE" || $0.type == "CAPTURE" }
        return payments.first { $0.state == "APPROVED" } ?? payments.first { $0.state == "PENDING" } ?? payments.last
    }
}

/// What `SUBMIT_TRANSACTION` answered.
struct PayUTransactionResponse: Sendable, Hashable {
    var orderID: String
    var transactionID: String?
    var state: String
    var responseCode: String?
    var message: String?
    /// `extraParameters`, every value as text (PayU writes `REFERENCE` and `EXPIRATION_DATE` as numbers).
    var extra: [String: String]
}

/// Calls to PayU's Payments API and queries (reports) API: one JSON `service.cgi` endpoint each, with the command in the
/// body and the ApiKey and ApiLogin in its `merchant` object. PayU answers HTTP 200 with `"code": "ERROR"` and an
/// `error` text for a refused command; that becomes a typed error whose message is PayU's text, never the request.
/// `SUBMIT_TRANSACTION` takes no idempotency key, so it is never retried blindly: a failed one is looked up by its
/// reference code instead (the sweep does).
struct PayUAPI: Sendable {
    let apiBase: String
    let reportsBase: String
    let apiKey: Secret
    let apiLogin: Secret
    let test: Bool
    let client: ProviderClient

    /// `SUBMIT_TRANSACTION` (sent once).
    func submit(_ transaction: JSONValue) async throws(ProviderError) -> PayUTransactionResponse {
        let answer = try await call(apiBase, command: "SUBMIT_TRANSACTION", [("transaction", transaction)], retryable: false)
        let response = answer["transactionResponse"]
        guard let response, response.isObject, let orderID = Self.text(response["orderId"]), let state = response["state"]?.stringValue else {
            throw ProviderError(.unavailable, "PayU's answer has no transaction response.")
        }
        var extra: [String: String] = [:]
        if case .object(let members)? = response["extraParameters"] {
            for (name, value) in members.prefix(32) { extra[name] = Self.text(value) }
        }
        return PayUTransactionResponse(
            orderID: orderID, transactionID: Self.text(response["transactionId"]), state: state,
            responseCode: response["responseCode"]?.stringValue,
            message: response["responseMessage"]?.stringValue ?? response["paymentNetworkResponseErrorMessage"]?.stringValue, extra: extra
        )
    }

    /// `GET_BANKS_LIST` for PSE in Colombia, as `{code, name}`, without PayU's placeholder entry (`pseCode` `0`).
    func pseBanks() async throws(ProviderError) -> [JSONValue] {
        let answer = try await call(
            apiBase, command: "GET_BANKS_LIST",
            [("bankListInformation", .object([("paymentMethod", .string("PSE")), ("paymentCountry", .string("CO"))]))], retryable: true
        )
        guard let banks = answer["banks"]?.arrayValue else { throw ProviderError(.unavailable, "PayU's bank list is not a list.") }
        return banks.compactMap { bank -> JSONValue? in
            guard let code = Self.text(bank["pseCode"]), code != "0", let name = bank["description"]?.stringValue else { return nil }
            return .object([("code", .string(code)), ("name", .string(name))])
        }
    }

    /// `ORDER_DETAIL_BY_REFERENCE_CODE`: every order PayU holds for one of Settle's payments (none: an empty `payload` or
    /// a `null` result). A refusal (`code: ERROR`) is an error, never "no order": expiring a payment on an error PayU
    /// returns for any reason could expire one it holds as approved.
    func orders(referenceCode: String) async throws(ProviderError) -> [PayUOrder] {
        let answer = try await call(
            reportsBase, command: "ORDER_DETAIL_BY_REFERENCE_CODE", [("details", .object([("referenceCode", .string(referenceCode))]))],
            retryable: true
        )
        return Self.orders(answer)
    }

    /// `ORDER_DETAIL`: one order by PayU's id; `nil` when PayU does not know it.
    func order(id: String) async throws(ProviderError) -> PayUOrder? {
        guard let number = Int64(id) else { return nil }
        let answer = try await call(reportsBase, command: "ORDER_DETAIL", [("details", .object([("orderId", .int(number))]))], retryable: true)
        guard let payload = answer["result"]?["payload"], payload.isObject else { return nil }
        return PayUOrder(payload)
    }

    static func orders(_ answer: JSONValue) -> [PayUOrder] {
        guard let payload = answer["result"]?["payload"] else { return [] }
        if payload.isObject { return PayUOrder(payload).map { [$0] } ?? [] }
        return (payload.arrayValue ?? []).compactMap(PayUOrder.init)
    }

    /// One command. A transport failure, a 5xx or a 429 is `unavailable` (retried when `retryable`); `code: ERROR`
    /// is `rejected` with PayU's words.
    private func call(_ url: String, command: String, _ members: [(String, JSONValue)], retryable: Bool) async throws(ProviderError) -> JSONValue {
        let body = JSONValue.object(
            [
                ("language", .string("es")), ("command", .string(command)), ("test", .bool(test)),
                ("merchant", .object([("apiKey", .string(apiKey.value)), ("apiLogin", .string(apiLogin.value))])),
            ] + members
        )
        let response = try await client.send(
            .init(.POST, url, headers: [("content-type", "application/json"), ("accept", "application/json")], body: body.bytes(), retryable: retryable),
            describe: { response, code in ProviderError(code, "PayU answered HTTP \(response.status).") }
        )
        guard let parsed = try? JSONValue.parse(response.body), parsed.isObject else {
            throw ProviderError(.unavailable, "PayU answered with something that is not JSON.")
        }
        guard parsed["code"]?.stringValue == "SUCCESS" else {
            let error = parsed["error"]?.stringValue ?? "no reason given"
            throw ProviderError(.rejected, providerCode: "ERROR", "PayU refused \(command): \(Text.echo(error, limit: 300))")
        }
        return parsed
    }

    /// A JSON string or integer as text (PayU writes ids as either); a fractional number keeps its literal.
    static func text(_ value: JSONValue?) -> String? {
        switch value {
        case .string(let text)?: text
        case .int(let number)?: String(number)
        default: nil
        }
    }
}
