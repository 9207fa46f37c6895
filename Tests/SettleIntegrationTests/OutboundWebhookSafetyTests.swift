import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
@testable import Settle
import SettleCore
import SettleServer
import SettleStore
import Synchronization
import Testing

/// Outbound webhooks go only where they may: no redirects, the vetted address is the one connected to, no private
/// range in any notation, a bounded read of the answer, and leases that neither double-send nor wait a minute.
@Suite(.serialized) struct OutboundWebhookSafetyTests {
    /// A resolver that answers from a script, one answer per lookup (the last repeats): DNS that rebinds.
    final class ScriptedResolver: AddressResolver {
        let answers: Mutex<[[[UInt8]]]>
        let lookups = Mutex<[String]>([])

        init(_ answers: [[[UInt8]]]) { self.answers = Mutex(answers) }

        func resolve(_ host: String) async throws -> [[UInt8]] {
            lookups.withLock { $0.append(host) }
            return answers.withLock { $0.count > 1 ? $0.removeFirst() : $0[0] }
        }
    }

    func withDispatcher(
        _ engine: Engine, policy: EndpointAddressPolicy = EndpointAddressPolicy(),
        configure: @Sendable (inout WebhookDispatcher.Configuration) -> Void = { _ in },
        _ body: @Sendable (RunningSettle, WebhookDispatcher) async throws -> Void
    ) async throws {
        try await withSettle(databaseURL: try await engine.makeDatabaseURL(), configure: { $0.runDispatcher = false }) { settle in
            var configuration = WebhookDispatcher.Configuration()
            configuration.schedule = RetrySchedule(jitter: 0)
            configuration.addressPolicy = policy
            configuration.timeout = .seconds(3)
            configure(&configuration)
            let dispatcher = WebhookDispatcher(store: settle.store, configuration: configuration, logger: Engine.logger)
            try await body(settle, dispatcher)
        }
    }

    /// An endpoint written straight into the store (the API would refuse the hosts these tests need).
    func endpoint(_ settle: RunningSettle, url: String) async throws -> WebhookEndpoint {
        let endpoint = WebhookEndpoint(mode: .test, url: url, description: nil, enabledEvents: ["*"], at: Date())
        try await settle.store.write { tx in try await tx.insertWebhookEndpoint(endpoint) }
        return endpoint
    }

    @Test(arguments: Engine.enabled)
    func redirectsAreFailedAttemptsNeverFollowed(_ engine: Engine) async throws {
        let elsewhere = ScriptedServer()
        let receiver = ScriptedServer()
        try await elsewhere.run {
            try await receiver.run {
                receiver.script([.init(status: 307, headers: [("location", "\(elsewhere.url)/steal")])])
                try await withDispatcher(engine) { settle, dispatcher in
                    let created = try await settle.request(
                        .POST, "/v1/webhook_endpoints", json: #"{"url":"\#(receiver.url)/hooks","enabled_events":["*"]}"#
                    )
                    let endpointID = try #require(created.json["id"] as? String)
                    _ = try await settle.createPayment()
                    #expect(await dispatcher.dispatchDue() == 1)
                    #expect(receiver.received.count == 1)
                    #expect(elsewhere.received.isEmpty, "the redirect was followed")
                    let attempt = try #require(try await settle.store.webhookAttempts(endpointID: endpointID, limit: 1).first)
                    #expect(attempt.statusCode == 307)
                    #expect(try await settle.store.webhookMessages().first?.state == "pending")  // retried later
                }
            }
        }
    }

    /// DNS answers 127.0.0.1 (which this test's policy treats as public) at the first lookup and 127.0.0.2 after: the
    /// first delivery reaches the receiver on the vetted address for a host name the system cannot resolve, with the
    /// host's name in `Host`; the second lookup's address is refused, and nothing ever reaches 127.0.0.2. The host
    /// written in capitals with a trailing dot is the same host: it still goes only to the vetted address.
    @Test(arguments: Engine.enabled, ["hooks.rebind.test", "HOOKS.Rebind.Test."])
    func theVettedAddressIsTheOneConnectedTo(_ engine: Engine, spelling: String) async throws {
        let vetted = ScriptedServer(host: "127.0.0.1")
        try await vetted.run {
            let rebound = ScriptedServer(host: "127.0.0.2", port: vetted.port)
            try await rebound.run {
                let resolver = ScriptedResolver([[[127, 0, 0, 1]], [[127, 0, 0, 2]]])
                let policy = EndpointAddressPolicy(resolver: resolver, isAllowed: { $0 == [127, 0, 0, 1] }, allowsPlainHTTP: true)
                try await withDispatcher(engine, policy: policy) { settle, dispatcher in
                    // Both receivers listen on the same port number, so only the address decides where it lands.
                    let url = "http://\(spelling):\(vetted.port)/hooks"
                    _ = try await endpoint(settle, url: url)
                    _ = try await settle.createPayment()
                    #expect(await dispatcher.dispatchDue() == 1)
                    #expect(vetted.received.count == 1)
                    #expect(vetted.received.first?.headers["host"]?.hasPrefix("hooks.rebind.test") == true)
                    _ = try await settle.createPayment()
                    #expect(await dispatcher.dispatchDue() == 1)
                    #expect(vetted.received.count == 1)
                    #expect(rebound.received.isEmpty)
                    let messages = try await settle.store.webhookMessages()
                    #expect(messages.filter { $0.state == "delivered" }.count == 1)
                    #expect(resolver.lookups.withLock { $0 } == ["hooks.rebind.test", "hooks.rebind.test"])
                }
            }
        }
    }

