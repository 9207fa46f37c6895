import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import SettleCore
import SettleProviders
import Synchronization

/// Sends one webhook delivery to where ``EndpointAddressPolicy`` allows, and no further.
///
/// - It connects to the vetted address: a URL naming an allowed IP goes to that IP; a host name goes through a client
///   whose only DNS answer is the address just checked (AsyncHTTPClient's `dnsOverride`, which keeps the host for
///   TLS and `Host`), so a rebinding DNS answer cannot move it.
/// - Redirects are never followed: a 3xx is an answer like any other, recorded and retried.
/// - The answer is read within the delivery's deadline, and only its first ``keptBytes`` are read and kept.
///
/// The clients are shared by the process (connections are reused across deliveries to the same host and address)
/// and evicted when idle; none follows redirects or decompresses.
public enum WebhookTransport {
    /// What is kept of an answer, and what the API's attempts show.
    public static let keptBytes = 1024

    public struct Result: Sendable {
        public var statusCode: Int?
        /// At most ``keptBytes`` of what the receiver sent, as text (invalid UTF-8 becomes `?`, never longer).
        public var responseBody: String?
        public var error: String?
    }

    /// Posts `body` with `headers` to `url` for an endpoint of `mode`.
    public static func send(
        url: String, mode: Mode, headers: [(String, String)], body: [UInt8], timeout: Duration, policy: EndpointAddressPolicy
    ) async -> Result {
        let target: EndpointAddressPolicy.Target
        do {
            target = try await policy.target(url: url, mode: mode)
        } catch {
            return Result(error: error.message)
        }
        var requestURL = url
        if case .pinned(let host, _) = target {
            // The client's only DNS answer is keyed by the normalized host, so the request must name exactly that
            // host: `HOOKS.example.` would otherwise miss the override and go to the system's resolver.
            guard let rebuilt = Self.url(url, naming: host) else { return Result(error: "The endpoint's URL could not be rebuilt.") }
            requestURL = rebuilt
        }
        var request = HTTPClientRequest(url: requestURL)
        request.method = .POST
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(bytes: body))
        let deadline = ContinuousClock.now + timeout
        let client = await clients.checkOut(target)
        defer { clients.checkIn(target) }
        do {
            let response = try await client.execute(request, deadline: NIODeadline.now() + TimeAmount(timeout))
            let status = Int(response.status.code)
            do {
                let kept = try await BoundedBody.read(response, limit: keptBytes, keep: keptBytes, until: deadline)
                return Result(statusCode: status, responseBody: text(kept))
            } catch {
                // The status arrived; the body did not finish in time. The status still decides.
                return Result(statusCode: status, responseBody: nil, error: "answer body: \(error.description)")
            }
        } catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout {
            return Result(error: "timeout")
        } catch let error as HTTPClientError where error == .connectTimeout {
            return Result(error: "connect timeout")
        } catch {
            return Result(error: "network error: \(Text.echo("\(error)", limit: 120))")
        }
    }

    /// `url` with its host replaced by `host`, and checked to read back as exactly that host.
    static func url(_ url: String, naming host: String) -> String? {
        guard var components = URLComponents(string: url) else { return nil }
        components.host = host
        guard let rebuilt = components.string, URL(string: rebuilt)?.host == host else { return nil }
        return rebuilt
    }

    /// Bytes as text no longer than the bytes: valid UTF-8 kept, anything else (a cut sequence included) as `?`.
    static func text(_ bytes: [UInt8]) -> String {
        var out = String.UnicodeScalarView()
        var iterator = bytes.makeIterator()
        var decoder = UTF8()
        loop: while true {
            switch decoder.decode(&iterator) {
            case .scalarValue(let scalar): out.append(scalar)
            case .error: out.append("?")
            case .emptyInput: break loop
            }
        }
        return String(out)
    }

    static let clients = Clients()

    /// The process's delivery clients: one for IP literals, one per (host, vetted address). A client is checked out
    /// for each delivery and checked in after; only clients no delivery holds are evicted: those idle for
    /// ``idleEviction``, and, past ``maximum`` clients, the least recently used until half remain.
    final class Clients: Sendable {
        struct Key: Hashable {
            let host: String
            let address: String
        }

        struct Entry {
            let client: HTTPClient
            var used: ContinuousClock.Instant
            var holders: Int
        }

        static let idleEviction: Duration = .seconds(300)
        static let maximum = 256

        private let direct = HTTPClient(eventLoopGroupProvider: .singleton, configuration: Clients.configuration(dnsOverride: [:]))
        private let pinned = Mutex<[Key: Entry]>([:])

        static func configuration(dnsOverride: [String: String]) -> HTTPClient.Configuration {
            var configuration = HTTPClient.Configuration()
            configuration.redirectConfiguration = .disallow
            configuration.decompression = .disabled
            configuration.timeout.connect = .seconds(5)
            configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 256
            configuration.dnsOverride = dnsOverride
            return configuration
        }

        /// How many pinned clients exist (tests).
        var count: Int { pinned.withLock { $0.count } }

        /// The client for `target`, held until ``checkIn(_:)``.
        func checkOut(_ target: EndpointAddressPolicy.Target, now: ContinuousClock.Instant = .now) async -> HTTPClient {
            guard case .pinned(let host, let address) = target else { return direct }
            let key = Key(host: host, address: address)
            let (client, evicted) = pinned.withLock { clients -> (HTTPClient, [HTTPClient]) in
                let evicted = Self.evict(&clients, now: now)
                if var entry = clients[key] {
                    entry.used = now
                    entry.holders += 1
                    clients[key] = entry
                    return (entry.client, evicted)
                }
                let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: Self.configuration(dnsOverride: [host: address]))
                clients[key] = Entry(client: client, used: now, holders: 1)
                return (client, evicted)
            }
            for client in evicted { try? await client.shutdown() }
            return client
        }

        func checkIn(_ target: EndpointAddressPolicy.Target, now: ContinuousClock.Instant = .now) {
            guard case .pinned(let host, let address) = target else { return }
            pinned.withLock { clients in
                let key = Key(host: host, address: address)
                guard var entry = clients[key] else { return }
                entry.holders = max(0, entry.holders - 1)
                entry.used = now
                clients[key] = entry
            }
        }

        /// Removes the clients to shut down: unheld and idle, then, while at ``maximum`` or more, unheld least
        /// recently used until half remain.
        static func evict(_ clients: inout [Key: Entry], now: ContinuousClock.Instant, maximum: Int = maximum) -> [HTTPClient] {
            var evicted: [HTTPClient] = []
            for (key, entry) in clients where entry.holders == 0 && now - entry.used > idleEviction {
                evicted.append(entry.client)
                clients[key] = nil
            }
            if clients.count >= maximum {
                let unheld = clients.filter { $0.value.holders == 0 }.sorted { $0.value.used < $1.value.used }
                for (key, entry) in unheld {
                    guard clients.count > maximum / 2 else { break }
                    evicted.append(entry.client)
                    clients[key] = nil
                }
            }
            return evicted
        }
    }
}
