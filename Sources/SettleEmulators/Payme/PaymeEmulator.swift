import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import SettleCore
import Synchronization

/// Plays the part of Payme (Paycom, Uzbekistan) that Settle uses, over real HTTP, so the whole flow runs offline:
/// the Subscribe API (`receipts.create`, `.check`, `.get`, `.cancel` with `X-Auth`), Payme's JSON-RPC error shape,
/// a checkout page for GET links (`/<base64 of m=…;ac.…=…;a=…>`) and receipts (`/<receipt id>`), and — when a
/// buyer pays — the Merchant API calls Payme makes to the merchant: CheckPerformTransaction, CreateTransaction,
/// PerformTransaction. Faults on request: Subscribe API failures and slow answers; lost payment notifications.
public final class PaymeEmulator: Sendable {
    public struct Configuration: Sendable {
        /// The cash desk's merchant id (the `m` of checkout links).
        public var merchantID: String
        /// The cash-desk key: Settle presents it in `X-Auth`, and Payme presents it in its Basic auth.
        public var key: String
        /// Settle's Merchant API endpoint (`/v1/webhooks/payme`); `nil` pays receipts without asking anyone.
        public var merchantURL: String?
        /// The account field configured for the cash desk.
        public var accountField = "order_id"
        public var host = "127.0.0.1"
        public var port = 12112

        public init(
            merchantID: String = "5e730e8e0b852a417aa49ceb", key: String, merchantURL: String?, accountField: String = "order_id",
            port: Int = 12112
        ) {
            self.merchantID = merchantID
            self.key = key
            self.merchantURL = merchantURL
            self.accountField = accountField
            self.port = port
        }
    }

    /// A Subscribe API receipt as the emulator keeps it.
    public struct Receipt: Sendable {
        public var id: String
        /// 0 created · 1 being paid (the merchant is being asked) · 4 paid · 50 cancelled (or refunded).
        public var state: Int
        /// In tiyin.
        public var amount: Int64
        /// The `account` object as `receipts.create` received it.
        public var account: JSONValue
        public var description: String
        public var detail: JSONValue
        /// Unix milliseconds; 0 when it has not happened.
        public var createTime: Int64
        public var payTime: Int64
        public var cancelTime: Int64
        /// The Payme transaction id the merchant was told about when the receipt was paid.
        public var transactionID: String?

        func json(merchantID: String) -> JSONValue {
            let fields: [(String, JSONValue)]
            if case .object(let members) = account { fields = members } else { fields = [] }
            return .object([
                ("_id", .string(id)), ("create_time", .int(createTime)), ("pay_time", .int(payTime)), ("cancel_time", .int(cancelTime)),
                ("state", .int(Int64(state))), ("type", .int(1)), ("external", .bool(false)), ("operation", .int(-1)),
                ("category", .null), ("error", .null), ("description", .string(description)), ("detail", detail),
                ("amount", .int(amount)), ("currency", .int(860)), ("commission", .int(0)),
                ("account", .array(fields.map { .object([("name", .string($0.0)), ("title", .string($0.0)), ("value", $0.1)]) })),
                ("card", .null), ("merchant", .object([("_id", .string(merchantID)), ("name", .string("Emulated merchant"))])),
                ("meta", .null),
            ])
        }
    }

    /// Faults to inject, changed at any time by tests.
    public struct Faults: Sendable {
        /// The next N Subscribe API calls answer HTTP 500.
        public var failNextAPICalls = 0
        /// Every Subscribe API call waits this long first.
        public var apiDelay: Duration = .zero
        public init() {}
    }

    private struct State {
        var receipts: [String: Receipt] = [:]
        var faults = Faults()
        var port: Int?
        var merchantURL: String?
    }

    public let configuration: Configuration
    let httpClient: HTTPClient
    private let state = Mutex(State())

    public init(configuration: Configuration, httpClient: HTTPClient = .shared) {
        self.configuration = configuration
        self.httpClient = httpClient
        state.withLock { $0.merchantURL = configuration.merchantURL }
    }

    /// Where Payme's Merchant API calls go; `nil` pays receipts without asking the merchant.
    public var merchantURL: String? {
        get { state.withLock { $0.merchantURL } }
        set { state.withLock { $0.merchantURL = newValue } }
    }

    public var faults: Faults {
        get { state.withLock { $0.faults } }
        set { state.withLock { $0.faults = newValue } }
    }

    public func receipt(_ id: String) -> Receipt? { state.withLock { $0.receipts[id] } }

