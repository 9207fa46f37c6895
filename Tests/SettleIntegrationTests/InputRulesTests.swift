import AsyncHTTPClient
import Foundation
import NIOHTTP1
import Settle
import SettleCore
import SettleServer
import SettleStore
import Testing

/// The small rules: lengths in bytes as well as characters, no control characters in URLs and keys, and the sandbox
/// page's guards (its CSRF token, final payments, framing).
@Suite(.serialized) struct InputRulesTests {
    static let base = #""amount":100,"currency":"COP","provider":"sandbox""#

    @Test(arguments: Engine.enabled)
    func textIsBoundInBytesAndURLsAndKeysRefuseControlCharacters(_ engine: Engine) async throws {
        try await withSettle(databaseURL: try await engine.makeDatabaseURL()) { settle in
            let before = try await settle.store.counts()
            let oneHugeCharacter = "e" + String(repeating: "\u{301}", count: 5000)  // one character, 10,001 bytes
            let cases: [(String, String)] = [
                (#""reference":"r","description":"\#(oneHugeCharacter)""#, "description"),
                (#""reference":"\#(String(repeating: "x", count: 201))""#, "reference"),
                (#""reference":"r","return_url":"https://shop.example/a\u0001b""#, "return_url"),
                (#""reference":"r","return_url":"https://shop.example/a b""#, "return_url"),
                (#""reference":"r","cancel_url":"https://shop.example/\u00e9""#, "cancel_url"),
                (#""reference":"r","metadata":{"a\nb":"v"}"#, "metadata"),
                (#""reference":"r\u0000""#, "reference"),
            ]
            for (fields, param) in cases {
                let reply = try await settle.request(.POST, "/v1/payments", json: "{\(Self.base),\(fields)}")
                #expect(reply.status == 400, "\(param): \(reply.text.prefix(300))")
                #expect((reply.json["error"] as? [String: Any])?["param"] as? String == param, "\(reply.text.prefix(300))")
            }
            // Many bytes within the character limit are fine: 150 three-byte characters.
            let euros = try await settle.request(.POST, "/v1/payments", json: "{\(Self.base),\"reference\":\"\(String(repeating: "€", count: 150))\"}")
            #expect(euros.status == 201, "\(euros.text)")
            for key in ["tab\tkey", String(repeating: "k", count: 256), "", "é"] {  // (the client refuses to send DEL at all)
                let reply = try await settle.request(.POST, "/v1/payments", json: "{\(Self.base),\"reference\":\"r\"}", headers: [("Idempotency-Key", key)])
                #expect(reply.status == 400 && (reply.json["error"] as? [String: Any])?["param"] as? String == "Idempotency-Key", "\(key): \(reply.text)")
            }
            for url in ["https://hooks.example.com/a b", "https://hooks.example.com/\u{1}", "https://user:pw@hooks.example.com/h", "https://hooks.exämple.com/h"] {
                let reply = try await settle.request(.POST, "/v1/webhook_endpoints", json: #"{"url":"\#(url)","enabled_events":["*"]}"#)
                #expect(reply.status == 400, "\(url): \(reply.text)")
            }
            let after = try await settle.store.counts()
            #expect(after.payments == before.payments + 1)
        }
    }

    @Test(arguments: Engine.enabled)
    func theSandboxPageGuardsItsButtons(_ engine: Engine) async throws {
        try await withSettle(databaseURL: try await engine.makeDatabaseURL()) { settle in
            let id = try await settle.createPayment()
            let other = try await settle.createPayment()
            let page = try await settle.request(.GET, "/sandbox/checkout/\(id)", auth: false)
            #expect(page.headers.first(name: "x-frame-options") == "DENY")
            #expect(page.headers.first(name: "content-security-policy")?.contains("frame-ancestors 'none'") == true)
            #expect(page.headers.first(name: "cache-control") == "no-store")
            let token = try #require(SandboxPage.formToken(page.text))
            let otherToken = try #require(SandboxPage.formToken(try await settle.request(.GET, "/sandbox/checkout/\(other)", auth: false).text))
            func press(_ body: String) async throws -> RunningSettle.HTTPResult {
                try await settle.request(
                    .POST, "/sandbox/checkout/\(id)", auth: false, contentType: "application/x-www-form-urlencoded", rawBody: Array(body.utf8)
                )
            }
            let before = try await settle.store.counts()
            for forged in ["action=approve", "action=approve&token=", "action=approve&token=\(otherToken)", "action=approve&token=\(token)x"] {
                let reply = try await press(forged)
                #expect(reply.status == 403, "\(forged): \(reply.status)")
                #expect(reply.headers.first(name: "content-type")?.hasPrefix("text/html") == true)
                #expect(reply.text.contains("csrf_token_invalid"))
            }
            #expect(try await settle.store.counts().notifications == before.notifications)
            #expect(try await settle.paymentStatus(id) == "requires_action")
            #expect(try await press("action=approve&token=\(token)").status == 303)
            #expect(try await settle.paymentStatus(id) == "succeeded")
            // Final: the page offers nothing, and a press is refused without sending anything.
            let sent = try await settle.store.counts().notifications
            #expect(!(try await settle.request(.GET, "/sandbox/checkout/\(id)", auth: false).text.contains("<form")))
            let late = try await press("action=decline&token=\(token)")
            #expect(late.status == 409 && late.text.contains("payment_not_payable"), "\(late.status)")
            #expect(try await settle.store.counts().notifications == sent)
            #expect(try await settle.paymentStatus(id) == "succeeded")
        }
    }
}
