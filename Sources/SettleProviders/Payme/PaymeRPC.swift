import SettleCore

/// A Merchant API error as Payme expects it: a code, a message in Russian, Uzbek and English, and for account
/// errors the name of the offending account field in `data`.
struct PaymeError: Error, Sendable, Hashable {
    let code: Int64
    let ru: String
    let uz: String
    let en: String
    var data: String?

    static let wrongHTTPMethod = PaymeError(
        code: -32300, ru: "Метод запроса должен быть POST.", uz: "So'rov usuli POST bo'lishi kerak.", en: "The request method must be POST."
    )
    static let unparsable = PaymeError(
        code: -32700, ru: "Ошибка разбора JSON.", uz: "JSON tahlilida xatolik.", en: "The body is not valid JSON."
    )
    static func invalidRequest(_ field: String) -> PaymeError {
        PaymeError(
            code: -32600, ru: "Отсутствуют обязательные поля или неверный тип поля.",
            uz: "Majburiy maydonlar yo'q yoki maydon turi noto'g'ri.", en: "A required field is missing or has the wrong type.",
            data: field
        )
    }
    static let methodNotFound = PaymeError(
        code: -32601, ru: "Запрашиваемый метод не найден.", uz: "So'ralgan usul topilmadi.", en: "The requested method was not found."
    )
    static let insufficientPrivilege = PaymeError(
        code: -32504, ru: "Недостаточно привилегий для выполнения метода.", uz: "Usulni bajarish uchun imtiyozlar yetarli emas.",
        en: "Insufficient privilege to perform this method."
    )
    static let internalError = PaymeError(
        code: -32400, ru: "Внутренняя ошибка системы.", uz: "Tizimning ichki xatosi.", en: "Internal system error; retry later."
    )
    static let wrongAmount = PaymeError(
        code: -31001, ru: "Неверная сумма.", uz: "Noto'g'ri summa.", en: "The amount does not match the order."
    )
    static let transactionNotFound = PaymeError(
        code: -31003, ru: "Транзакция не найдена.", uz: "Tranzaksiya topilmadi.", en: "Transaction not found."
    )
    static let cannotCancel = PaymeError(
        code: -31007, ru: "Заказ выполнен. Невозможно отменить транзакцию.", uz: "Buyurtma bajarilgan. Tranzaksiyani bekor qilib bo'lmaydi.",
        en: "The order is fulfilled; the transaction cannot be cancelled."
    )
    static let cannotPerform = PaymeError(
        code: -31008, ru: "Невозможно выполнить данную операцию.", uz: "Ushbu amalni bajarib bo'lmaydi.",
        en: "The operation is not possible in the transaction's current state."
    )
    static func orderNotFound(_ field: String) -> PaymeError {
        PaymeError(code: -31050, ru: "Заказ не найден.", uz: "Buyurtma topilmadi.", en: "Order not found.", data: field)
    }
    static func orderNotPayable(_ field: String) -> PaymeError {
        PaymeError(
            code: -31051, ru: "Заказ не может быть оплачен.", uz: "Buyurtmani to'lab bo'lmaydi.", en: "The order cannot be paid.",
            data: field
        )
    }
    static func orderBusy(_ field: String) -> PaymeError {
        PaymeError(
            code: -31099, ru: "Заказ уже оплачивается или оплачен.", uz: "Buyurtma to'lanmoqda yoki to'langan.",
            en: "The order is already being paid or is paid.", data: field
        )
    }

    var json: JSONValue {
        .object([
            ("code", .int(code)),
            ("message", .object([("ru", .string(ru)), ("uz", .string(uz)), ("en", .string(en))])),
            ("data", .string(data)),
        ])
    }
}

/// JSON-RPC framing of the Merchant API: always HTTP 200, the request's `id` echoed.
enum PaymeRPC {
    static func result(_ result: JSONValue, id: JSONValue) -> ProviderAnswer {
        answer(.object([("jsonrpc", .string("2.0")), ("id", id), ("result", result)]))
    }

