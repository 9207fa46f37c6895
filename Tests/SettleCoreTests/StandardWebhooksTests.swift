import Foundation
import Testing

@testable import SettleCore

@Suite struct StandardWebhooksTests {
    let secret = StandardWebhookSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")!

    /// The canonical vector from the spec, reproduced by the `standardwebhooks` reference library.
    @Test func canonicalVector() {
        let body = Array(#"{"test": 2432232314}"#.utf8)
        let signature = StandardWebhooks.signature(secret: secret, id: "msg_p5jXN8AQM9LWM0D4loKWxJek", timestamp: 1_614_265_330, body: body)
        #expect(signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
    }

    @Test func paymentShapedVector() {
        let body = Array(
            #"{"type":"payment.succeeded","timestamp":"2024-01-01T00:00:00Z","data":{"id":"pay_123","amount":150000,"currency":"COP"}}"#.utf8
        )
        #expect(
            StandardWebhooks.signature(secret: secret, id: "msg_01HQZ", timestamp: 1_704_067_200, body: body)
                == "v1,Bdp6HWMkYGNRZJYd3lG+A8nONC5fJzjfHnJoDCcU0Z4="
        )
    }

    @Test func verifyAcceptsAnyMatchingSignatureAndRejectsTheRest() throws {
        let body = Array(#"{"test": 2432232314}"#.utf8)
        let now = Date(timeIntervalSince1970: 1_614_265_330)
        let good = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        try StandardWebhooks.verify(secrets: [secret], id: "msg_p5jXN8AQM9LWM0D4loKWxJek", timestamp: "1614265330",
            signatureHeader: "v1,AAAA v1a,xyz \(good)", body: body, now: now)
        #expect(throws: StandardWebhooks.Failure.noMatchingSignature) {
            try StandardWebhooks.verify(secrets: [secret], id: "msg_p5jXN8AQM9LWM0D4loKWxJek", timestamp: "1614265330",
                signatureHeader: good, body: body + [0x20], now: now)
        }
        #expect(throws: StandardWebhooks.Failure.timestampOutsideTolerance) {
            try StandardWebhooks.verify(secrets: [secret], id: "msg_p5jXN8AQM9LWM0D4loKWxJek", timestamp: "1614265330",
                signatureHeader: good, body: body, now: now.addingTimeInterval(301))
        }
        #expect(throws: StandardWebhooks.Failure.timestampOutsideTolerance) {
            try StandardWebhooks.verify(secrets: [secret], id: "msg_p5jXN8AQM9LWM0D4loKWxJek", timestamp: "1614265330",
                signatureHeader: good, body: body, now: now.addingTimeInterval(-301))
        }
        #expect(throws: StandardWebhooks.Failure.missingHeaders) {
            try StandardWebhooks.verify(secrets: [secret], id: nil, timestamp: "1614265330", signatureHeader: good, body: body, now: now)
        }
        #expect(throws: StandardWebhooks.Failure.invalidTimestamp) {
            try StandardWebhooks.verify(secrets: [secret], id: "m", timestamp: "soon", signatureHeader: good, body: body, now: now)
        }
    }

    /// Extreme timestamps are refused without trapping: this header once stopped the whole server.
    @Test(arguments: [
        "-9223372036854775808", "9223372036854775807", "9223372036854775808", "1e308", "-0", "-1614265330", "+1614265330",
        " 1614265330", "1614265330 ", "0x60386B72", "", String(repeating: "9", count: 4096),
    ])
    func extremeTimestampsAreRefused(_ timestamp: String) {
        let body = Array(#"{"test": 2432232314}"#.utf8)
        #expect(throws: StandardWebhooks.Failure.invalidTimestamp) {
            try StandardWebhooks.verify(secrets: [secret], id: "msg_p5jXN8AQM9LWM0D4loKWxJek", timestamp: timestamp,
                signatureHeader: "v1,AAAA", body: body, now: Date(timeIntervalSince1970: 1_614_265_330))
        }
    }

    @Test func farTimestampsAreOutsideTolerance() {
        let body = Array(#"{"test": 2432232314}"#.utf8)
        for timestamp in ["0", "999999999999999999", "1614264000"] {
            #expect(throws: StandardWebhooks.Failure.timestampOutsideTolerance, "\(timestamp)") {
                try StandardWebhooks.verify(secrets: [secret], id: "m", timestamp: timestamp, signatureHeader: "v1,AAAA", body: body,
                    now: Date(timeIntervalSince1970: 1_614_265_330))
            }
        }
    }

    @Test func secretParsing() {
        #expect(StandardWebhookSecret("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")?.key == secret.key)
        #expect(StandardWebhookSecret("whsec_c2hvcnQ=") == nil)  // 5 bytes: too short
        #expect(StandardWebhookSecret("whsec_!!!") == nil)
        let generated = StandardWebhookSecret.generate()
        #expect(generated.key.count == 32)
        #expect(StandardWebhookSecret(generated.serialized) == generated)
        #expect(!"\(generated)".contains(generated.serialized.dropFirst(6)))
    }
}

@Suite struct AuditChainAndJSONTests {
    @Test func hashCoversEveryFieldAndTheLink() {
        func hash(previous: String = AuditChain.genesis, action: String = "payment.succeeded", requestID: String? = nil) -> String {
            AuditChain.hash(previousHash: previous, sequence: 1, actorKind: "provider", actorID: "sandbox", action: action,
                targetType: "payment", targetID: "pay_1", before: "{}", after: "{}", requestID: requestID, atMilliseconds: 1)
        }
        let base = hash()
        #expect(base.count == 64)
        #expect(hash(action: "payment.failed") != base)
        #expect(hash(previous: String(repeating: "1", count: 64)) != base)
        #expect(hash(requestID: "req_1") != base)
        #expect(hash() == base)
    }

    @Test func jsonEscapingAndOrder() {
        let value = JSONValue.object([("b", .int(-5)), ("a", .string("q\"\\\n\u{01}é")), ("n", .null), ("l", .array([.bool(true)]))])
        #expect(value.serialized() == #"{"b":-5,"a":"q\"\\\n\u0001é","n":null,"l":[true]}"#)
        #expect(JSONValue.stringMap(["z": "1", "a": "2"]).serialized() == #"{"a":"2","z":"1"}"#)
    }

    @Test func identifiersArePrefixedAndUnique() {
        let ids = Set((0..<1000).map { _ in Identifier.make("pay") })
        #expect(ids.count == 1000)
        #expect(ids.allSatisfy { $0.hasPrefix("pay_") && $0.count == 28 })
    }
}
