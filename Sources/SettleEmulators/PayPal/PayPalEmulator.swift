import AsyncHTTPClient
import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore
import NIOHTTP1
import NIOSSL
import SettleCore
import SwiftASN1
import Synchronization
import X509
import _CryptoExtras

/// Plays the part of PayPal that Settle uses, over real HTTP, so that the official server SDK runs against it
/// unchanged: OAuth 2 client-credentials tokens (which expire on the server too), Orders v2 (create, read, capture)
/// with `PayPal-Request-Id` idempotency and `Prefer`, captures and refunds, PayPal's error objects, a buyer's approval
/// page, and webhook events signed as PayPal signs them (SHA256withRSA over `id|time|webhook_id|crc32`).
///
/// It is its own PKI: at start it issues a root CA, the signing certificate (CN `messageverificationcerts.paypal.com`,
/// served over HTTPS on a second listener like PayPal's `PAYPAL-CERT-URL`) and that listener's TLS certificate, so
/// Settle's offline verification runs in full when it trusts ``caCertificatePEM``.
///
/// Everything here is written from PayPal's documents and SDK, not from Settle's adapter, so a bug on one side cannot
/// cancel one on the other. Faults: certificates a verifier must refuse (foreign host, plain HTTP, expired, another CA,
/// another subject), altered bodies, bad signatures, stale transmissions; failed API calls; pending, denied and
/// declined captures; tokens that expire early. No card data exists here: buyers pay "with PayPal" on the page.
public final class PayPalEmulator: Sendable {
    public struct Configuration: Sendable {
        /// The REST app's client id Settle must present (HTTP Basic user on `/v1/oauth2/token`).
        public var clientID: String
        public var clientSecret: String
        /// The id of the webhook Settle registered: part of every signed string.
        public var webhookID: String
        /// Where events go (Settle's `/v1/webhooks/paypal`); `nil` drops them.
        public var webhookURL: String?
        public var host = "127.0.0.1"
        /// The API's port (0: the kernel picks one, learned once running).
        public var port = 12114
        /// The HTTPS certificate listener's port (0: the kernel picks one).
        public var certPort = 0
        /// The host name in `PAYPAL-CERT-URL` and in the TLS certificate (with IP 127.0.0.1).
        public var certHost = "localhost"

        public init(
            clientID: String, clientSecret: String, webhookID: String, webhookURL: String?, port: Int = 12114, certPort: Int = 0,
            certHost: String = "localhost"
        ) {
            self.clientID = clientID
            self.clientSecret = clientSecret
            self.webhookID = webhookID
            self.webhookURL = webhookURL
            self.port = port
            self.certPort = certPort
            self.certHost = certHost
        }
    }

    /// A decimal amount as PayPal writes it (`"10.00"`, `"1000"` for JPY), kept in minor units.
    public struct Amount: Sendable, Hashable {
        /// Upper-case ISO 4217.
        public var currency: String
        public var minorUnits: Int64

        public init(currency: String, minorUnits: Int64) {
            self.currency = currency
            self.minorUnits = minorUnits
        }

        /// The decimal string with exactly the currency's decimals.
        public var value: String { PayPalEmulator.format(minorUnits, currency: currency) }

        var json: JSONValue { .object([("currency_code", .string(currency)), ("value", .string(value))]) }
    }

    /// An order as the emulator keeps it (one purchase unit).
    public struct Order: Sendable, Hashable {
        public var id: String
        /// `CAPTURE` or `AUTHORIZE` (authorize flows are not emulated: capturing one answers `ACTION_DOES_NOT_MATCH_INTENT`).
        public var intent: String
        /// `CREATED`, `PAYER_ACTION_REQUIRED`, `APPROVED`, `COMPLETED`.
        public var status: String
        public var amount: Amount
        public var referenceID: String
        public var customID: String?
        public var invoiceID: String?
        public var description: String?
        public var returnURL: String?
        public var cancelURL: String?
        /// Created with `payment_source.paypal` (new style: `payer-action`) rather than without (`approve`).
        public var paypalSource: Bool
        /// Set when the buyer approves.
        public var payerID: String?
        public var captureID: String?
        public var createdAt: Date
        public var updatedAt: Date
    }

    /// A capture: `COMPLETED`, `PENDING`, `DECLINED`, then `PARTIALLY_REFUNDED` or `REFUNDED`.
    public struct Capture: Sendable, Hashable {
        public var id: String
        public var orderID: String
        public var status: String
        public var amount: Amount
        public var customID: String?
        public var invoiceID: String?
        public var refundedMinorUnits: Int64
        public var createdAt: Date
        public var updatedAt: Date
    }

    /// A refund of a capture (always `COMPLETED`).
    public struct Refund: Sendable, Hashable {
        public var id: String
        public var captureID: String
        public var status: String
        public var amount: Amount
        /// What the capture had refunded once this refund was made.
        public var totalRefundedMinorUnits: Int64
        public var invoiceID: String?
        public var customID: String?
        public var noteToPayer: String?
        public var createdAt: Date
    }

    /// What the next captures do.
    public enum CaptureOutcome: Sendable, Hashable {
        /// `COMPLETED`, event `PAYMENT.CAPTURE.COMPLETED`.
        case completed
        /// `PENDING` (`PENDING_REVIEW`), event `PAYMENT.CAPTURE.PENDING`; see ``resolvePendingCapture(_:completed:)``.
        case pending
        /// `DECLINED`, event `PAYMENT.CAPTURE.DENIED` (the order still ends `COMPLETED`).
        case declined
        /// 422 `INSTRUMENT_DECLINED`: no capture, the order stays `APPROVED`.
        case instrumentDeclined
    }

    /// Ways a webhook delivery can be wrong; each is one check a verifier must make.
    public enum Fault: Sendable, Hashable, CaseIterable {
        /// `PAYPAL-CERT-URL` on `https://127.0.0.1` (a host not allowed), serving the good certificate.
        case foreignCertHost
        /// `PAYPAL-CERT-URL` with `http://`, serving the good certificate.
        case httpCertURL
        /// `PAYPAL-CERT-URL` on the allowed host, answering a redirect to the good certificate on a host not allowed.
        case redirectedCertURL
        /// Signed by a leaf from the trusted CA whose validity ended yesterday.
        case expiredCertificate
        /// Signed by a leaf from another CA, served with that CA (a verifier must not trust what the URL sends).
        case otherCA
        /// Signed by a leaf from the trusted CA with CN `evil.example.com`.
        case notPayPalSubject
        /// The body is changed after signing (its CRC32 no longer matches).
        case alteredBody
        /// The signature is made with another key than the certificate's.
        case badSignature
        /// `PAYPAL-TRANSMISSION-TIME` an hour old, correctly signed.
        case staleTransmission
    }

    /// A signed event ready to post.
    public struct Delivery: Sendable {
        /// The event's `WH-…` id.
        public var id: String
        public var eventType: String
        public var fault: Fault?
        public var headers: [(String, String)]
        public var body: [UInt8]

        public func header(_ name: String) -> String? {
            headers.first { $0.0.lowercased() == name.lowercased() }?.1
        }
    }

    /// A delivery made: the event, and Settle's HTTP status (0 when the connection failed).
    public struct SentEvent: Sendable, Hashable {
        public var id: String
        public var eventType: String
        public var fault: Fault?
        public var status: Int
    }

    /// A PayPal error: `{"name","message","debug_id","details":[{field,value,location,issue,description}],"links"}`.
    struct APIError: Error {
        struct Detail: Sendable {
            var field: String?
            var value: String?
            var location: String?
            var issue: String
            var description: String
        }

        var status: Int
        var name: String
        var message: String
        var details: [Detail] = []
        /// The documentation section of the error links: `orders/v2` or `payments/v2`.
        var api = "orders/v2"
        var extraLinks: [JSONValue] = []

        static func invalid(_ issue: String, field: String?, value: String? = nil, _ description: String, api: String = "orders/v2") -> APIError {
            APIError(
                status: 400, name: "INVALID_REQUEST", message: "Request is not well-formed, syntactically incorrect, or violates schema.",
                details: [Detail(field: field, value: value, location: field == nil ? nil : "body", issue: issue, description: description)], api: api
            )
        }

        static func unprocessable(
            _ issue: String, field: String? = nil, value: String? = nil, _ description: String, api: String = "orders/v2",
            links: [JSONValue] = []
        ) -> APIError {
            APIError(
                status: 422, name: "UNPROCESSABLE_ENTITY",
                message: "The requested action could not be performed, semantically incorrect, or failed business validation.",
                details: [Detail(field: field, value: value, location: field == nil ? nil : "body", issue: issue, description: description)],
                api: api, extraLinks: links
            )
        }

        static func notFound(field: String, value: String, api: String = "orders/v2") -> APIError {
            APIError(
                status: 404, name: "RESOURCE_NOT_FOUND", message: "The specified resource does not exist.",
                details: [
                    Detail(
                        field: field, value: value, location: "path", issue: "INVALID_RESOURCE_ID",
                        description: "Specified resource ID does not exist. Please check the resource ID and try again."
                    )
                ],
                api: api
            )
        }

        static var authentication: APIError {
            APIError(
                status: 401, name: "AUTHENTICATION_FAILURE",
                message: "Authentication failed due to invalid authentication credentials or a missing Authorization header."
            )
        }

        static var internalError: APIError {
            APIError(status: 500, name: "INTERNAL_SERVER_ERROR", message: "An internal server error has occurred. (emulated)")
        }

