import Foundation
import NIOHTTP1
import SettleCore

/// A Wompi transaction, as Settle reads it from the API or an event.
struct WompiTransaction: Sendable, Hashable {
    var id: String
    var status: String
    var statusMessage: String?
    var amountInCents: Int64?
    var currency: String?
    var reference: String?
    var paymentMethodType: String?
    /// Where the bank or wallet takes the buyer (PSE, Bancolombia transfer); appears a moment after creation.
    var asyncPaymentURL: String?

    /// Reads `data.transaction` of an event or `data` of an API answer. Amounts must be JSON integers.
    init?(_ value: JSONValue?) {
        guard let value, value.isObject, let id = value["id"]?.stringValue, !id.isEmpty, let status = value["status"]?.stringValue
        else { return nil }
        self.id = id
        self.status = status
        self.statusMessage = value["status_message"]?.stringValue
        self.amountInCents = value["amount_in_cents"]?.intValue
        self.currency = value["currency"]?.stringValue
        self.reference = value["reference"]?.stringValue
        self.paymentMethodType = value["payment_method_type"]?.stringValue ?? value["payment_method"]?["type"]?.stringValue
        self.asyncPaymentURL = value["payment_method"]?["extra"]?["async_payment_url"]?.stringValue
    }
}

/// Calls to Wompi's API through the shared ``ProviderClient``: the public key for the merchant's acceptance tokens
/// and the PSE banks, the private key for transactions; Wompi's error object as a typed error. Wompi takes no
/// idempotency key, so a create is never retried blindly: a failed one is looked up by its reference instead.
struct WompiAPI: Sendable {
    let base: String
    let publicKey: String
    let privateKey: Secret
    let client: ProviderClient

    /// The merchant's current acceptance tokens: the terms (`presigned_acceptance`) and the personal-data policy
    /// (`presigned_personal_data_auth`), which a transaction created through the API must carry.
    func acceptanceTokens() async throws(ProviderError) -> (acceptance: String, personalData: String?) {
        let data = try await get("/merchants/\(Self.escape(publicKey))", key: publicKey)
        guard let acceptance = data["presigned_acceptance"]?["acceptance_token"]?.stringValue, !acceptance.isEmpty else {
            throw ProviderError(.unavailable, "Wompi's merchant answer has no acceptance token.")
        }
        return (acceptance, data["presigned_personal_data_auth"]?["acceptance_token"]?.stringValue)
    }

    /// `POST /transactions`: never sent twice (no idempotency key at Wompi).
    func createTransaction(_ body: JSONValue) async throws(ProviderError) -> WompiTransaction {
        let data = try await send(.POST, "/transactions", key: privateKey.value, body: body.bytes(), retryable: false)
        guard let transaction = WompiTransaction(data) else {
            throw ProviderError(.unavailable, "Wompi answered with something that is not a transaction.")
        }
        return transaction
    }

    /// `GET /transactions/{id}`; `nil` when Wompi does not know it.
    func transaction(id: String) async throws(ProviderError) -> WompiTransaction? {
        let data: JSONValue
        do {
            data = try await get("/transactions/\(Self.escape(id))", key: privateKey.value)
        } catch where error.code == .rejected && error.providerCode == "NOT_FOUND_ERROR" {
            return nil
        }
        guard let transaction = WompiTransaction(data) else {
            throw ProviderError(.unavailable, "Wompi answered with something that is not a transaction.")
        }
        return transaction
    }

    /// `POST /transactions/{id}/void`: cancels an approved card transaction in full (Wompi's only refund). Sent once:
    /// Wompi takes no idempotency key, and a second void of a voided transaction is refused anyway.
    func void(id: String) async throws(ProviderError) -> WompiTransaction? {
        let data = try await send(.POST, "/transactions/\(Self.escape(id))/void", key: privateKey.value, body: Array("{}".utf8), retryable: false)
        return WompiTransaction(data["transaction"] ?? data)
    }

    /// `GET /transactions?reference=…`: every transaction made for one of Settle's payments.
    func transactions(reference: String) async throws(ProviderError) -> [WompiTransaction] {
        let data = try await get("/transactions?reference=\(Self.escape(reference))", key: privateKey.value)
        guard let items = data.arrayValue else { throw ProviderError(.unavailable, "Wompi's transaction list is not a list.") }
        return items.compactMap(WompiTransaction.init)
    }

    /// `GET /pse/financial_institutions` (public key): the banks PSE offers, as `{code, name}`.
    func pseBanks() async throws(ProviderError) -> [JSONValue] {
        let data = try await get("/pse/financial_institutions", key: publicKey)
        guard let items = data.arrayValue else { throw ProviderError(.unavailable, "Wompi's bank list is not a list.") }
        return items.compactMap { item -> JSONValue? in
            guard let code = item["financial_institution_code"]?.stringValue, let name = item["financial_institution_name"]?.stringValue
            else { return nil }
            return .object([("code", .string(code)), ("name", .string(name))])
        }
    }

    private func get(_ path: String, key: String) async throws(ProviderError) -> JSONValue {
        try await send(.GET, path, key: key, body: nil, retryable: true)
    }

    /// The answer's `data`.
    private func send(_ method: HTTPMethod, _ path: String, key: String, body: [UInt8]?, retryable: Bool) async throws(ProviderError)
        -> JSONValue
    {
        var headers = [("authorization", "Bearer \(key)"), ("accept", "application/json")]
        if body != nil { headers.append(("content-type", "application/json")) }
        let response = try await client.send(.init(method, base + path, headers: headers, body: body, retryable: retryable), describe: Self.error)
        guard let parsed = try? JSONValue.parse(response.body), let data = parsed["data"] else {
            throw ProviderError(.unavailable, "Wompi answered with something that is not JSON with data.")
        }
        return data
    }

    static func escape(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(.init(charactersIn: "-_."))) ?? ""
    }

    /// Wompi's error object (`{"error":{"type":…,"reason":…}}` or `{"error":{"type":…,"messages":{field:[…]}}}`) as a
    /// typed error: its type as the provider code, its reason or field messages as the message (bounded).
    static func error(from response: ProviderClient.Response, code: ProviderError.Code) -> ProviderError {
        guard let parsed = try? JSONValue.parse(response.body), let error = parsed["error"], error.isObject else {
            return ProviderError(code, "Wompi answered \(response.status).")
        }
        let type = error["type"]?.stringValue
        var details: [String] = []
        if let reason = error["reason"]?.stringValue { details.append(reason) }
        if case .object(let fields)? = error["messages"] {
            for (field, messages) in fields.prefix(5) {
                let texts = (messages.arrayValue ?? [messages]).compactMap(\.stringValue)
                details.append("\(field): \(texts.joined(separator: ", "))")
            }
        }
        let detail = details.isEmpty ? "" : ": \(Text.echo(details.joined(separator: "; "), limit: 300))"
        return ProviderError(code, providerCode: type, "Wompi answered \(response.status) \(type ?? "")\(detail)")
    }
}
