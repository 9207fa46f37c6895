import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import SettleCore

/// Plays Payme calling a merchant's Merchant API: JSON-RPC 2.0 over `POST`, authenticated with
/// `Authorization: Basic base64("Paycom:<cash-desk key>")`. The emulator uses it when a buyer pays, and the sandbox
/// scenarios use it to probe the merchant, including with wrong credentials and malformed requests.
public struct PaymeMerchantClient: Sendable {
    /// Which credentials a call presents.
    public enum Authorization: Sendable {
        /// `Paycom:<key>`, as Payme sends it.
        case key
        /// `Paycom:` with a key that is not the merchant's.
        case wrongKey
        /// No `Authorization` header at all.
        case none
    }

    /// The merchant's Merchant API endpoint (Settle's `/v1/webhooks/payme`).
    public var merchantURL: String
    /// The cash-desk key.
    public var key: String
    public var httpClient: HTTPClient
    public var timeout: TimeAmount

    public init(merchantURL: String, key: String, httpClient: HTTPClient = .shared, timeout: TimeAmount = .seconds(15)) {
        self.merchantURL = merchantURL
        self.key = key
        self.httpClient = httpClient
        self.timeout = timeout
    }

    /// Sends `{"jsonrpc":"2.0","id":…,"method":…,"params":…}`; `id` defaults to a random positive integer.
    public func call(_ method: String, params: JSONValue, id: Int64? = nil, authorization: Authorization = .key) async throws -> PaymeReply {
        let envelope = JSONValue.object([
            ("jsonrpc", .string("2.0")), ("id", .int(id ?? Self.requestID())), ("method", .string(method)), ("params", params),
        ])
        return try await raw(method: .POST, body: envelope.bytes(), authorization: authorization)
    }

    /// Sends any body with any HTTP method (the protocol-error scenarios: `GET`, malformed JSON).
    public func raw(method: HTTPMethod, body: [UInt8], authorization: Authorization = .key) async throws -> PaymeReply {
        var request = HTTPClientRequest(url: merchantURL)
        request.method = method
        request.headers.add(name: "content-type", value: "application/json")
        switch authorization {
        case .key: request.headers.add(name: "authorization", value: Self.basic(key: key))
        case .wrongKey: request.headers.add(name: "authorization", value: Self.basic(key: "wrong-" + Identifier.randomToken(length: 16)))
        case .none: break
        }
        if !body.isEmpty { request.body = .bytes(ByteBuffer(bytes: body)) }
        let response = try await httpClient.execute(request, timeout: timeout)
        let bytes = Array(buffer: try await response.body.collect(upTo: 1 << 22))
        return PaymeReply(status: Int(response.status.code), body: bytes)
    }

    /// `Basic base64("Paycom:<key>")`.
    public static func basic(key: String) -> String {
        "Basic " + Data("Paycom:\(key)".utf8).base64EncodedString()
    }

    static func requestID() -> Int64 { Int64.random(in: 1...999_999_999) }
}

/// A merchant's answer to a Merchant API call, kept as bytes and read through typed accessors.
public struct PaymeReply: Sendable, CustomStringConvertible {
    /// HTTP status (Payme expects 200 even for errors).
    public let status: Int
    public let body: [UInt8]
    /// The body parsed, or `nil` when it is not JSON.
    public let json: JSONValue?

    public init(status: Int, body: [UInt8]) {
        self.status = status
        self.body = body
        self.json = try? JSONValue.parse(body)
    }

    /// The body as text.
    public var text: String { String(decoding: body, as: UTF8.self) }
    public var description: String { "HTTP \(status) \(text)" }

    /// The JSON-RPC `id` echoed back.
    public var id: Int64? { json?["id"]?.intValue }

    /// `result`, when the reply has one.
    public var resultJSON: JSONValue? { json?["result"] }
    /// `result` as compact JSON text.
    public var result: String? { resultJSON?.serialized() }
    /// A member of `result` (`.null` when present as `null`, `nil` when absent).
    public func resultValue(_ key: String) -> JSONValue? { resultJSON?[key] }
    public func resultInt(_ key: String) -> Int64? { resultValue(key)?.intValue }
    public func resultString(_ key: String) -> String? { resultValue(key)?.stringValue }
    public func resultBool(_ key: String) -> Bool? { resultValue(key)?.boolValue }

    /// `error.code`, when the reply is an error.
    public var errorCode: Int? { json?["error"]?["code"]?.intValue.map { Int($0) } }
    /// `error.data` (Payme puts the offending account field there).
    public var errorData: String? { json?["error"]?["data"]?.stringValue }
    /// `error.message` by language (`ru`, `uz`, `en`) when it is an object.
    public var errorMessages: [String: String] {
        guard case .object(let members) = json?["error"]?["message"] else { return [:] }
        let texts = members.compactMap { member in member.1.stringValue.map { (member.0, $0) } }
        return Dictionary(texts, uniquingKeysWith: { first, _ in first })
    }
    /// `error.message`: the English text of a localized message, or the message itself when it is a string.
    public var errorMessage: String? {
        let message = json?["error"]?["message"]
        return message?.stringValue ?? message?["en"]?.stringValue
    }
}

/// Payme's 24-character lowercase hex ids (MongoDB ObjectId style): 4 bytes of Unix seconds, then 8 random bytes.
public enum PaymeObjectID {
    public static func make() -> String {
        var generator = SystemRandomNumberGenerator()
        let seconds = UInt64(UInt32(truncatingIfNeeded: UnixTime.seconds(Date())))
        return hex(seconds, digits: 8) + hex(generator.next(), digits: 16)
    }

    private static func hex(_ value: UInt64, digits: Int) -> String {
        let text = String(value, radix: 16)
        return String(repeating: "0", count: max(0, digits - text.count)) + text
    }
}