        func json(debugID: String) -> JSONValue {
            let href = details.first.map { "https://developer.paypal.com/docs/api/\(api)/#error-\($0.issue)" }
                ?? "https://developer.paypal.com/docs/api/overview/#error"
            let items = details.map { detail -> JSONValue in
                var members: [(String, JSONValue)] = []
                if let field = detail.field { members.append(("field", .string(field))) }
                if let value = detail.value { members.append(("value", .string(value))) }
                if let location = detail.location { members.append(("location", .string(location))) }
                members += [("issue", .string(detail.issue)), ("description", .string(detail.description))]
                return .object(members)
            }
            return .object([
                ("name", .string(name)), ("message", .string(message)), ("debug_id", .string(debugID)), ("details", .array(items)),
                ("links", .array([PayPalEmulator.link(href, "information_link", "GET")] + extraLinks)),
            ])
        }
    }

    /// An API answer before it becomes a response.
    struct Answer: Sendable {
        var status: Int
        var body: JSONValue
    }

    /// How much of an order an answer shows (`Prefer: return=minimal` or `return=representation`).
    enum Shape {
        /// `id`, `status`, `payment_source`, `links`: create's default.
        case minimal
        /// Also `purchase_units[].payments` and `payer`: capture's default.
        case captured
        /// The whole order: GET, and `return=representation`.
        case full
    }

    /// The three RSA keys, made once per process (2048-bit generation is slow in debug builds); certificates are
    /// issued per emulator.
    private struct Keys: Sendable {
        var authority: _RSA.Signing.PrivateKey
        var otherAuthority: _RSA.Signing.PrivateKey
        var signing: _RSA.Signing.PrivateKey
    }

    private static let keys = Result<Keys, any Error> {
        Keys(
            authority: try _RSA.Signing.PrivateKey(keySize: .bits2048),
            otherAuthority: try _RSA.Signing.PrivateKey(keySize: .bits2048),
            signing: try _RSA.Signing.PrivateKey(keySize: .bits2048)
        )
    }

    /// The certificates: the trusted CA, what each certificate path serves, and the HTTPS listener's TLS setup.
    struct PKI: Sendable {
        var caPEM: String
        /// Certificate name (last path component) → the PEM served.
        var served: [String: String]
        var tls: TLSConfiguration
        var signingKey: _RSA.Signing.PrivateKey
        /// Signs ``Fault/badSignature`` deliveries.
        var otherKey: _RSA.Signing.PrivateKey
    }

    private struct State {
        var orders: [String: Order] = [:]
        var captures: [String: Capture] = [:]
        var refunds: [String: Refund] = [:]
        /// Access token → when it expires.
        var tokens: [String: Date] = [:]
        var tokenRequests = 0
        var expiresIn: Int64 = 32_400
        /// `path request-id` → the first answer's body.
        var idempotency: [String: JSONValue] = [:]
        var port: Int?
        var certPort: Int?
        var webhookURL: String?
        var webhookFault: Fault?
        var captureOutcome = CaptureOutcome.completed
        var failNextAPICalls = 0
        var apiCalls: [String] = []
        var requestIDs: [String] = []
        var certificateFetches: [String] = []
        var sentEvents: [SentEvent] = []
        var pendingDeliveries: [Task<Void, Never>] = []
    }

    /// The currencies PayPal accepts.
    public static let currencies: Set<String> = [
        "AUD", "BRL", "CAD", "CNY", "CZK", "DKK", "EUR", "HKD", "HUF", "ILS", "JPY", "MYR", "MXN", "TWD", "NZD", "NOK", "PHP",
        "PLN", "GBP", "SGD", "SEK", "CHF", "THB", "USD",
    ]
    /// Those without decimals (every other one has exactly two).
    public static let zeroDecimalCurrencies: Set<String> = ["HUF", "JPY", "TWD"]
    public static let certificatesPath = "/v1/notifications/certs/"
    /// The good signing certificate's name, PayPal style.
    public static let signingCertificateName = "CERT-360caa42-fca2a594-emulated"
    static let expiredCertificateName = "CERT-360caa42-fca2a594-expired"
    static let otherCACertificateName = "CERT-360caa42-fca2a594-other-ca"
    static let notPayPalCertificateName = "CERT-360caa42-fca2a594-not-paypal"
    static let redirectCertificateName = "CERT-360caa42-fca2a594-moved"
    static let requestIDHeader = HTTPField.Name("PayPal-Request-Id")
    static let preferHeader = HTTPField.Name("Prefer")
    static let debugIDHeader = HTTPField.Name("Paypal-Debug-Id")
    static let payee: JSONValue = .object([("email_address", .string("merchant@example.com")), ("merchant_id", .string("EMULATEDMERCH"))])

    let configuration: Configuration
    let httpClient: HTTPClient
    let pki: PKI
    let certificateServer: HTTPServerBuilder
    private let state = Mutex(State())

    /// Issues the certificates (throws only if the crypto library fails).
    public init(configuration: Configuration, httpClient: HTTPClient = .shared) throws {
        self.configuration = configuration
        self.httpClient = httpClient
        let pki = try Self.makePKI(keys: try Self.keys.get(), certHost: configuration.certHost, host: configuration.host)
        self.pki = pki
        self.certificateServer = try .tls(.http1(), tlsConfiguration: pki.tls)
        state.withLock { $0.webhookURL = configuration.webhookURL }
    }

    // MARK: - What tests read and change

    /// Where events go; `nil` drops them (a lost webhook).
    public var webhookURL: String? {
        get { state.withLock { $0.webhookURL } }
        set { state.withLock { $0.webhookURL = newValue } }
    }

    /// A fault applied to every event the emulator sends by itself (approval, capture, refund).
    public var webhookFault: Fault? {
        get { state.withLock { $0.webhookFault } }
        set { state.withLock { $0.webhookFault = newValue } }
    }

    /// What the next captures do (default `.completed`).
    public var captureOutcome: CaptureOutcome {
        get { state.withLock { $0.captureOutcome } }
        set { state.withLock { $0.captureOutcome = newValue } }
    }

    /// The next N API calls (not token requests) answer 500 `INTERNAL_SERVER_ERROR`.
    public var failNextAPICalls: Int {
        get { state.withLock { $0.failNextAPICalls } }
        set { state.withLock { $0.failNextAPICalls = newValue } }
    }

    /// `expires_in` of the tokens issued from now on, in seconds (PayPal's is 32400); the server enforces it.
    public var expiresIn: Int64 {
        get { state.withLock { $0.expiresIn } }
        set { state.withLock { $0.expiresIn = newValue } }
    }

    /// Every `POST /v1/oauth2/token`, good credentials or not.
    public var tokenRequests: Int { state.withLock { $0.tokenRequests } }

    /// Makes every token issued so far expire now (the next calls with them answer 401).
    public func expireTokens() {
        state.withLock { state in
            for token in state.tokens.keys { state.tokens[token] = .distantPast }
        }
    }

    /// `http://host:port` once running: the API and the approval page.
    public var baseURL: String { "http://\(configuration.host):\(state.withLock { $0.port } ?? configuration.port)" }
    /// `https://certHost:certPort`: the signing certificates.
    public var certBaseURL: String { "https://\(configuration.certHost):\(state.withLock { $0.certPort } ?? configuration.certPort)" }
    /// The good `PAYPAL-CERT-URL`.
    public var certURL: String { certURL(for: nil) }
    /// Both listeners are up.
    public var isRunning: Bool { state.withLock { $0.port != nil && $0.certPort != nil } }
    /// The root CA Settle must trust for the certificate URL's TLS and for the signing certificate's chain.
    public var caCertificatePEM: String { pki.caPEM }

    public func order(_ id: String) -> Order? { state.withLock { $0.orders[id] } }
    public func capture(_ id: String) -> Capture? { state.withLock { $0.captures[id] } }
    public func refund(_ id: String) -> Refund? { state.withLock { $0.refunds[id] } }
    /// The captures of one order (PayPal makes at most one for an order with `intent: CAPTURE`).
    public func captures(order orderID: String) -> [Capture] { state.withLock { $0.captures.values.filter { $0.orderID == orderID } } }