    /// A host with one public and one private address is refused: every address is checked.
    @Test func everyResolvedAddressIsChecked() async throws {
        let policy = EndpointAddressPolicy(resolver: ScriptedResolver([[[93, 184, 216, 34], [10, 0, 0, 7]]]))
        await #expect(throws: EndpointAddressPolicy.Refusal.self) { _ = try await policy.target(url: "https://mixed.example/h", mode: .live) }
        await #expect(throws: EndpointAddressPolicy.Refusal.self) { _ = try await policy.target(url: "https://mixed.example/h", mode: .test) }
        let public_ = EndpointAddressPolicy(resolver: ScriptedResolver([[[93, 184, 216, 34]]]))
        #expect(try await public_.target(url: "https://ok.example/h", mode: .live) == .pinned(host: "ok.example", address: "93.184.216.34"))
        let nowhere = EndpointAddressPolicy(resolver: ScriptedResolver([[]]))
        await #expect(throws: EndpointAddressPolicy.Refusal.self) { _ = try await nowhere.target(url: "https://gone.example/h", mode: .live) }
    }

    /// No private, loopback, link-local, metadata, CGNAT, unique-local or mapped address, in any notation, in either
    /// mode (but test mode's `localhost` and `127.0.0.1`).
    @Test(arguments: [
        "2130706433", "0x7f000001", "0x7f.1", "0177.0.0.1", "127.1", "127.0.1", "017700000001", "0.0.0.0", "0",
        "10.1.2.3", "172.16.9.9", "192.168.0.1", "169.254.169.254", "0xa9.0xfe.0xa9.0xfe", "2852039166", "100.64.0.1",
        "100.100.100.200", "198.18.0.1", "224.0.0.1", "255.255.255.255", "[::1]", "[::]", "[::ffff:127.0.0.1]", "[::ffff:7f00:1]",
        "[0:0:0:0:0:ffff:a9fe:a9fe]", "[::127.0.0.1]", "[64:ff9b::a9fe:a9fe]", "[64:ff9b::10.0.0.1]", "[2002:a9fe:a9fe::1]",
        "[2002:c0a8:0101::1]", "[fd00:ec2::254]", "[fc00::1]", "[fe80::1]", "[fec0::1]", "[ff02::1]", "[2001:db8::1]",
        "[2001:0:4136:e378:8000:63bf:3fff:fdd2]", "localhost.localdomain", "metadata.localhost",
    ])
    func privateAddressesInAnyNotationAreRefused(_ host: String) async {
        let policy = EndpointAddressPolicy()
        for mode in Mode.allCases {
            #expect(throws: EndpointAddressPolicy.Refusal.self, "\(host) in \(mode)") {
                _ = try policy.validate(url: "https://\(host)/hooks", mode: mode)
            }
        }
    }

    @Test func notationsAreReadAsAnOldParserReadsThem() {
        #expect(EndpointAddressPolicy.parseIPv4Loosely("2130706433") == [127, 0, 0, 1])
        #expect(EndpointAddressPolicy.parseIPv4Loosely("0x7f.1") == [127, 0, 0, 1])
        #expect(EndpointAddressPolicy.parseIPv4Loosely("0177.0.0.1") == [127, 0, 0, 1])
        #expect(EndpointAddressPolicy.parseIPv4Loosely("127.1") == [127, 0, 0, 1])
        #expect(EndpointAddressPolicy.parseIPv4Loosely("10.0x10.257") == [10, 16, 1, 1])
        #expect(EndpointAddressPolicy.parseIPv4Loosely("256.0.0.1") == nil)
        #expect(EndpointAddressPolicy.parseIPv4Loosely("hooks.example.com") == nil)
        #expect(EndpointAddressPolicy.parseIPv4("93.184.216.34") == [93, 184, 216, 34])
        #expect(EndpointAddressPolicy.parseIPv4("093.184.216.34") == nil)
        #expect(EndpointAddressPolicy.isPublic([93, 184, 216, 34]))
        #expect(EndpointAddressPolicy.isPublic(EndpointAddressPolicy.parse("2606:4700:4700::1111")!))
        #expect(!EndpointAddressPolicy.isPublic(EndpointAddressPolicy.parse("::ffff:10.0.0.1")!))
        #expect(EndpointAddressPolicy.isPublic(EndpointAddressPolicy.parse("::ffff:93.184.216.34")!))
        #expect(EndpointAddressPolicy.render([93, 184, 216, 34]) == "93.184.216.34")
        #expect(EndpointAddressPolicy.render(EndpointAddressPolicy.parse("2606:4700:4700::1111")!) == "2606:4700:4700::1111")
    }

    /// The delivery clients: a held client is never shut down (idle or past the maximum); idle unheld ones are, and
    /// past the maximum the least recently used unheld ones go until half remain.
    @Test func onlyUnheldClientsAreEvicted() async throws {
        typealias Clients = WebhookTransport.Clients
        let start = ContinuousClock.now
        let made = (0..<6).map { _ in HTTPClient(eventLoopGroupProvider: .singleton) }
        func key(_ n: Int) -> Clients.Key { Clients.Key(host: "h\(n).example", address: "93.184.216.\(n)") }

        var clients: [Clients.Key: Clients.Entry] = [
            key(0): .init(client: made[0], used: start, holders: 1),  // held, idle
            key(1): .init(client: made[1], used: start, holders: 0),  // unheld, idle
            key(2): .init(client: made[2], used: start + .seconds(290), holders: 0),  // unheld, recent
        ]
        let idle = Clients.evict(&clients, now: start + .seconds(301), maximum: 10)
        #expect(idle.map { ObjectIdentifier($0) } == [ObjectIdentifier(made[1])])
        #expect(Set(clients.keys) == [key(0), key(2)])

        clients = Dictionary(uniqueKeysWithValues: (0..<6).map { n in
            (key(n), Clients.Entry(client: made[n], used: start + .seconds(n), holders: n == 0 ? 1 : 0))
        })
        let crowded = Clients.evict(&clients, now: start + .seconds(10), maximum: 6)
        // Six at a maximum of six: down to three, oldest unheld first, the held oldest kept.
        #expect(crowded.map { ObjectIdentifier($0) } == [made[1], made[2], made[3]].map { ObjectIdentifier($0) })
        #expect(Set(clients.keys) == [key(0), key(4), key(5)])
        for client in made { try await client.shutdown() }
    }

    /// What an attempt keeps of an answer: at most 1 KiB, never more than was sent (invalid UTF-8 is `?`, byte for
    /// byte), and a body that trickles does not hold the delivery past its deadline.
    @Test(arguments: Engine.enabled)
    func whatIsKeptOfAnAnswerIsBounded(_ engine: Engine) async throws {
        let receiver = ScriptedServer()
        try await receiver.run {
            try await withDispatcher(engine, configure: { $0.timeout = .seconds(2) }) { settle, dispatcher in
                let created = try await settle.request(
                    .POST, "/v1/webhook_endpoints", json: #"{"url":"\#(receiver.url)/hooks","enabled_events":["payment.created"]}"#
                )
                let endpointID = try #require(created.json["id"] as? String)
                func lastAttempt() async throws -> StoredAttempt { try #require(try await settle.store.webhookAttempts(endpointID: endpointID, limit: 1).first) }

                receiver.script([.init(status: 200, body: Array(repeating: UInt8(ascii: "x"), count: 5 << 20))])
                _ = try await settle.createPayment()
                #expect(await dispatcher.dispatchDue() == 1)
                #expect(try await lastAttempt().responseBody == String(repeating: "x", count: 1024))

                receiver.script([.init(status: 200, body: [0xFF, 0xFE, 0x61, 0xE2, 0x82])])
                _ = try await settle.createPayment()
                #expect(await dispatcher.dispatchDue() == 1)
                #expect(try await lastAttempt().responseBody == "??a?")

                receiver.script([.init(status: 200, body: Array(repeating: UInt8(ascii: "y"), count: 40), trickle: .milliseconds(300))])
                _ = try await settle.createPayment()
                #expect(await dispatcher.dispatchDue() == 1)
                let trickled = try await lastAttempt()
                #expect(trickled.statusCode == 200)
                #expect(trickled.durationMilliseconds < 10_000)
                #expect((trickled.responseBody ?? "").count < 40)
                #expect(try await settle.store.webhookMessages().allSatisfy { $0.state == "delivered" })
            }
        }
    }

    /// A delivery slower than the lease keeps its claim (renewed while in flight), so a second dispatcher never sends
    /// it again; a claim whose dispatcher died is due again once its lease runs out, seconds later, not a minute.
    @Test(arguments: Engine.enabled)
    func leasesAreRenewedInFlightAndShortAfterACrash(_ engine: Engine) async throws {
        let receiver = ScriptedServer()
        try await receiver.run {
            try await withDispatcher(engine, configure: { $0.leaseSeconds = 1; $0.timeout = .seconds(6) }) { settle, dispatcher in
                let created = try await settle.request(
                    .POST, "/v1/webhook_endpoints", json: #"{"url":"\#(receiver.url)/hooks","enabled_events":["payment.created"]}"#
                )
                #expect(created.status == 201)
                receiver.script([.init(status: 200, delay: .seconds(3))])
                _ = try await settle.createPayment()
                let other = WebhookDispatcher(store: settle.store, configuration: {
                    var configuration = WebhookDispatcher.Configuration()
                    configuration.leaseSeconds = 1
                    return configuration
                }(), logger: Engine.logger)
                async let slow = dispatcher.dispatchDue()
                var stolen = 0
                for _ in 0..<20 {
                    try await Task.sleep(for: .milliseconds(200))
                    stolen += await other.dispatchDue()
                }
                #expect(await slow == 1)
                #expect(stolen == 0, "another dispatcher sent a message whose delivery was still in flight")
                #expect(receiver.received.count == 1)

                // A dispatcher that claimed and died: the claim is free within the lease.
                receiver.script([.init(status: 200)])
                _ = try await settle.createPayment()
                let claimed = try await settle.store.write { tx in try await tx.claimDueMessages(at: Date(), limit: 10, leaseSeconds: 1) }
                #expect(claimed.count == 1)
                #expect(await other.dispatchDue() == 0)
                try await Task.sleep(for: .milliseconds(1200))
                #expect(await other.dispatchDue() == 1)
                #expect(receiver.received.count == 2)
            }
        }
    }

    /// A dispatcher that stalls past its lease loses the message to the next claim: its late renewal extends nothing
    /// and its late outcome (a retry) does not undo the next claimant's delivery; both attempts stay in the history.
    @Test(arguments: Engine.enabled)
    func aStalledClaimCannotOverwriteTheNextClaimant(_ engine: Engine) async throws {
        try await withDispatcher(engine) { settle, _ in
            let endpoint = try await endpoint(settle, url: "https://hooks.example/h")
            _ = try await settle.createPayment()
            let start = Date().addingTimeInterval(1)
            let stalled = try await settle.store.write { tx in try await tx.claimDueMessages(at: start, limit: 10, leaseSeconds: 1) }
            let later = start.addingTimeInterval(2)
            let current = try await settle.store.write { tx in try await tx.claimDueMessages(at: later, limit: 10, leaseSeconds: 30) }
            #expect(stalled.count == 1 && current.count == 1)
            #expect(stalled[0].messageID == current[0].messageID && stalled[0].leaseToken != current[0].leaseToken)

            // The stalled renewal must not touch the current claim; a third claim still finds the message held.
            try await settle.store.write { tx in
                try await tx.renewLeases(messageIDs: [stalled[0].messageID], token: stalled[0].leaseToken, at: later, leaseSeconds: 1)
            }
            let third = try await settle.store.write { tx in
                try await tx.claimDueMessages(at: later.addingTimeInterval(5), limit: 10, leaseSeconds: 30)
            }
            #expect(third.isEmpty, "a stale token renewed or released the current claim")

            let ok = DeliveryAttempt(statusCode: 200, durationMilliseconds: 5, responseBody: nil, error: nil, at: later)
            let failed = DeliveryAttempt(statusCode: 500, durationMilliseconds: 5, responseBody: nil, error: nil, at: later)
            try await settle.store.write { tx in
                try await tx.recordDeliveries([(current[0], ok, .delivered)], at: later, disableAfterSeconds: 3600)
                try await tx.recordDeliveries(
                    [(stalled[0], failed, .retry(at: later.addingTimeInterval(60)))], at: later, disableAfterSeconds: 3600
                )
            }
            let messages = try await settle.store.webhookMessages()
            #expect(messages.map(\.state) == ["delivered"])
            #expect(messages.first?.attempts == 1)
            let attempts = try await settle.store.webhookAttempts(endpointID: endpoint.id, limit: 10)
            #expect(Set(attempts.map(\.statusCode)) == [200, 500])
        }
    }
}