    /// `http://host:port` once running; checkout links and receipts are paid at `baseURL/<token or receipt id>`.
    public var baseURL: String { "http://\(configuration.host):\(state.withLock { $0.port } ?? configuration.port)" }
    public var isRunning: Bool { state.withLock { $0.port } != nil }
    /// The Subscribe API endpoint.
    public var subscribeAPIURL: String { baseURL + "/api" }

    /// The emulator as a Hummingbird application (port 0 picks a free port).
    public func application(logger: Logger) -> some ApplicationProtocol {
        Application(
            router: buildRouter(),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "payme-emulator"),
            onServerRunning: { channel in self.state.withLock { $0.port = channel.localAddress?.port } },
            logger: logger
        )
    }

    func buildRouter() -> Router<BasicRequestContext> {
        let router = Router()
        router.post("api") { request, _ in try await self.subscribeAPI(request) }
        router.post("emulator/receipts/:id/pay") { request, context in
            try await self.payRoute(context.parameters.require("id"), notify: request.uri.queryParameters.get("notify") != "false")
        }
        // Checkout tokens are standard base64 and may contain "/", so they are read from the whole path.
        router.get("**") { request, _ in self.checkoutPage(Self.token(request)) }
        router.post("**") { request, _ in await self.checkoutPay(Self.token(request)) }
        return router
    }

    // MARK: - Subscribe API

    private func subscribeAPI(_ request: Request) async throws -> Response {
        let (fail, delay) = state.withLock { state -> (Bool, Duration) in
            let fail = state.faults.failNextAPICalls > 0
            if fail { state.faults.failNextAPICalls -= 1 }
            return (fail, state.faults.apiDelay)
        }
        if delay > .zero { try await Task.sleep(for: delay) }
        if fail { return Self.rpcError(id: .null, code: -32400, message: .string("System error (emulated)."), status: 500) }
        let body = Array(buffer: try await request.body.collect(upTo: 1 << 20))
        guard let envelope = (try? JSONValue.parse(body)), case .object = envelope else {
            return Self.rpcError(id: .null, code: -32700, message: .string("Parse error."))
        }
        let id = envelope["id"] ?? .null
        guard request.headers[HTTPField.Name("X-Auth")!] == "\(configuration.merchantID):\(configuration.key)" else {
            return Self.rpcError(id: id, code: -32504, message: .string("Insufficient privilege to perform this method."))
        }
        guard let method = envelope["method"]?.stringValue else {
            return Self.rpcError(id: id, code: -32600, message: .string("Invalid request: method is required."))
        }
        let params = envelope["params"] ?? .object([])
        guard case .object = params else { return Self.invalidParams(id: id, "params") }
        switch method {
        case "receipts.create":
            return createReceipt(id: id, params: params)
        case "receipts.check", "receipts.get", "receipts.cancel":
            guard let receiptID = params["id"]?.stringValue else { return Self.invalidParams(id: id, "id") }
            let receipt = state.withLock { state -> Receipt? in
                if method == "receipts.cancel", let existing = state.receipts[receiptID], existing.state != 50 {
                    state.receipts[receiptID]?.state = 50
                    state.receipts[receiptID]?.cancelTime = UnixTime.milliseconds(Date())
                }
                return state.receipts[receiptID]
            }
            guard let receipt else {
                return Self.rpcError(
                    id: id, code: -31602,
                    message: Self.localized(ru: "Чек не найден.", uz: "Chek topilmadi.", en: "Receipt not found.")
                )
            }
            if method == "receipts.check" { return Self.rpcResult(id: id, .object([("state", .int(Int64(receipt.state)))])) }
            return Self.rpcResult(id: id, .object([("receipt", receipt.json(merchantID: configuration.merchantID))]))
        default:
            return Self.rpcError(id: id, code: -32601, message: .string("Method not found."))
        }
    }

    private func createReceipt(id: JSONValue, params: JSONValue) -> Response {
        guard let amount = params["amount"]?.intValue, amount > 0 else { return Self.invalidParams(id: id, "amount") }
        guard let account = params["account"], account[configuration.accountField] != nil else {
            return Self.invalidParams(id: id, "account")
        }
        let description = params["description"] ?? .null
        guard description == .null || description.stringValue != nil else { return Self.invalidParams(id: id, "description") }
        let receipt = Receipt(
            id: PaymeObjectID.make(), state: 0, amount: amount, account: account, description: description.stringValue ?? "",
            detail: params["detail"] ?? .null, createTime: UnixTime.milliseconds(Date()), payTime: 0, cancelTime: 0
        )
        state.withLock { $0.receipts[receipt.id] = receipt }
        return Self.rpcResult(id: id, .object([("receipt", receipt.json(merchantID: configuration.merchantID))]))
    }

    static func rpcResult(id: JSONValue, _ result: JSONValue) -> Response {
        json(.object([("jsonrpc", .string("2.0")), ("id", id), ("result", result)]))
    }

    static func rpcError(id: JSONValue, code: Int64, message: JSONValue, data: JSONValue = .null, status: Int = 200) -> Response {
        let error = JSONValue.object([("code", .int(code)), ("message", message), ("data", data)])
        return json(.object([("jsonrpc", .string("2.0")), ("id", id), ("error", error)]), status: status)
    }

    static func invalidParams(id: JSONValue, _ param: String) -> Response {
        rpcError(id: id, code: -32602, message: .string("Invalid params: \(param)."), data: .string(param))
    }

    static func localized(ru: String, uz: String, en: String) -> JSONValue {
        .object([("ru", .string(ru)), ("uz", .string(uz)), ("en", .string(en))])
    }

    static func json(_ value: JSONValue, status: Int = 200) -> Response {
        Response(status: .init(code: status), headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: value.bytes())))
    }

    // MARK: - What the buyer and Payme do

    /// The buyer pays a receipt. With `notify` (and a merchant URL) Payme asks the merchant first — Check, Create,
    /// Perform with a fresh transaction id — and the receipt is paid only if the merchant accepts; without `notify`
    /// the receipt is simply marked paid (the merchant never hears of it).
    ///
    /// - Throws: ``PaymeEmulatorError/receiptNotFound(_:)``, ``PaymeEmulatorError/receiptNotPayable(_:state:)``,
    ///   ``PaymeEmulatorError/refused(_:)`` with the merchant's reply (the receipt stays at state 0), or a transport error.
    @discardableResult
    public func pay(receiptID: String, notify: Bool = true) async throws -> Receipt {
        let (receipt, merchantURL) = try state.withLock { state in
            guard let current = state.receipts[receiptID] else { throw PaymeEmulatorError.receiptNotFound(receiptID) }
            guard current.state == 0 else { throw PaymeEmulatorError.receiptNotPayable(receiptID, state: current.state) }
            state.receipts[receiptID]?.state = 1
            return (current, notify ? state.merchantURL : nil)
        }
        var transactionID: String?
        if let merchantURL {
            do {
                transactionID = try await charge(merchantURL: merchantURL, amount: receipt.amount, account: receipt.account).transactionID
            } catch {
                state.withLock { state in
                    if state.receipts[receiptID]?.state == 1 { state.receipts[receiptID]?.state = 0 }
                }
                throw error
            }
        }
        return state.withLock { state in
            if state.receipts[receiptID]?.state == 1 {
                state.receipts[receiptID]?.state = 4
                state.receipts[receiptID]?.payTime = UnixTime.milliseconds(Date())
                state.receipts[receiptID]?.transactionID = transactionID
            }
            return state.receipts[receiptID] ?? receipt
        }
    }

    /// The buyer opens a checkout URL (a GET link or `baseURL/<receipt id>`) and presses Pay.
    ///
    /// - Returns: Where the buyer is sent next (the link's `c`), if anywhere.
    /// - Throws: ``PaymeEmulatorError/badCheckout(_:)``, ``PaymeEmulatorError/noMerchantURL``,
    ///   ``PaymeEmulatorError/refused(_:)`` with the merchant's reply, or what ``pay(receiptID:notify:)`` throws.
    @discardableResult
    public func pay(checkoutURL: String) async throws -> String? {
        guard let token = PaymeCheckoutLink.token(in: checkoutURL) else { throw PaymeEmulatorError.badCheckout("no token in \(checkoutURL)") }
        return try await pay(token: token)
    }

    private func pay(token: String) async throws -> String? {
        let checkout = try self.checkout(token: token)
        if let receiptID = checkout.receiptID {
            try await pay(receiptID: receiptID)
        } else {
            guard let merchantURL = self.merchantURL else { throw PaymeEmulatorError.noMerchantURL }
            _ = try await charge(merchantURL: merchantURL, amount: checkout.amount, account: checkout.account)
        }
        return checkout.returnURL
    }

    /// What Payme asks the merchant when a buyer pays: CheckPerformTransaction, then CreateTransaction with a fresh
    /// transaction id, then PerformTransaction. A refused Perform is followed by CancelTransaction (reason 3), as
    /// Payme cancels a transaction it could not complete.
    ///
    /// - Returns: The transaction id and the merchant's PerformTransaction reply.
    /// - Throws: ``PaymeEmulatorError/refused(_:)`` with the first reply that is not a success.
    func charge(merchantURL: String, amount: Int64, account: JSONValue) async throws -> (transactionID: String, reply: PaymeReply) {
        let client = PaymeMerchantClient(merchantURL: merchantURL, key: configuration.key, httpClient: httpClient)
        let check = try await client.call("CheckPerformTransaction", params: .object([("amount", .int(amount)), ("account", account)]))
        guard check.status == 200, check.resultBool("allow") == true else { throw PaymeEmulatorError.refused(check) }
        let transactionID = PaymeObjectID.make()
        let create = try await client.call(
            "CreateTransaction",
            params: .object([
                ("id", .string(transactionID)), ("time", .int(UnixTime.milliseconds(Date()))), ("amount", .int(amount)), ("account", account),
            ])
        )
        guard create.status == 200, create.resultInt("state") == 1 else { throw PaymeEmulatorError.refused(create) }
        let perform = try await client.call("PerformTransaction", params: .object([("id", .string(transactionID))]))
        guard perform.status == 200, perform.resultInt("state") == 2 else {
            _ = try? await client.call("CancelTransaction", params: .object([("id", .string(transactionID)), ("reason", .int(3))]))
            throw PaymeEmulatorError.refused(perform)
        }
        return (transactionID, perform)
    }

    private func payRoute(_ receiptID: String, notify: Bool) async -> Response {
        do {
            let receipt = try await pay(receiptID: receiptID, notify: notify)
            return Self.json(receipt.json(merchantID: configuration.merchantID))
        } catch {
            return Self.failure(error)
        }
    }

    // MARK: - Checkout page

    /// What a checkout URL asks the buyer to pay.
    private struct Checkout {
        var amount: Int64
        var account: JSONValue
        var returnURL: String?
        /// Set when the URL names a receipt rather than carrying a GET link.
        var receiptID: String?
    }

    private func checkout(token: String) throws -> Checkout {
        if let receipt = self.receipt(token) {
            return Checkout(amount: receipt.amount, account: receipt.account, returnURL: nil, receiptID: receipt.id)
        }
        guard let link = PaymeCheckoutLink(token: token) else { throw PaymeEmulatorError.badCheckout("not a Payme checkout token") }
        guard link.merchantID == configuration.merchantID else { throw PaymeEmulatorError.badCheckout("unknown merchant \(link.merchantID)") }
        guard link.account[configuration.accountField] != nil else {
            throw PaymeEmulatorError.badCheckout("the link has no ac.\(configuration.accountField)")
        }
        return Checkout(amount: link.amount, account: .stringMap(link.account), returnURL: link.returnURL, receiptID: nil)
    }

    private func checkoutPage(_ token: String) -> Response {
        let checkout: Checkout
        do { checkout = try self.checkout(token: token) } catch { return Self.failure(error) }
        let amount = Money(minorUnits: checkout.amount, currency: .uzs).formatted()
        var fields: [(String, JSONValue)] = []
        if case .object(let members) = checkout.account { fields = members }
        let account = fields.map { field in
            "<p>\(Self.escape(field.0)) <code>\(Self.escape(field.1.stringValue ?? field.1.serialized()))</code></p>"
        }.joined()
        let receiptState = checkout.receiptID.flatMap { self.receipt($0)?.state } ?? 0
        let action = receiptState == 0
            ? #"<form method="post"><button>Pay</button></form>"#
            : "<p>This receipt is \(receiptState == 4 ? "paid" : receiptState == 50 ? "cancelled" : "in state \(receiptState)").</p>"
        return Self.html(#"<h1 id="amount">\#(amount)</h1>"# + account + action)
    }

    private func checkoutPay(_ token: String) async -> Response {
        do {
            if let returnURL = try await pay(token: token) { return Response(status: .seeOther, headers: [.location: returnURL]) }
            return Self.html(#"<h1 id="paid">Paid</h1>"#)
        } catch {
            return Self.failure(error)
        }
    }

    /// The request path without its leading slash, percent-decoded.
    static func token(_ request: Request) -> String {
        let path = String(request.uri.path.dropFirst())
        return path.removingPercentEncoding ?? path
    }

    static func html(_ body: String) -> Response {
        let page = """
            <!doctype html><html><head><meta charset="utf-8"><title>Payme emulator checkout</title>
            <style>body{font-family:system-ui;max-width:420px;margin:3rem auto}button{display:block;width:100%;margin:.5rem 0;padding:.7rem}</style>
            </head><body><p>Payme emulator · test mode</p>\(body)</body></html>
            """
        return Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: page)))
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    /// Errors as the emulator's own routes answer them: the merchant's reply as-is when it refused, text otherwise.
    static func failure(_ error: any Error) -> Response {
        let status: HTTPResponse.Status
        switch error as? PaymeEmulatorError {
        case .refused(let reply)?:
            return Response(status: .conflict, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: reply.body)))
        case .receiptNotFound?: status = .notFound
        case .receiptNotPayable?: status = .conflict
        case .badCheckout?: status = .badRequest
        case .noMerchantURL?: status = .serviceUnavailable
        case .orderNotCreated?, nil: status = .badGateway
        }
        return Response(status: status, headers: [.contentType: "text/plain; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: "\(error)\n")))
    }
}

