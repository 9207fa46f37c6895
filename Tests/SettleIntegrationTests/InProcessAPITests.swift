import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Settle
import SettleCore
@testable import SettleServer
import SettleStore
import Testing

/// The API where it needs no database, driven in process through the router (no port, no server). The use cases sit
/// on a PostgreSQL that is not there, so a test that reached the database would answer 503 and fail.
@Suite struct InProcessAPITests {
    func withRouter(_ test: @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        let store = try await Store.open(try DatabaseLocation(url: "postgres://settle@127.0.0.1:1/none"), logger: Engine.logger)
        let useCases = makeUseCases(
            store: store, configuration: SettleConfiguration(), runtime: ServerRuntime(publicURL: "http://settle.test", host: "127.0.0.1"), metrics: nil,
            httpClient: testHTTPClient, logger: Engine.logger
        )
        let app = Application(router: buildRouter(useCases), logger: Engine.logger)
        try await app.test(.router, test)
    }

    static func json(_ response: TestResponse) -> [String: Any] {
        ((try? JSONSerialization.jsonObject(with: Data(Array(buffer: response.body)))) as? [String: Any]) ?? [:]
    }

    static func error(_ response: TestResponse) -> [String: Any] { json(response)["error"] as? [String: Any] ?? [:] }

    @Test func everyErrorHasOneShapeAndItsRequestID() async throws {
        try await withRouter { client in
            let cases: [(String, HTTPRequest.Method, HTTPFields, Int, String)] = [
                ("/v1/payments", .get, [:], 401, "api_key_missing"),
                ("/v1/payments", .get, [.authorization: "Bearer pk_test_nope"], 401, "api_key_invalid"),
                ("/v1/payments", .get, [.authorization: "Basic c2tfdGVzdF94Og=="], 401, "api_key_missing"),
                ("/v1/nowhere", .get, [:], 404, "route_not_found"),
                ("/v1/webhooks/acme", .post, [:], 404, "provider_not_found"),
                ("/v1/webhooks/sandbox", .get, [:], 405, "method_not_allowed"),
                ("/v1/payments", .put, [:], 405, "method_not_allowed"),
                ("/v1/payments/pay_123/cancel", .get, [:], 405, "method_not_allowed"),
                ("/health", .delete, [:], 405, "method_not_allowed"),
                ("/v1/payments/pay_123/nowhere", .get, [:], 404, "route_not_found"),
            ]
            for (uri, method, headers, status, code) in cases {
                try await client.execute(uri: uri, method: method, headers: headers) { response in
                    #expect(response.status.code == status, "\(method) \(uri)")
                    #expect(response.headers[.contentType] == "application/json")
                    let error = Self.error(response)
                    #expect(error["code"] as? String == code, "\(method) \(uri): \(String(buffer: response.body))")
                    #expect(error["type"] is String && error["message"] is String)
                    let requestID = try #require(response.headers[HTTPField.Name("request-id")!])
                    #expect(requestID.hasPrefix("req_") && error["request_id"] as? String == requestID)
                    #expect(response.headers[.xContentTypeOptions] == "nosniff")
                }
            }
            // A known path asked with another method names what it allows.
            for (uri, method, allowed) in [("/v1/payments", HTTPRequest.Method.put, "GET, POST"), ("/v1/webhook_endpoints/we_1", .patch, "DELETE, GET, POST"), ("/health", .delete, "GET"), ("/v1/providers/efecty/settlements", .get, "POST")] {
                try await client.execute(uri: uri, method: method) { response in
                    #expect(response.status.code == 405 && response.headers[.allow] == allowed, "\(method) \(uri)")
                }
            }
        }
    }

    /// Pages answer errors as HTML, and no page can be framed by another site.
    @Test func pagesAnswerHTMLAndRefuseFraming() async throws {
        try await withRouter { client in
            // No token bound to the payment: the return page shows nothing, without even asking the database.
            try await client.execute(uri: "/checkout/return/pay_123", method: .get) { response in
                #expect(response.status == .notFound)
                #expect(response.headers[.contentType] == "text/html; charset=utf-8")
                #expect(response.headers[HTTPField.Name("X-Frame-Options")!] == "DENY")
                #expect(response.headers[.contentSecurityPolicy]?.contains("frame-ancestors 'none'") == true)
                #expect(String(buffer: response.body).contains("data-code=\"payment_not_found\""))
            }
            try await client.execute(uri: "/checkout/return/pay_123?token=forged", method: .get) { response in
                #expect(response.status == .notFound)
            }
            try await client.execute(uri: "/checkout/return/pay_123/forged?id=1234-1610641025-49201", method: .get) { response in
                #expect(response.status == .notFound)
            }
        }
    }

    /// `/health` answers 503 within its bound when the database is not there, instead of waiting it out.
    @Test func healthSays503WhenTheDatabaseIsGone() async throws {
        try await withRouter { client in
            try await client.execute(uri: "/health", method: .get) { response in
                #expect(response.status == .serviceUnavailable)
                #expect(Self.json(response)["database"] as? String == "unreachable")
            }
        }
    }
}
