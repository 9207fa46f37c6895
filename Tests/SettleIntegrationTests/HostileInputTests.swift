import AsyncHTTPClient
import Foundation
import NIOHTTP1
import Settle
import SettleCore
import SettleProviders
import SettleServer
import SettleStore
import Testing

/// Numbers from outside at their extremes: every one gets a typed 4xx (or the provider's protocol error), nothing
/// changes, and the process keeps serving. A trap in any of these would take the whole test process down.
@Suite(.serialized) struct HostileNumberTests {
    static let extremes = [
        "-9223372036854775808", "9223372036854775807", "9223372036854775808", "1e308", "-0", "-1", "+1700000000",
        " 1700000000", "0x10", String(repeating: "9", count: 4096),
    ]

    @Test(arguments: Engine.enabled)
    func extremeWebhookTimestampsAreRefusedAndTheServerStaysUp(_ engine: Engine) async throws {
        try await withSettle(databaseURL: try await engine.makeDatabaseURL()) { settle in
            let id = try await settle.createPayment()
            let before = try await settle.store.counts()
            for timestamp in Self.extremes {
                let reply = try await settle.request(
                    .POST, "/v1/webhooks/sandbox", json: "{}",
                    headers: [("webhook-id", "a"), ("webhook-timestamp", timestamp), ("webhook-signature", "v1,AAAA")], auth: false
                )
                #expect(reply.status == 401 && reply.errorCode == "invalid_signature", "\(timestamp): \(reply.text)")
            }
            #expect(try await settle.request(.GET, "/health", auth: false).status == 200)
            #expect(try await settle.paymentStatus(id) == "requires_action")
            let after = try await settle.store.counts()
            #expect(after.payments == before.payments && after.events == before.events && after.notifications == before.notifications)
        }
    }

    @Test(arguments: Engine.enabled)
    func extremeRecoverSinceIsRefused(_ engine: Engine) async throws {
        try await withSettle(databaseURL: try await engine.makeDatabaseURL()) { settle in
            let endpoint = try await settle.request(
                .POST, "/v1/webhook_endpoints", json: #"{"url":"http://127.0.0.1:9/hooks","enabled_events":["*"]}"#
            )
            let endpointID = try #require(endpoint.json["id"] as? String)
            for since in ["9223372036854775807", "-9223372036854775808", "-1", "253402300800", "1e308", "\"soon\""] {
                let reply = try await settle.request(.POST, "/v1/webhook_endpoints/\(endpointID)/recover", json: #"{"since":\#(since)}"#)
                #expect(reply.status == 400, "\(since): \(reply.text)")
                #expect((reply.json["error"] as? [String: Any])?["param"] as? String == "since", "\(since): \(reply.text)")
            }
            let fine = try await settle.request(.POST, "/v1/webhook_endpoints/\(endpointID)/recover", json: #"{"since":0}"#)
            #expect(fine.status == 200 && fine.json["requeued"] as? Int == 0, "\(fine.text)")
        }
    }

    @Test(arguments: Engine.enabled)
    func extremeQueryAndBodyIntegersAreRefused(_ engine: Engine) async throws {
        try await withSettle(databaseURL: try await engine.makeDatabaseURL()) { settle in
            for limit in Self.extremes + ["0", "101"] {
                let encoded = limit.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? limit
                for path in ["/v1/payments", "/v1/events"] {
                    let reply = try await settle.request(.GET, "\(path)?limit=\(encoded)")
                    #expect(reply.status == 400 && reply.errorCode == "parameter_invalid", "\(path) limit=\(limit): \(reply.text)")
                }
            }
            let body = { (amount: String, expiresIn: String) in
                #"{"amount":\#(amount),"currency":"COP","provider":"sandbox","reference":"r","expires_in":\#(expiresIn)}"#
            }
            for amount in ["9223372036854775807", "9223372036854775808", "-9223372036854775808", "1e308", "-0", "1.0", "99999999999999999999999999"] {
                let reply = try await settle.request(.POST, "/v1/payments", json: body(amount, "3600"))
                #expect(reply.status == 400, "amount \(amount): \(reply.text)")
                #expect((reply.json["error"] as? [String: Any])?["param"] as? String == "amount", "amount \(amount): \(reply.text)")
            }
            for expiresIn in ["9223372036854775807", "-9223372036854775808", "1e308", "-0", "0"] {
                let reply = try await settle.request(.POST, "/v1/payments", json: body("100", expiresIn))
                #expect(reply.status == 400, "expires_in \(expiresIn): \(reply.text)")
                #expect((reply.json["error"] as? [String: Any])?["param"] as? String == "expires_in", "expires_in \(expiresIn): \(reply.text)")
            }
            #expect(try await settle.store.counts().payments == 0)
        }
    }
}