/// What went wrong paying through the Payme emulator, or preparing its scenarios.
public enum PaymeEmulatorError: Error, Sendable, CustomStringConvertible {
    /// No receipt has this id.
    case receiptNotFound(String)
    /// The receipt is not awaiting payment (state 0).
    case receiptNotPayable(String, state: Int)
    /// A checkout URL or token Payme would not accept.
    case badCheckout(String)
    /// No merchant URL is configured to ask.
    case noMerchantURL
    /// The merchant did not accept the payment; its reply.
    case refused(PaymeReply)
    /// Settle did not create an order for the scenarios.
    case orderNotCreated(status: Int, body: String)

    public var description: String {
        switch self {
        case .receiptNotFound(let id): "No receipt \(id)."
        case .receiptNotPayable(let id, let state): "Receipt \(id) is in state \(state), not awaiting payment."
        case .badCheckout(let reason): "Bad checkout: \(reason)."
        case .noMerchantURL: "No merchant URL is configured."
        case .refused(let reply): "The merchant refused: \(reply)."
        case .orderNotCreated(let status, let body): "Settle did not create an order: HTTP \(status) \(body)"
        }
    }
}

/// A Payme GET checkout link, decoded: base64 of `m=<merchant id>;ac.<field>=<value>;a=<tiyin>[;c=<return URL>][;l=<ru|uz|en>]…`.
public struct PaymeCheckoutLink: Sendable, Equatable {
    public var merchantID: String
    /// The `ac.<field>` parameters by field.
    public var account: [String: String]
    /// In tiyin.
    public var amount: Int64
    /// `c`: where the buyer goes after paying.
    public var returnURL: String?
    /// `l`: the page language.
    public var language: String?