    /// A refund made on PayPal's side (the merchant's dashboard), with its `PAYMENT.CAPTURE.REFUNDED` event sent in
    /// the background; answers the refund's id.
    public func refundAtPayPal(captureID: String, minorUnits: Int64) throws -> String {
        guard let capture = capture(captureID) else { throw APIError.notFound(field: "capture_id", value: captureID, api: "payments/v2") }
        let amount = Amount(currency: capture.amount.currency, minorUnits: minorUnits)
        let answer = try refundCapture(captureID, .object([("amount", amount.json)]), representation: true)
        guard let id = answer.body["id"]?.stringValue else { throw APIError.internalError }
        return id
    }
    /// Every order, oldest first.
    public var orders: [Order] { state.withLock { Array($0.orders.values) }.sorted { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) } }
    /// `METHOD path` of every API call (token requests included), in order.
    public var apiCalls: [String] { state.withLock { $0.apiCalls } }
    /// The `PayPal-Request-Id` of every API call that had one, in order.
    public var requestIDs: [String] { state.withLock { $0.requestIDs } }
    /// `https NAME` or `http NAME` for every certificate download, in order (to see that Settle caches them).
    public var certificateFetches: [String] { state.withLock { $0.certificateFetches } }
    /// Every delivery made, in order of completion.
    public var sentEvents: [SentEvent] { state.withLock { $0.sentEvents } }

    /// The order as `GET /v2/checkout/orders/{id}` shows it (to build events for ``send(eventType:resource:fault:)``).
    public func orderJSON(_ id: String) -> JSONValue? {
        snapshot(orderID: id).map { Self.orderJSON($0.order, capture: $0.capture, refunds: $0.refunds, baseURL: baseURL, shape: .full) }
    }

    /// The capture as `GET /v2/payments/captures/{id}` shows it.
    public func captureJSON(_ id: String) -> JSONValue? { capture(id).map { Self.captureJSON($0, baseURL: baseURL, standalone: true) } }

    /// The refund as `GET /v2/payments/refunds/{id}` shows it.
    public func refundJSON(_ id: String) -> JSONValue? { refund(id).map { Self.refundJSON($0, baseURL: baseURL) } }

    // MARK: - Signatures (the emulator's own implementation)

    private static let crcTable: [UInt32] = (0..<256).map { index -> UInt32 in
        var value = UInt32(index)
        for _ in 0..<8 { value = (value & 1) != 0 ? 0xEDB8_8320 ^ (value >> 1) : value >> 1 }
        return value
    }

    /// CRC-32 (IEEE 802.3, reflected, as zlib's `crc32`): the unsigned value PayPal puts in the signed string.
    public static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes { crc = crcTable[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8) }
        return crc ^ 0xFFFF_FFFF
    }

    /// `transmission_id|transmission_time|webhook_id|crc32(body)`, the string PayPal signs.
    public static func signedString(transmissionID: String, transmissionTime: String, webhookID: String, body: [UInt8]) -> String {
        "\(transmissionID)|\(transmissionTime)|\(webhookID)|\(crc32(body))"
    }

    // MARK: - The servers

    /// The emulator as a Hummingbird application (port 0 picks a free port); the HTTPS certificate listener runs as
    /// its service.
    public func application(logger: Logger) -> some ApplicationProtocol {
        let certificates = Application(
            router: certificateRouter(),
            server: certificateServer,
            configuration: .init(address: .hostname(configuration.host, port: configuration.certPort), serverName: "paypal-emulator-certs"),
            onServerRunning: { channel in self.state.withLock { $0.certPort = channel.localAddress?.port } },
            logger: logger
        )
        return Application(
            router: buildRouter(),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "paypal-emulator"),
            services: [certificates],
            onServerRunning: { channel in self.state.withLock { $0.port = channel.localAddress?.port } },
            logger: logger
        )
    }

    func buildRouter() -> Router<BasicRequestContext> {
        let router = Router()
        router.post("v1/oauth2/token") { request, _ -> Response in try await self.issueToken(request) }
        router.post("v2/checkout/orders") { request, _ -> Response in
            try await self.api(request) {
                try await self.idempotent(request) {
                    let body = try await Self.body(of: request)
                    return try self.createOrder(body, representation: Self.wantsRepresentation(request))
                }
            }
        }
        router.get("v2/checkout/orders/:id") { request, context -> Response in
            let id = try context.parameters.require("id")
            return try await self.api(request) { try self.readOrder(id) }
        }
        router.post("v2/checkout/orders/:id/capture") { request, context -> Response in
            let id = try context.parameters.require("id")
            return try await self.api(request) {
                _ = try await Self.body(of: request)
                return try await self.idempotent(request) { try self.captureOrder(id, representation: Self.wantsRepresentation(request)) }
            }
        }
        router.get("v2/payments/captures/:id") { request, context -> Response in
            let id = try context.parameters.require("id")
            return try await self.api(request) {
                guard let capture = self.captureJSON(id) else { throw APIError.notFound(field: "capture_id", value: id, api: "payments/v2") }
                return Answer(status: 200, body: capture)
            }
        }
        router.post("v2/payments/captures/:id/refund") { request, context -> Response in
            let id = try context.parameters.require("id")
            return try await self.api(request) {
                try await self.idempotent(request) {
                    let body = try await Self.body(of: request)
                    return try self.refundCapture(id, body, representation: Self.wantsRepresentation(request))
                }
            }
        }
        router.get("v2/payments/refunds/:id") { request, context -> Response in
            let id = try context.parameters.require("id")
            return try await self.api(request) {
                guard let refund = self.refundJSON(id) else { throw APIError.notFound(field: "refund_id", value: id, api: "payments/v2") }
                return Answer(status: 200, body: refund)
            }
        }
        router.get("checkoutnow") { request, _ -> Response in self.approvalPage(request.uri.queryParameters.get("token") ?? "") }
        router.post("checkoutnow") { request, _ -> Response in try await self.approvalAnswer(request) }
        // Also over plain HTTP, so that a verifier following an `http://` cert URL (the fault) would get a certificate.
        router.get("v1/notifications/certs/:name") { _, context -> Response in
            self.certificateResponse(try context.parameters.require("name"), scheme: "http")
        }
        return router
    }

    func certificateRouter() -> Router<BasicRequestContext> {
        let router = Router()
        router.get("v1/notifications/certs/:name") { _, context -> Response in
            self.certificateResponse(try context.parameters.require("name"), scheme: "https")
        }
        return router
    }

    private func certificateResponse(_ name: String, scheme: String) -> Response {
        state.withLock { $0.certificateFetches.append("\(scheme) \(name)") }
        if name == Self.redirectCertificateName {
            let foreign = certURL(for: .foreignCertHost)
            return Response(status: .found, headers: [.location: foreign])
        }
        guard let pem = pki.served[name] else { return Response(status: .notFound) }
        return Response(status: .ok, headers: [.contentType: "application/x-pem-file"], body: .init(byteBuffer: ByteBuffer(string: pem)))
    }

    // MARK: - API plumbing

    /// Records the call, applies `failNextAPICalls` and the Bearer check, and turns the answer (or an ``APIError``)
    /// into JSON with a `Paypal-Debug-Id` header.
    private func api(_ request: Request, _ body: () async throws -> Answer) async throws -> Response {
        let requestID = Self.requestIDHeader.flatMap { request.headers[$0] }
        let fail = state.withLock { state -> Bool in
            state.apiCalls.append("\(request.method) \(request.uri.path)")
            if let requestID { state.requestIDs.append(requestID) }
            let fail = state.failNextAPICalls > 0
            if fail { state.failNextAPICalls -= 1 }
            return fail
        }
        let debugID = Self.debugID()
        if fail { return Self.errorResponse(.internalError, debugID: debugID) }
        guard authorized(request.headers[.authorization]) else { return Self.errorResponse(.authentication, debugID: debugID) }
        do {
            let answer = try await body()
            return Self.json(answer.body, status: answer.status, debugID: debugID)
        } catch let error as APIError {
            return Self.errorResponse(error, debugID: debugID)
        }
    }

    /// A Bearer token this emulator issued that has not expired.
    private func authorized(_ header: String?) -> Bool {
        guard let header, header.hasPrefix("Bearer ") else { return false }
        let token = String(header.dropFirst("Bearer ".count)).trimmingCharacters(in: .whitespaces)
        let now = Date()
        guard let expiry = state.withLock({ $0.tokens[token] }) else { return false }
        return expiry > now
    }

    /// PayPal's idempotency: a `PayPal-Request-Id` already seen on this path replays the first answer (200); only
    /// answers that succeeded are kept.
    private func idempotent(_ request: Request, _ make: () async throws -> Answer) async throws -> Answer {
        guard let id = Self.requestIDHeader.flatMap({ request.headers[$0] }), !id.isEmpty else { return try await make() }
        let key = "\(request.uri.path) \(id)"
        if let stored = state.withLock({ $0.idempotency[key] }) { return Answer(status: 200, body: stored) }
        let answer = try await make()
        state.withLock { $0.idempotency[key] = answer.body }
        return answer
    }

    static func wantsRepresentation(_ request: Request) -> Bool {
        preferHeader.flatMap { request.headers[$0] }?.lowercased().contains("return=representation") == true
    }

    /// The JSON object sent; empty or `null` is `{}`.
    static func body(of request: Request) async throws -> JSONValue {
        let bytes = Array(buffer: try await request.body.collect(upTo: 1 << 20))
        if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D }) { return .object([]) }
        guard let value = try? JSONValue.parse(bytes) else {
            throw APIError.invalid("MALFORMED_REQUEST_JSON", field: nil, "The request JSON is not well formed.")
        }
        if value == .null { return .object([]) }
        guard value.isObject else { throw APIError.invalid("MALFORMED_REQUEST_JSON", field: nil, "The request body must be a JSON object.") }
        return value
    }

    static func json(_ value: JSONValue, status: Int, debugID: String) -> Response {
        var headers: HTTPFields = [.contentType: "application/json"]
        if let name = debugIDHeader { headers[name] = debugID }
        return Response(status: .init(code: status), headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: value.bytes())))
    }

    static func errorResponse(_ error: APIError, debugID: String) -> Response {
        json(error.json(debugID: debugID), status: error.status, debugID: debugID)
    }

    static func link(_ href: String, _ rel: String, _ method: String) -> JSONValue {
        .object([("href", .string(href)), ("rel", .string(rel)), ("method", .string(method))])
    }

    /// `2016-02-18T20:01:35Z`.
    static func iso(_ date: Date) -> String { ISO8601DateFormatter().string(from: date) }

    /// `2019-02-14T21:50:07.940Z` (events' `create_time`).
    static func isoMilliseconds(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: date)
    }

    /// Upper-case alphanumerics, like PayPal's order, capture, refund and payer ids.
    static func paypalID(length: Int = 17) -> String { Identifier.randomToken(length: length).uppercased() }

    /// 13 lowercase hex digits, like PayPal's `debug_id`.
    static func debugID() -> String { (0..<13).map { _ in String(Int.random(in: 0..<16), radix: 16) }.joined() }

    // MARK: - OAuth 2

    /// `POST /v1/oauth2/token`: HTTP Basic `client_id:client_secret` and `grant_type=client_credentials`, answered
    /// with a Bearer token that this server refuses after `expires_in`.
    private func issueToken(_ request: Request) async throws -> Response {
        let form = FormURLEncoded.parse(Array(buffer: try await request.body.collect(upTo: 1 << 16)))
        state.withLock { state in
            state.apiCalls.append("POST /v1/oauth2/token")
            state.tokenRequests += 1
        }
        let debugID = Self.debugID()
        guard let credentials = Self.basicCredentials(request.headers[.authorization]),
            credentials.user == configuration.clientID, credentials.password == configuration.clientSecret
        else { return Self.oauthError(401, "invalid_client", "Client Authentication failed", debugID: debugID) }
        guard let grant = form["grant_type"] else { return Self.oauthError(400, "unsupported_grant_type", "Grant Type is NULL", debugID: debugID) }
        guard grant == "client_credentials" else {
            return Self.oauthError(400, "unsupported_grant_type", "Grant Type is not supported: \(grant)", debugID: debugID)
        }
        let token = "A21AA" + Identifier.randomToken(length: 90)
        let now = Date()
        let expiresIn = state.withLock { state -> Int64 in
            state.tokens[token] = now.addingTimeInterval(TimeInterval(state.expiresIn))
            return state.expiresIn
        }
        let scope = [
            "https://uri.paypal.com/services/payments/payment/authcapture", "https://uri.paypal.com/services/payments/refund",
            "https://uri.paypal.com/services/applications/webhooks", "https://uri.paypal.com/services/payments/realtimepayment",
            "openid",
        ].joined(separator: " ")
        let body = JSONValue.object([
            ("scope", .string(scope)), ("access_token", .string(token)), ("token_type", .string("Bearer")),
            ("app_id", .string("APP-80W284485P519543T")), ("expires_in", .int(expiresIn)),
            ("nonce", .string(Self.iso(now) + Identifier.randomToken(length: 43))),
        ])
        return Self.json(body, status: 200, debugID: debugID)
    }

    static func oauthError(_ status: Int, _ error: String, _ description: String, debugID: String) -> Response {
        json(.object([("error", .string(error)), ("error_description", .string(description))]), status: status, debugID: debugID)
    }

    /// The user and password of an HTTP Basic `Authorization` header.
    static func basicCredentials(_ header: String?) -> (user: String, password: String)? {
        guard let header, header.lowercased().hasPrefix("basic "),
            let decoded = Data(base64Encoded: header.dropFirst("basic ".count).trimmingCharacters(in: .whitespaces))
        else { return nil }
        let parts = String(decoding: decoded, as: UTF8.self).split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2 else { return nil }
        return (String(parts[0]), String(parts[1]))
    }

    // MARK: - Amounts

    /// The currency's decimals (0 or 2), `nil` when PayPal does not take it.
    public static func decimals(_ currency: String) -> Int? {
        guard currencies.contains(currency) else { return nil }
        return zeroDecimalCurrencies.contains(currency) ? 0 : 2
    }

    static func format(_ minorUnits: Int64, currency: String) -> String {
        guard decimals(currency) != 0 else { return String(minorUnits) }
        let cents = minorUnits % 100
        return "\(minorUnits / 100)." + (cents < 10 ? "0" : "") + String(cents)
    }

    /// An `{currency_code, value}` object checked as PayPal checks it: the value a decimal string with exactly the
    /// currency's decimals (`DECIMAL_PRECISION`), a currency PayPal takes (`CURRENCY_NOT_SUPPORTED`), more than zero
    /// unless `allowZero` (`CANNOT_BE_ZERO_OR_NEGATIVE`); malformed is 400.
    static func amount(_ value: JSONValue?, field: String, allowZero: Bool = false, api: String = "orders/v2") throws -> Amount {
        guard let value, value.isObject else {
            throw APIError.invalid("MISSING_REQUIRED_PARAMETER", field: field, "A required field / parameter is missing.", api: api)
        }
        guard let currency = value["currency_code"]?.stringValue else {
            throw APIError.invalid("MISSING_REQUIRED_PARAMETER", field: "\(field)/currency_code", "A required field / parameter is missing.", api: api)
        }
        guard currency.utf8.count == 3, currency.utf8.allSatisfy({ (0x41...0x5A).contains($0) }) else {
            throw APIError.invalid(
                "INVALID_PARAMETER_SYNTAX", field: "\(field)/currency_code", value: currency,
                "The value of a field does not conform to the expected format.", api: api
            )
        }
        guard let text = value["value"]?.stringValue else {
            let issue = value["value"] == nil ? "MISSING_REQUIRED_PARAMETER" : "INVALID_PARAMETER_SYNTAX"
            throw APIError.invalid(issue, field: "\(field)/value", "The value must be a decimal string such as \"10.00\".", api: api)
        }
        var digits = Substring(text)
        let negative = digits.hasPrefix("-")
        if negative { digits = digits.dropFirst() }
        let parts = digits.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        let units = parts[0]
        let fraction = parts.count > 1 ? parts[1] : ""
        func isDigits(_ part: Substring) -> Bool { !part.isEmpty && part.utf8.allSatisfy { (0x30...0x39).contains($0) } }
        guard isDigits(units), units.count <= 10, parts.count == 1 || isDigits(fraction), fraction.count <= 10 else {
            throw APIError.invalid(
                "INVALID_PARAMETER_SYNTAX", field: "\(field)/value", value: text, "The value of a field does not conform to the expected format.",
                api: api
            )
        }
        guard let precision = decimals(currency) else {
            throw APIError.unprocessable(
                "CURRENCY_NOT_SUPPORTED", field: "\(field)/currency_code", value: currency,
                "Currency code is unknown or is not supported. Please refer to https://developer.paypal.com/api/rest/reference/currency-codes/ for list of supported currency codes.",
                api: api
            )
        }
        guard fraction.count == precision else {
            throw APIError.unprocessable(
                "DECIMAL_PRECISION", field: "\(field)/value", value: text,
                precision == 0 ? "Currency does not support decimals." : "If the currency supports decimals, only two decimal place precision is supported.",
                api: api
            )
        }
        guard let whole = Int64(units), let cents = Int64(fraction.isEmpty ? "0" : String(fraction)) else {
            throw APIError.invalid("INVALID_PARAMETER_SYNTAX", field: "\(field)/value", value: text, "The value is out of range.", api: api)
        }
        let minorUnits = whole * (precision == 0 ? 1 : 100) + cents
        guard !negative || minorUnits == 0, minorUnits > 0 || allowZero else {
            throw APIError.unprocessable(
                "CANNOT_BE_ZERO_OR_NEGATIVE", field: "\(field)/value", value: text,
                "Must be greater than zero. If the currency supports decimals, only two decimal place precision is supported.", api: api
            )
        }
        return Amount(currency: currency, minorUnits: minorUnits)
    }

    /// `amount.breakdown`, when sent, must add up: item_total + tax_total + shipping + handling + insurance −
    /// shipping_discount − discount = value (`AMOUNT_MISMATCH`).
    static func checkBreakdown(_ breakdown: JSONValue?, total: Amount, field: String) throws {
        guard let breakdown, breakdown != .null else { return }
        guard case .object(let members) = breakdown else {
            throw APIError.invalid("INVALID_PARAMETER_SYNTAX", field: "\(field)/breakdown", "The breakdown must be an object.")
        }
        var sum: Int64 = 0
        for (name, member) in members {
            let part = try amount(member, field: "\(field)/breakdown/\(name)", allowZero: true)
            guard part.currency == total.currency else {
                throw APIError.unprocessable(
                    "CURRENCY_MISMATCH", field: "\(field)/breakdown/\(name)/currency_code", value: part.currency,
                    "Currency code should be the same for all amounts in the purchase unit."
                )
            }
            sum += name == "discount" || name == "shipping_discount" ? -part.minorUnits : part.minorUnits
        }
        guard sum == total.minorUnits else {
            throw APIError.unprocessable(
                "AMOUNT_MISMATCH", field: "\(field)/value", value: total.value,
                "Should equal item_total + tax_total + shipping + handling + insurance - shipping_discount - discount."
            )
        }
    }

    /// A string field no longer than `maximum`; absent or `null` is `nil`.
    static func text(_ value: JSONValue?, field: String, maximum: Int, api: String = "orders/v2") throws -> String? {
        switch value {
        case nil, .null?:
            return nil
        case .string(let text)?:
            guard text.count <= maximum else {
                throw APIError.invalid("INVALID_STRING_LENGTH", field: field, value: text, "The value of a field is either too short or too long.", api: api)
            }
            return text
        default:
            throw APIError.invalid("INVALID_PARAMETER_SYNTAX", field: field, "The value of a field does not conform to the expected format.", api: api)
        }
    }

    /// An absolute `http(s)` URL, or `nil`.
    static func url(_ value: JSONValue?, field: String) throws -> String? {
        guard let url = try text(value, field: field, maximum: 4000) else { return nil }
        guard let parsed = URL(string: url), parsed.scheme == "https" || parsed.scheme == "http", parsed.host != nil else {
            throw APIError.invalid("INVALID_PARAMETER_SYNTAX", field: field, value: url, "The value of a field does not conform to the expected format.")
        }
        return url
    }

    // MARK: - Orders

    /// `POST /v2/checkout/orders`: one purchase unit, its amount checked as PayPal checks it. With
    /// `payment_source.paypal` the order waits as `PAYER_ACTION_REQUIRED` behind a `payer-action` link; without, it is
    /// `CREATED` with an `approve` link (return and cancel URLs then come from the legacy `application_context`).
    private func createOrder(_ body: JSONValue, representation: Bool) throws -> Answer {
        guard let intentValue = body["intent"], intentValue != .null else {
            throw APIError.invalid("MISSING_REQUIRED_PARAMETER", field: "/intent", "A required field / parameter is missing.")
        }
        guard let intent = intentValue.stringValue, intent == "CAPTURE" || intent == "AUTHORIZE" else {
            throw APIError.invalid("INVALID_PARAMETER_VALUE", field: "/intent", value: intentValue.serialized(), "The value of a field is invalid.")
        }
        guard let units = body["purchase_units"]?.arrayValue, !units.isEmpty else {
            throw APIError.invalid("MISSING_REQUIRED_PARAMETER", field: "/purchase_units", "A required field / parameter is missing.")
        }
        guard units.count == 1 else {
            throw APIError.unprocessable(
                "MULTIPLE_PURCHASE_UNITS_NOT_EMULATED", field: "/purchase_units", "The emulator takes exactly one purchase unit (PayPal takes up to 10)."
            )
        }
        let unit = units[0]
        guard unit.isObject else {
            throw APIError.invalid("INVALID_PARAMETER_SYNTAX", field: "/purchase_units/0", "The value of a field does not conform to the expected format.")
        }
        let referenceID = try Self.text(unit["reference_id"], field: "/purchase_units/0/reference_id", maximum: 256) ?? "default"
        let field = "/purchase_units/@reference_id=='\(referenceID)'"
        let amount = try Self.amount(unit["amount"], field: "\(field)/amount")
        try Self.checkBreakdown(unit["amount"]?["breakdown"], total: amount, field: "\(field)/amount")
        let customID = try Self.text(unit["custom_id"], field: "\(field)/custom_id", maximum: 127)
        let invoiceID = try Self.text(unit["invoice_id"], field: "\(field)/invoice_id", maximum: 127)
        let description = try Self.text(unit["description"], field: "\(field)/description", maximum: 127)

        var paypal: JSONValue?
        if let source = body["payment_source"], source != .null {
            guard case .object(let members) = source, members.count == 1, let wallet = source["paypal"], wallet.isObject else {
                throw APIError.unprocessable(
                    "PAYMENT_SOURCE_NOT_SUPPORTED", field: "/payment_source", "The emulator takes only payment_source.paypal (no cards)."
                )
            }
            paypal = wallet
        }
        let context: JSONValue? = paypal == nil ? body["application_context"] : paypal?["experience_context"]
        let contextField = paypal == nil ? "/application_context" : "/payment_source/paypal/experience_context"
        let returnURL = try Self.url(context?["return_url"], field: "\(contextField)/return_url")
        let cancelURL = try Self.url(context?["cancel_url"], field: "\(contextField)/cancel_url")

        let now = Date()
        let order = Order(
            id: Self.paypalID(), intent: intent, status: paypal == nil ? "CREATED" : "PAYER_ACTION_REQUIRED", amount: amount,
            referenceID: referenceID, customID: customID, invoiceID: invoiceID, description: description, returnURL: returnURL,
            cancelURL: cancelURL, paypalSource: paypal != nil, payerID: nil, captureID: nil, createdAt: now, updatedAt: now
        )
        state.withLock { $0.orders[order.id] = order }
        let shape: Shape = representation ? .full : .minimal
        return Answer(status: 201, body: Self.orderJSON(order, capture: nil, refunds: [], baseURL: baseURL, shape: shape))
    }

    private func snapshot(orderID: String) -> (order: Order, capture: Capture?, refunds: [Refund])? {
        state.withLock { state -> (order: Order, capture: Capture?, refunds: [Refund])? in
            guard let order = state.orders[orderID] else { return nil }
            let capture = order.captureID.flatMap { state.captures[$0] }
            let refunds = capture.map { capture in
                state.refunds.values.filter { $0.captureID == capture.id }.sorted { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) }
            } ?? []
            return (order, capture, refunds)
        }
    }

    private func readOrder(_ id: String) throws -> Answer {
        guard let json = orderJSON(id) else { throw APIError.notFound(field: "order_id", value: id) }
        return Answer(status: 200, body: json)
    }

    /// `POST /v2/checkout/orders/{id}/capture`: only an approved `CAPTURE` order, once (`ORDER_ALREADY_CAPTURED`
    /// after, unless the same `PayPal-Request-Id` replays the answer); an invoice id already captured is refused
    /// (`DUPLICATE_INVOICE_ID`). ``captureOutcome`` decides the capture's status; the event follows in the background.
    private func captureOrder(_ id: String, representation: Bool) throws -> Answer {
        let now = Date()
        let baseURL = self.baseURL
        let (order, capture) = try state.withLock { state -> (Order, Capture) in
            guard var order = state.orders[id] else { throw APIError.notFound(field: "order_id", value: id) }
            guard order.intent == "CAPTURE" else {
                throw APIError.unprocessable(
                    "ACTION_DOES_NOT_MATCH_INTENT", "Order was created with an intent to 'AUTHORIZE'. Please use v2/checkout/orders/order_id/authorize."
                )
            }
            guard order.status != "COMPLETED" else {
                throw APIError.unprocessable(
                    "ORDER_ALREADY_CAPTURED", "Order already captured.If 'intent=CAPTURE' only one capture per order is allowed."
                )
            }
            guard order.status == "APPROVED" else {
                throw APIError.unprocessable(
                    "ORDER_NOT_APPROVED",
                    "Payer has not yet approved the Order for payment. Please redirect the payer to the 'rel':'approve' url returned as part of the HATEOAS links within the Create Order call or provide a valid payment_source in the request."
                )
            }
            if let invoiceID = order.invoiceID, state.captures.values.contains(where: { $0.invoiceID == invoiceID && $0.status != "DECLINED" }) {
                throw APIError.unprocessable(
                    "DUPLICATE_INVOICE_ID",
                    "Duplicate Invoice ID detected. To avoid a potential duplicate transaction your account setting requires that Invoice Id be unique for each transaction."
                )
            }
            let status: String
            switch state.captureOutcome {
            case .completed: status = "COMPLETED"
            case .pending: status = "PENDING"
            case .declined: status = "DECLINED"
            case .instrumentDeclined:
                throw APIError.unprocessable(
                    "INSTRUMENT_DECLINED",
                    "The instrument presented  was either declined by the processor or bank, or it can't be used for this payment.",
                    links: [Self.link("\(baseURL)/checkoutnow?token=\(id)", "redirect", "GET")]
                )
            }
            let capture = Capture(
                id: Self.paypalID(), orderID: id, status: status, amount: order.amount, customID: order.customID, invoiceID: order.invoiceID,
                refundedMinorUnits: 0, createdAt: now, updatedAt: now
            )
            order.status = "COMPLETED"
            order.captureID = capture.id
            order.updatedAt = now
            state.orders[id] = order
            state.captures[capture.id] = capture
            return (order, capture)
        }
        emitInBackground(Self.captureEventType(capture.status), resource: Self.captureJSON(capture, baseURL: baseURL, standalone: true))
        let shape: Shape = representation ? .full : .captured
        return Answer(status: 201, body: Self.orderJSON(order, capture: capture, refunds: [], baseURL: baseURL, shape: shape))
    }

    static func captureEventType(_ status: String) -> String {
        switch status {
        case "COMPLETED": "PAYMENT.CAPTURE.COMPLETED"
        case "PENDING": "PAYMENT.CAPTURE.PENDING"
        default: "PAYMENT.CAPTURE.DENIED"
        }
    }

    /// Ends a `PENDING` capture as PayPal's review would: `COMPLETED` or `DECLINED`, then its event (awaited).
    /// `false` when there is no such pending capture.
    @discardableResult
    public func resolvePendingCapture(_ captureID: String, completed: Bool) async -> Bool {
        let resolved = state.withLock { state -> Capture? in
            guard var capture = state.captures[captureID], capture.status == "PENDING" else { return nil }
            capture.status = completed ? "COMPLETED" : "DECLINED"
            capture.updatedAt = Date()
            state.captures[captureID] = capture
            return capture
        }
        guard let resolved else { return false }
        await emit(Self.captureEventType(resolved.status), resource: Self.captureJSON(resolved, baseURL: baseURL, standalone: true))
        return true
    }

    // MARK: - Refunds

    /// `POST /v2/payments/captures/{id}/refund`: the amount sent (same currency, same precision rules) or, with none,
    /// what is left; never more than what is left (`REFUND_AMOUNT_EXCEEDED`), only for a completed capture.
    private func refundCapture(_ captureID: String, _ body: JSONValue, representation: Bool) throws -> Answer {
        let api = "payments/v2"
        var requested: Amount?
        if let value = body["amount"], value != .null { requested = try Self.amount(value, field: "/amount", api: api) }
        let note = try Self.text(body["note_to_payer"], field: "/note_to_payer", maximum: 255, api: api)
        let invoiceID = try Self.text(body["invoice_id"], field: "/invoice_id", maximum: 127, api: api)
        let customID = try Self.text(body["custom_id"], field: "/custom_id", maximum: 127, api: api)
        let now = Date()
        let refund = try state.withLock { state -> Refund in
            guard var capture = state.captures[captureID] else { throw APIError.notFound(field: "capture_id", value: captureID, api: api) }
            switch capture.status {
            case "COMPLETED", "PARTIALLY_REFUNDED":
                break
            case "REFUNDED":
                throw APIError.unprocessable("CAPTURE_FULLY_REFUNDED", "The capture has already been fully refunded", api: api)
            default:
                throw APIError.unprocessable("REFUND_NOT_ALLOWED", "A \(capture.status) capture cannot be refunded (emulated).", api: api)
            }
            let remaining = capture.amount.minorUnits - capture.refundedMinorUnits
            let amount = requested ?? Amount(currency: capture.amount.currency, minorUnits: remaining)
            guard amount.currency == capture.amount.currency else {
                throw APIError.unprocessable(
                    "CURRENCY_MISMATCH", field: "/amount/currency_code", value: amount.currency,
                    "The refund currency must be the currency of the capture.", api: api
                )
            }
            guard amount.minorUnits <= remaining else {
                throw APIError.unprocessable(
                    "REFUND_AMOUNT_EXCEEDED", field: "/amount/value", value: amount.value,
                    "The refund amount must be less than or equal to the capture amount that has not yet been refunded.", api: api
                )
            }
            capture.refundedMinorUnits += amount.minorUnits
            capture.status = capture.refundedMinorUnits == capture.amount.minorUnits ? "REFUNDED" : "PARTIALLY_REFUNDED"
            capture.updatedAt = now
            let refund = Refund(
                id: Self.paypalID(), captureID: captureID, status: "COMPLETED", amount: amount,
                totalRefundedMinorUnits: capture.refundedMinorUnits, invoiceID: invoiceID ?? capture.invoiceID,
                customID: customID ?? capture.customID, noteToPayer: note, createdAt: now
            )
            state.captures[captureID] = capture
            state.refunds[refund.id] = refund
            return refund
        }
        let baseURL = self.baseURL
        let full = Self.refundJSON(refund, baseURL: baseURL)
        emitInBackground("PAYMENT.CAPTURE.REFUNDED", resource: full)
        guard representation else {
            return Answer(
                status: 201,
                body: .object([("id", .string(refund.id)), ("status", .string(refund.status)), ("links", Self.refundLinks(refund, baseURL: baseURL))])
            )
        }
        return Answer(status: 201, body: full)
    }

    // MARK: - JSON as PayPal writes it (absent fields are left out, never null)

    static func orderJSON(_ order: Order, capture: Capture?, refunds: [Refund], baseURL: String, shape: Shape) -> JSONValue {
        var members: [(String, JSONValue)] = [("id", .string(order.id))]
        if shape == .full { members.append(("intent", .string(order.intent))) }
        members.append(("status", .string(order.status)))
        if order.paypalSource || order.payerID != nil { members.append(("payment_source", paymentSourceJSON(order))) }
        switch shape {
        case .minimal:
            break
        case .captured:
            var unit: [(String, JSONValue)] = [("reference_id", .string(order.referenceID))]
            if let capture { unit.append(("payments", paymentsJSON(capture, refunds: refunds, baseURL: baseURL))) }
            members.append(("purchase_units", .array([.object(unit)])))
            if let payerID = order.payerID { members.append(("payer", payerJSON(payerID))) }
        case .full:
            var unit: [(String, JSONValue)] = [("reference_id", .string(order.referenceID)), ("amount", order.amount.json), ("payee", payee)]
            if let description = order.description { unit.append(("description", .string(description))) }
            if let customID = order.customID { unit.append(("custom_id", .string(customID))) }
            if let invoiceID = order.invoiceID { unit.append(("invoice_id", .string(invoiceID))) }
            if let capture { unit.append(("payments", paymentsJSON(capture, refunds: refunds, baseURL: baseURL))) }
            members.append(("purchase_units", .array([.object(unit)])))
            if let payerID = order.payerID { members.append(("payer", payerJSON(payerID))) }
            members += [("create_time", .string(iso(order.createdAt))), ("update_time", .string(iso(order.updatedAt)))]
        }
        members.append(("links", orderLinks(order, baseURL: baseURL)))
        return .object(members)
    }

    static func orderLinks(_ order: Order, baseURL: String) -> JSONValue {
        let path = "\(baseURL)/v2/checkout/orders/\(order.id)"
        let approval = "\(baseURL)/checkoutnow?token=\(order.id)"
        var links = [link(path, "self", "GET")]
        switch order.status {
        case "CREATED": links += [link(approval, "approve", "GET"), link("\(path)/capture", "capture", "POST")]
        case "PAYER_ACTION_REQUIRED": links.append(link(approval, "payer-action", "GET"))
        case "APPROVED": links.append(link("\(path)/capture", "capture", "POST"))
        default: break
        }
        return .array(links)
    }

    static func paymentsJSON(_ capture: Capture, refunds: [Refund], baseURL: String) -> JSONValue {
        var members: [(String, JSONValue)] = [("captures", .array([captureJSON(capture, baseURL: baseURL, standalone: false)]))]
        if !refunds.isEmpty { members.append(("refunds", .array(refunds.map { refundJSON($0, baseURL: baseURL) }))) }
        return .object(members)
    }

    static func buyerName() -> JSONValue { .object([("given_name", .string("Emulated")), ("surname", .string("Buyer"))]) }

    static func payerJSON(_ payerID: String) -> JSONValue {
        .object([
            ("name", buyerName()), ("email_address", .string("buyer@example.com")), ("payer_id", .string(payerID)),
            ("address", .object([("country_code", .string("US"))])),
        ])
    }

    /// `{"paypal":{}}` before approval, the buyer's account after.
    static func paymentSourceJSON(_ order: Order) -> JSONValue {
        guard let payerID = order.payerID else { return .object([("paypal", .object([]))]) }
        return .object([
            ("paypal", .object([
                ("email_address", .string("buyer@example.com")), ("account_id", .string(payerID)), ("account_status", .string("VERIFIED")),
                ("name", buyerName()), ("address", .object([("country_code", .string("US"))])),
            ]))
        ])
    }

    /// An emulated fee: 3.49 % plus 0.49 (none fixed for currencies without decimals), never above the amount.
    static func fee(_ amount: Amount, fixed: Bool) -> Amount {
        let fixedPart: Int64 = fixed && decimals(amount.currency) != 0 ? 49 : 0
        return Amount(currency: amount.currency, minorUnits: min(amount.minorUnits, amount.minorUnits * 349 / 10_000 + fixedPart))
    }

    /// A capture; `standalone` (GET, events) adds `supplementary_data.related_ids.order_id` and the payee.
    static func captureJSON(_ capture: Capture, baseURL: String, standalone: Bool) -> JSONValue {
        var members: [(String, JSONValue)] = [("id", .string(capture.id)), ("status", .string(capture.status))]
        if capture.status == "PENDING" { members.append(("status_details", .object([("reason", .string("PENDING_REVIEW"))]))) }
        members += [
            ("amount", capture.amount.json), ("final_capture", .bool(true)),
            ("seller_protection", .object([
                ("status", .string("ELIGIBLE")),
                ("dispute_categories", .array([.string("ITEM_NOT_RECEIVED"), .string("UNAUTHORIZED_TRANSACTION")])),
            ])),
        ]
        if capture.status != "DECLINED" {
            let paypalFee = Self.fee(capture.amount, fixed: true)
            let net = Amount(currency: capture.amount.currency, minorUnits: capture.amount.minorUnits - paypalFee.minorUnits)
            members.append(("seller_receivable_breakdown", .object([("gross_amount", capture.amount.json), ("paypal_fee", paypalFee.json), ("net_amount", net.json)])))
        }
        if let invoiceID = capture.invoiceID { members.append(("invoice_id", .string(invoiceID))) }
        if let customID = capture.customID { members.append(("custom_id", .string(customID))) }
        if standalone {
            members.append(("supplementary_data", .object([("related_ids", .object([("order_id", .string(capture.orderID))]))])))
            members.append(("payee", payee))
        }
        let path = "\(baseURL)/v2/payments/captures/\(capture.id)"
        members += [
            ("links", .array([
                link(path, "self", "GET"), link("\(path)/refund", "refund", "POST"), link("\(baseURL)/v2/checkout/orders/\(capture.orderID)", "up", "GET"),
            ])),
            ("create_time", .string(iso(capture.createdAt))), ("update_time", .string(iso(capture.updatedAt))),
        ]
        return .object(members)
    }

    static func refundLinks(_ refund: Refund, baseURL: String) -> JSONValue {
        .array([
            link("\(baseURL)/v2/payments/refunds/\(refund.id)", "self", "GET"),
            link("\(baseURL)/v2/payments/captures/\(refund.captureID)", "up", "GET"),
        ])
    }

    static func refundJSON(_ refund: Refund, baseURL: String) -> JSONValue {
        let paypalFee = Self.fee(refund.amount, fixed: false)
        let net = Amount(currency: refund.amount.currency, minorUnits: refund.amount.minorUnits - paypalFee.minorUnits)
        let total = Amount(currency: refund.amount.currency, minorUnits: refund.totalRefundedMinorUnits)
        var members: [(String, JSONValue)] = [
            ("id", .string(refund.id)), ("amount", refund.amount.json),
            ("seller_payable_breakdown", .object([
                ("gross_amount", refund.amount.json), ("paypal_fee", paypalFee.json), ("net_amount", net.json), ("total_refunded_amount", total.json),
            ])),
        ]
        if let invoiceID = refund.invoiceID { members.append(("invoice_id", .string(invoiceID))) }
        if let customID = refund.customID { members.append(("custom_id", .string(customID))) }
        if let note = refund.noteToPayer { members.append(("note_to_payer", .string(note))) }
        members += [
            ("status", .string(refund.status)), ("create_time", .string(iso(refund.createdAt))), ("update_time", .string(iso(refund.createdAt))),
            ("links", refundLinks(refund, baseURL: baseURL)),
        ]
        return .object(members)
    }

    // MARK: - The buyer's approval page

    /// What pressing Approve does: the order becomes `APPROVED` (once) with a payer, `CHECKOUT.ORDER.APPROVED` is
    /// delivered (awaited), and the buyer is sent to `return_url?token=<id>&PayerID=<payer>` (the approval page
    /// itself when there is no return URL). `nil` for an unknown order or one past approval.
    @discardableResult
    public func approve(orderID: String) async -> String? {
        let payerID = Self.paypalID(length: 13)
        let result = state.withLock { state -> (order: Order, newly: Bool)? in
            guard var order = state.orders[orderID] else { return nil }
            switch order.status {
            case "CREATED", "PAYER_ACTION_REQUIRED":
                order.status = "APPROVED"
                order.payerID = payerID
                order.updatedAt = Date()
                state.orders[orderID] = order
                return (order, true)
            case "APPROVED":
                return (order, false)
            default:
                return nil
            }
        }
        guard let result else { return nil }
        let baseURL = self.baseURL
        if result.newly {
            await emit("CHECKOUT.ORDER.APPROVED", resource: Self.orderJSON(result.order, capture: nil, refunds: [], baseURL: baseURL, shape: .full))
        }
        guard let returnURL = result.order.returnURL else { return "\(baseURL)/checkoutnow?token=\(orderID)" }
        return Self.appending(returnURL, [("token", orderID), ("PayerID", result.order.payerID ?? payerID)])
    }

    static func appending(_ url: String, _ items: [(String, String)]) -> String {
        url + (url.contains("?") ? "&" : "?") + items.map { "\($0.0)=\($0.1)" }.joined(separator: "&")
    }

    static func html(_ body: String, status: Int = 200) -> Response {
        let page = """
            <!doctype html><html><head><meta charset="utf-8"><title>PayPal emulator</title>
            <style>body{font-family:system-ui;max-width:440px;margin:3rem auto}button{display:block;width:100%;margin:.5rem 0;padding:.6rem}</style>
            </head><body><p>PayPal emulator · sandbox</p>\(body)</body></html>
            """
        return Response(status: .init(code: status), headers: [.contentType: "text/html; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: page)))
    }

    static func statusPage(_ order: Order) -> Response {
        html("<h1 id=\"status\">Order <code>\(Text.htmlEscaped(order.id))</code> is \(Text.htmlEscaped(order.status))</h1>")
    }

    static var notFoundPage: Response { html("<h1>No such order</h1>", status: 404) }

    /// `GET /checkoutnow?token=<order id>`: the amount, and Approve or Cancel (one form posting back here).
    private func approvalPage(_ id: String) -> Response {
        guard let order = order(id) else { return Self.notFoundPage }
        guard order.status == "CREATED" || order.status == "PAYER_ACTION_REQUIRED" else { return Self.statusPage(order) }
        let escaped = Text.htmlEscaped(order.id)
        let amount = Text.htmlEscaped("\(order.amount.value) \(order.amount.currency)")
        let detail = order.description.map { " · " + Text.htmlEscaped($0) } ?? ""
        return Self.html(
            """
            <h1>Pay with PayPal</h1><p id="amount">\(amount)</p><p>Order <code>\(escaped)</code>\(detail)</p>
            <form method="post" action="/checkoutnow?token=\(escaped)"><input type="hidden" name="token" value="\(escaped)">
            <button name="action" value="approve" id="approve">Approve</button>
            <button name="action" value="cancel" id="cancel">Cancel</button></form>
            """
        )
    }

    /// The buyer's answer: Approve → ``approve(orderID:)`` and 303 to the return URL; Cancel → 303 to
    /// `cancel_url?token=<id>` (the order is left as it was, as PayPal does).
    private func approvalAnswer(_ request: Request) async throws -> Response {
        let form = FormURLEncoded.parse(Array(buffer: try await request.body.collect(upTo: 1 << 16)))
        let id = form["token"] ?? request.uri.queryParameters.get("token") ?? ""
        guard let order = order(id) else { return Self.notFoundPage }
        switch form["action"] {
        case "approve":
            guard let location = await approve(orderID: id) else { return Self.statusPage(self.order(id) ?? order) }
            return Response(status: .seeOther, headers: [.location: location])
        case "cancel":
            guard let cancelURL = order.cancelURL else { return Self.html("<h1 id=\"cancelled\">Payment cancelled</h1>") }
            return Response(status: .seeOther, headers: [.location: Self.appending(cancelURL, [("token", id)])])
        default:
            return Self.html("<h1>Choose approve or cancel</h1>", status: 400)
        }
    }

    // MARK: - Webhooks

    /// The `PAYPAL-CERT-URL` a delivery with `fault` names.
    public func certURL(for fault: Fault?) -> String {
        let (apiPort, certPort) = state.withLock { ($0.port ?? configuration.port, $0.certPort ?? configuration.certPort) }
        let host = configuration.certHost
        let name: String
        switch fault {
        case .foreignCertHost?:
            let foreign = host == "127.0.0.1" ? "localhost" : "127.0.0.1"
            return "https://\(foreign):\(certPort)\(Self.certificatesPath)\(Self.signingCertificateName)"
        case .httpCertURL?:
            return "http://\(host):\(apiPort)\(Self.certificatesPath)\(Self.signingCertificateName)"
        case .redirectedCertURL?: name = Self.redirectCertificateName
        case .expiredCertificate?: name = Self.expiredCertificateName
        case .otherCA?: name = Self.otherCACertificateName
        case .notPayPalSubject?: name = Self.notPayPalCertificateName
        default: name = Self.signingCertificateName
        }
        return "https://\(host):\(certPort)\(Self.certificatesPath)\(name)"
    }

    static func resourceType(_ eventType: String) -> String {
        if eventType.hasPrefix("CHECKOUT.") { return "checkout-order" }
        if eventType == "PAYMENT.CAPTURE.REFUNDED" || eventType.hasPrefix("PAYMENT.REFUND.") { return "refund" }
        if eventType.hasPrefix("PAYMENT.CAPTURE.") { return "capture" }
        if eventType.hasPrefix("PAYMENT.AUTHORIZATION.") { return "authorization" }
        return "unknown"
    }

    static func summary(_ eventType: String, resource: JSONValue) -> String {
        let amount = resource["amount"] ?? resource["purchase_units"]?.arrayValue?.first?["amount"]
        let money = [amount?["value"]?.stringValue, amount?["currency_code"]?.stringValue].compactMap { $0 }.joined(separator: " ")
        switch eventType {
        case "CHECKOUT.ORDER.APPROVED": return "An order has been approved by buyer"
        case "PAYMENT.CAPTURE.COMPLETED": return "Payment completed for \(money)"
        case "PAYMENT.CAPTURE.PENDING": return "Payment pending for \(money)"
        case "PAYMENT.CAPTURE.DENIED": return "Payment denied for \(money)"
        case "PAYMENT.CAPTURE.REFUNDED": return "A \(money) capture payment was refunded"
        default: return "\(eventType) (emulated)"
        }
    }

    static func eventJSON(id: String, eventType: String, resource: JSONValue, at date: Date, baseURL: String, altered: Bool = false) -> JSONValue {
        let event = "\(baseURL)/v1/notifications/webhooks-events/\(id)"
        let line = Self.summary(eventType, resource: resource) + (altered ? " (altered in transit)" : "")
        return .object([
            ("id", .string(id)), ("event_version", .string("1.0")), ("create_time", .string(isoMilliseconds(date))),
            ("resource_type", .string(resourceType(eventType))), ("resource_version", .string("2.0")), ("event_type", .string(eventType)),
            ("summary", .string(line)), ("resource", resource),
            ("links", .array([link(event, "self", "GET"), link("\(event)/resend", "resend", "POST")])),
        ])
    }

    /// A signed event about `resource`, built and not sent. The signature is RSASSA-PKCS1-v1_5 SHA-256 by the key
    /// of the certificate at `PAYPAL-CERT-URL`, over ``signedString(transmissionID:transmissionTime:webhookID:body:)``,
    /// unless `fault` says otherwise.
    public func delivery(eventType: String, resource: JSONValue, fault: Fault? = nil) throws -> Delivery {
        let id = "WH-\(Self.paypalID())-\(Self.paypalID())"
        let now = Date()
        let baseURL = self.baseURL
        let body = Self.eventJSON(id: id, eventType: eventType, resource: resource, at: now, baseURL: baseURL).bytes()
        let transmissionID = UUID().uuidString.lowercased()
        let transmissionTime = Self.iso(fault == .staleTransmission ? now.addingTimeInterval(-3600) : now)
        let message = Self.signedString(transmissionID: transmissionID, transmissionTime: transmissionTime, webhookID: configuration.webhookID, body: body)
        let key = fault == .badSignature ? pki.otherKey : pki.signingKey
        let signature = try key.signature(for: Array(message.utf8), padding: .insecurePKCS1v1_5)
        let sent = fault == .alteredBody
            ? Self.eventJSON(id: id, eventType: eventType, resource: resource, at: now, baseURL: baseURL, altered: true).bytes() : body
        let headers: [(String, String)] = [
            ("content-type", "application/json"), ("user-agent", "PayPal/AUHD-214.0-58843656"),
            ("PAYPAL-TRANSMISSION-ID", transmissionID), ("PAYPAL-TRANSMISSION-TIME", transmissionTime),
            ("PAYPAL-TRANSMISSION-SIG", signature.rawRepresentation.base64EncodedString()), ("PAYPAL-CERT-URL", certURL(for: fault)),
            ("PAYPAL-AUTH-ALGO", "SHA256withRSA"), ("PAYPAL-AUTH-VERSION", "v2"),
        ]
        return Delivery(id: id, eventType: eventType, fault: fault, headers: headers, body: sent)
    }

    /// Builds and posts an event; returns Settle's HTTP status (0 when there is no webhook URL).
    @discardableResult
    public func send(eventType: String, resource: JSONValue, fault: Fault? = nil) async throws -> Int {
        try await deliver(try delivery(eventType: eventType, resource: resource, fault: fault))
    }

    /// Posts a prepared delivery (tests send them again, late or out of order); returns the HTTP status, 0 when there
    /// is no webhook URL. Each attempt is logged in ``sentEvents`` (status 0 when the connection failed).
    @discardableResult
    public func deliver(_ delivery: Delivery) async throws -> Int {
        guard let url = webhookURL else { return 0 }
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        for (name, value) in delivery.headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(bytes: delivery.body))
        let status: Int
        do {
            let response = try await httpClient.execute(request, timeout: .seconds(15))
            _ = try await response.body.collect(upTo: 1 << 16)
            status = Int(response.status.code)
        } catch {
            record(delivery, status: 0)
            throw error
        }
        record(delivery, status: status)
        return status
    }

    private func record(_ delivery: Delivery, status: Int) {
        state.withLock { $0.sentEvents.append(SentEvent(id: delivery.id, eventType: delivery.eventType, fault: delivery.fault, status: status)) }
    }

    /// Delivers one of the emulator's own events now (awaited), with ``webhookFault``; failures are only logged.
    private func emit(_ eventType: String, resource: JSONValue) async {
        guard webhookURL != nil, let delivery = try? delivery(eventType: eventType, resource: resource, fault: webhookFault) else { return }
        _ = try? await deliver(delivery)
    }

    /// Delivers one of the emulator's own events after the API answers, as PayPal does (Settle may hold the payment
    /// while it waits for the capture's answer); ``flushEvents()`` waits for them.
    private func emitInBackground(_ eventType: String, resource: JSONValue) {
        guard webhookURL != nil else { return }
        let task = Task { await self.emit(eventType, resource: resource) }
        state.withLock { $0.pendingDeliveries.append(task) }
    }

    /// Waits until every event sent in the background so far has been delivered (or failed).
    public func flushEvents() async {
        while true {
            let tasks = state.withLock { state -> [Task<Void, Never>] in
                defer { state.pendingDeliveries = [] }
                return state.pendingDeliveries
            }
            if tasks.isEmpty { return }
            for task in tasks { await task.value }
        }
    }

    // MARK: - Certificates

    /// Issues the CA, the signing leaves (good, expired, not PayPal's, from another CA) and the TLS certificate.
    private static func makePKI(keys: Keys, certHost: String, host: String, now: Date = Date()) throws -> PKI {
        let authorityKey = Certificate.PrivateKey(keys.authority)
        let otherAuthorityKey = Certificate.PrivateKey(keys.otherAuthority)
        let signingPublicKey = Certificate.PublicKey(keys.signing.publicKey)
        let authorityName = try DistinguishedName {
            CountryName("US")
            OrganizationName("Settle")
            CommonName("Settle PayPal emulator CA")
        }
        let otherAuthorityName = try DistinguishedName {
            CountryName("US")
            OrganizationName("Elsewhere")
            CommonName("Untrusted PayPal look-alike CA")
        }
        let start = now.addingTimeInterval(-3600)
        let end = now.addingTimeInterval(10 * 365 * 86_400)
        let authority = try issue(
            subject: authorityName, publicKey: authorityKey.publicKey, issuer: authorityName, issuerKey: authorityKey,
            from: start, until: end, extensions: try authorityExtensions()
        )
        let otherAuthority = try issue(
            subject: otherAuthorityName, publicKey: otherAuthorityKey.publicKey, issuer: otherAuthorityName, issuerKey: otherAuthorityKey,
            from: start, until: end, extensions: try authorityExtensions()
        )
        let signing = try issue(
            subject: try paypalName("messageverificationcerts.paypal.com"), publicKey: signingPublicKey, issuer: authorityName,
            issuerKey: authorityKey, from: start, until: now.addingTimeInterval(365 * 86_400), extensions: try signingExtensions()
        )
        let expired = try issue(
            subject: try paypalName("messageverificationcerts.paypal.com"), publicKey: signingPublicKey, issuer: authorityName,
            issuerKey: authorityKey, from: now.addingTimeInterval(-30 * 86_400), until: now.addingTimeInterval(-86_400),
            extensions: try signingExtensions()
        )
        let foreign = try issue(
            subject: try paypalName("messageverificationcerts.paypal.com"), publicKey: signingPublicKey, issuer: otherAuthorityName,
            issuerKey: otherAuthorityKey, from: start, until: now.addingTimeInterval(365 * 86_400), extensions: try signingExtensions()
        )
        let evil = try issue(
            subject: try paypalName("evil.example.com"), publicKey: signingPublicKey, issuer: authorityName, issuerKey: authorityKey,
            from: start, until: now.addingTimeInterval(365 * 86_400), extensions: try signingExtensions()
        )

        let tlsKey = P256.Signing.PrivateKey()
        var names: [GeneralName] = [.dnsName(certHost)]
        if certHost != "localhost" { names.append(.dnsName("localhost")) }
        for address in Set(["127.0.0.1", host, certHost]) {
            if let bytes = ipv4(address) { names.append(.ipAddress(ASN1OctetString(contentBytes: bytes[...]))) }
        }
        let tlsName = try DistinguishedName {
            OrganizationName("Settle")
            CommonName(certHost)
        }
        let tlsExtensions = try Certificate.Extensions {
            Critical(BasicConstraints.notCertificateAuthority)
            Critical(KeyUsage(digitalSignature: true))
            try ExtendedKeyUsage([.serverAuth])
            SubjectAlternativeNames(names)
        }
        let tlsCertificate = try issue(
            subject: tlsName, publicKey: Certificate.PublicKey(tlsKey.publicKey), issuer: authorityName, issuerKey: authorityKey,
            from: start, until: now.addingTimeInterval(365 * 86_400), extensions: tlsExtensions
        )
        let tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: [
                .certificate(try NIOSSLCertificate(bytes: Array(tlsCertificate.utf8), format: .pem)),
                .certificate(try NIOSSLCertificate(bytes: Array(authority.utf8), format: .pem)),
            ],
            privateKey: .privateKey(try NIOSSLPrivateKey(bytes: Array(tlsKey.pemRepresentation.utf8), format: .pem))
        )
        return PKI(
            caPEM: authority,
            served: [
                signingCertificateName: signing, expiredCertificateName: expired, notPayPalCertificateName: evil,
                otherCACertificateName: foreign + "\n" + otherAuthority,
            ],
            tls: tls, signingKey: keys.signing, otherKey: keys.otherAuthority
        )
    }

    /// A certificate signed by `issuerKey` (RSA, SHA-256), as PEM.
    private static func issue(
        subject: DistinguishedName, publicKey: Certificate.PublicKey, issuer: DistinguishedName, issuerKey: Certificate.PrivateKey,
        from: Date, until: Date, extensions: Certificate.Extensions
    ) throws -> String {
        let certificate = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: publicKey, notValidBefore: from, notValidAfter: until,
            issuer: issuer, subject: subject, signatureAlgorithm: .sha256WithRSAEncryption, extensions: extensions, issuerPrivateKey: issuerKey
        )
        return try certificate.serializeAsPEM().pemString
    }

    /// PayPal's signing certificate subject, with another common name if asked.
    private static func paypalName(_ commonName: String) throws -> DistinguishedName {
        try DistinguishedName {
            CountryName("US")
            StateOrProvinceName("California")
            LocalityName("San Jose")
            OrganizationName("PayPal, Inc.")
            CommonName(commonName)
        }
    }

    private static func authorityExtensions() throws -> Certificate.Extensions {
        try Certificate.Extensions {
            Critical(BasicConstraints.isCertificateAuthority(maxPathLength: nil))
            Critical(KeyUsage(keyCertSign: true, cRLSign: true))
        }
    }

    private static func signingExtensions() throws -> Certificate.Extensions {
        try Certificate.Extensions {
            Critical(BasicConstraints.notCertificateAuthority)
            Critical(KeyUsage(digitalSignature: true))
        }
    }

    /// The four bytes of a dotted IPv4 address, `nil` for anything else.
    static func ipv4(_ text: String) -> [UInt8]? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        let bytes = parts.compactMap { UInt8($0) }
        return bytes.count == 4 ? bytes : nil
    }
}