    static func error(_ error: PaymeError, id: JSONValue) -> ProviderAnswer {
        answer(.object([("jsonrpc", .string("2.0")), ("id", id), ("error", error.json)]))
    }

    private static func answer(_ body: JSONValue) -> ProviderAnswer {
        ProviderAnswer(status: 200, contentType: "application/json; charset=utf-8", body: body.bytes())
    }
}

/// A Merchant API call as read before it is authenticated: parsed in time linear in its size, nothing trusted yet.
struct PaymeCall: Sendable {
    static let methods: Set<String> = [
        "CheckPerformTransaction", "CreateTransaction", "PerformTransaction", "CancelTransaction", "CheckTransaction",
        "GetStatement", "ChangePassword", "SetFiscalData",
    ]

    let request: JSONValue
    /// The call's `id` echoed in the answer (an integer or a string; `null` otherwise).
    let id: JSONValue
    let method: String?
    let params: PaymeParams

    /// Throws `-32700` for anything that is not JSON.
    init(body: [UInt8]) throws(PaymeError) {
        do {
            request = try JSONValue.parse(body)
        } catch {
            throw .unparsable
        }
        id =
            switch request["id"] {
            case .some(.int(let value)): .int(value)
            case .some(.string(let value)): .string(value)
            default: .null
            }
        method = request["method"]?.stringValue
        params = PaymeParams(value: request["params"] ?? .null)
    }

    /// What the stored call is filed under.
    var eventType: String { method.map { Self.methods.contains($0) ? $0 : "unknown_method" } ?? "invalid_request" }

    /// The method, once the call's shape is right (`-32600` naming what is wrong, `-32601` for an unknown method).
    func validMethod() throws(PaymeError) -> String {
        guard request.isObject else { throw .invalidRequest("request") }
        guard id != .null else { throw .invalidRequest("id") }
        guard let method else { throw .invalidRequest("method") }
        guard Self.methods.contains(method) else { throw .methodNotFound }
        guard params.value.isObject else { throw .invalidRequest("params") }
        return method
    }
}

/// Typed access to a call's `params`, each failure naming the field for `-32600`.
struct PaymeParams {
    let value: JSONValue

    func string(_ name: String) throws(PaymeError) -> String {
        guard let string = value[name]?.stringValue, !string.isEmpty, string.count <= 200 else { throw .invalidRequest(name) }
        return string
    }

    func integer(_ name: String) throws(PaymeError) -> Int64 {
        guard let integer = value[name]?.intValue else { throw .invalidRequest(name) }
        return integer
    }

    /// A Unix time in milliseconds within what Settle accepts from outside (year 0 to 9999), so the 12-hour arithmetic
    /// on it can never overflow; anything else is `-32600` naming the field.
    func time(_ name: String) throws(PaymeError) -> Int64 {
        guard let time = value[name]?.intValue, (0...(UnixTime.maximumSeconds * 1000)).contains(time) else {
            throw .invalidRequest(name)
        }
        return time
    }

    /// A positive amount in tiyin.
    func amount() throws(PaymeError) -> Int64 {
        guard let amount = value["amount"]?.intValue, amount > 0 else { throw .invalidRequest("amount") }
        return amount
    }

    /// The account object's fields, as strings (Payme sends them as strings, or numbers for numeric fields).
    func account() throws(PaymeError) -> [String: String] {
        guard case .object(let members) = value["account"] ?? .null else { throw .invalidRequest("account") }
        var account: [String: String] = [:]
        for (name, member) in members {
            switch member {
            case .string(let string): account[name] = string
            case .int(let integer): account[name] = String(integer)
            default: throw .invalidRequest("account.\(name)")
            }
        }
        return account
    }

    func object(_ name: String) throws(PaymeError) -> JSONValue {
        guard let member = value[name], member.isObject else { throw .invalidRequest(name) }
        return member
    }
}