    /// Decodes the base64 token (standard alphabet; URL-safe characters and missing padding are tolerated).
    /// `nil` unless it carries `m`, a positive integer `a` and at least one `ac.` field.
    public init?(token: String) {
        var base64 = token.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        guard let data = Data(base64Encoded: base64), let text = String(data: data, encoding: .utf8) else { return nil }
        var account: [String: String] = [:]
        var parameters: [String: String] = [:]
        for part in text.split(separator: ";") {
            let pair = part.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard pair.count == 2 else { return nil }
            if pair[0].hasPrefix("ac.") {
                account[String(pair[0].dropFirst(3))] = String(pair[1])
            } else {
                parameters[String(pair[0])] = String(pair[1])
            }
        }
        guard let merchantID = parameters["m"], !merchantID.isEmpty, let amount = parameters["a"].flatMap({ Int64($0) }), amount > 0,
            !account.isEmpty
        else { return nil }
        self.merchantID = merchantID
        self.account = account
        self.amount = amount
        self.returnURL = parameters["c"]
        self.language = parameters["l"]
    }

    /// Decodes the token of a full checkout URL such as `https://checkout.paycom.uz/bT0…`.
    public init?(url: String) {
        guard let token = Self.token(in: url) else { return nil }
        self.init(token: token)
    }

    /// The path of a URL after its host, without the query, percent-decoded: the checkout token or receipt id.
    static func token(in url: String) -> String? {
        guard let scheme = url.range(of: "://") else { return nil }
        let token = String(url[scheme.upperBound...].drop(while: { $0 != "/" }).dropFirst().prefix(while: { $0 != "?" && $0 != "#" }))
        return token.isEmpty ? nil : token.removingPercentEncoding ?? token
    }
}
