import Foundation
import NIOCore
import NIOPosix
import SettleCore

#if canImport(Glibc)
import Glibc
#endif

/// Resolves a host name to addresses (4 bytes for IPv4, 16 for IPv6).
public protocol AddressResolver: Sendable {
    func resolve(_ host: String) async throws -> [[UInt8]]
}

/// The system's resolver (`getaddrinfo`), run on a small thread pool of its own: a slow DNS server never holds a
/// thread of Swift's cooperative pool, nor of NIO's shared blocking pool (which the SQLite engine runs on). A lookup
/// that takes longer than ``deadline`` is given up (its thread finishes it and the answer is dropped); when all the
/// pool's threads are busy, lookups queue and meet the same deadline.
public struct SystemResolver: AddressResolver {
    public static let deadline: TimeAmount = .seconds(5)

    struct Timeout: Error {}

    static let pool: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: 4)
        pool.start()
        return pool
    }()

    public init() {}

    public func resolve(_ host: String) async throws -> [[UInt8]] {
        let eventLoop = MultiThreadedEventLoopGroup.singleton.any()
        let promise = eventLoop.makePromise(of: [[UInt8]].self)
        Self.pool.runIfActive(eventLoop: eventLoop) { EndpointAddressPolicy.getaddrinfo(host) }.cascade(to: promise)
        let timeout = eventLoop.scheduleTask(in: Self.deadline) { promise.fail(Timeout()) }
        defer { timeout.cancel() }
        return try await promise.futureResult.get()
    }
}

/// Where merchant webhooks may be sent, and the one address each delivery connects to.
///
/// - Live mode: `https` only, to a host whose every address is public.
/// - Test mode: also `http`, but only to `localhost` or `127.0.0.1`; any other host must be `https` and public, as in
///   live mode.
/// - Never: loopback (but the two test-mode names), private, link-local (with cloud metadata at 169.254.169.254),
///   shared CGNAT (100.64/10), benchmarking, documentation, multicast and reserved ranges; IPv6 loopback, unique-local,
///   link-local, site-local and multicast; and IPv4 addresses embedded in IPv6 (mapped, compatible, NAT64, 6to4) that
///   fall in any of those. An IPv4 address must be written as four decimal numbers: the other notations an old parser
///   accepts (`2130706433`, `0x7f.1`, `0177.0.0.1`, `127.1`) are refused, and are caught by classification anyway.
///
/// The host is resolved once, off the cooperative pool; every address it resolves to is checked; the delivery then
/// connects to that vetted address with the host's name for TLS (``WebhookTransport``), so a DNS answer that changes
/// between the check and the connection (rebinding) cannot redirect it.
public struct EndpointAddressPolicy: Sendable {
    public struct Refusal: Error, Sendable, Hashable {
        public let message: String
    }

    /// Where one delivery connects.
    public enum Target: Sendable, Hashable {
        /// The URL names an allowed IP address: connect to it.
        case direct
        /// Connect to `address` for `host` (TLS name and `Host` header stay the host's).
        case pinned(host: String, address: String)
    }

    let resolver: any AddressResolver
    /// Whether an address may receive webhooks (tests replace it to stand a loopback receiver in for a public host).
    let isAllowed: @Sendable ([UInt8]) -> Bool
    /// Tests only: plain `http` to any host.
    let allowsPlainHTTP: Bool

    public init(resolver: any AddressResolver = SystemResolver()) {
        self.init(resolver: resolver, isAllowed: Self.isPublic, allowsPlainHTTP: false)
    }

    init(resolver: any AddressResolver, isAllowed: @escaping @Sendable ([UInt8]) -> Bool, allowsPlainHTTP: Bool) {
        self.resolver = resolver
        self.isAllowed = isAllowed
        self.allowsPlainHTTP = allowsPlainHTTP
    }

    static let testModeHosts = ["localhost", "127.0.0.1"]

    /// Checks the URL's form (no DNS): the save-time check. Returns the URL and its normalized host.
    public func validate(url: String, mode: Mode) throws(Refusal) -> (url: URL, host: String) {
        guard url.utf8.count <= 2048, url.utf8.allSatisfy({ (0x21...0x7E).contains($0) }), let parsed = URL(string: url),
            let scheme = parsed.scheme?.lowercased(), scheme == "https" || scheme == "http", let rawHost = parsed.host,
            !rawHost.isEmpty, parsed.user == nil, parsed.password == nil
        else {
            throw Refusal(message: "url must be an absolute http(s) URL of printable ASCII characters, without credentials.")
        }
        var host = rawHost.lowercased().trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        if host.hasSuffix(".") { host.removeLast() }
        // A name is letters, digits, `-`, `_` and dots; anything else (percent-escapes, `%25` zone ids) is refused
        // rather than interpreted, so the name checked is the name connected to.
        let isName = host.utf8.allSatisfy { (0x61...0x7A).contains($0) || (0x30...0x39).contains($0) || $0 == 0x2D || $0 == 0x2E || $0 == 0x5F }
        guard !host.isEmpty, isName || Self.parse(host) != nil else {
            throw Refusal(message: "url's host must be a DNS name or an IP address.")
        }
        let testHost = mode == .test && Self.testModeHosts.contains(host)
        if !testHost {
            if host == "localhost" || host.hasSuffix(".localhost") || host == "localhost.localdomain" {
                throw Refusal(message: "\(mode == .live ? "Live" : "Test")-mode endpoints must not point at this machine.")
            }
            guard scheme == "https" || allowsPlainHTTP else {
                throw Refusal(
                    message: mode == .live
                        ? "Live-mode endpoints must use https."
                        : "Test-mode endpoints must use https, or http to localhost or 127.0.0.1."
                )
            }
            if Self.parseIPv4Loosely(host) != nil && Self.parseIPv4(host) == nil {
                throw Refusal(message: "Write an IPv4 address as four decimal numbers (a.b.c.d).")
            }
            if let literal = Self.parse(host), !isAllowed(literal) {
                throw Refusal(message: "Endpoints must not use private, loopback, link-local or other non-public addresses.")
            }
        }
        return (parsed, host)
    }

    /// The delivery-time check: the form again, then, for a host name, every address it resolves to. Returns where
    /// to connect.
    public func target(url: String, mode: Mode) async throws(Refusal) -> Target {
        let (_, host) = try validate(url: url, mode: mode)
        if mode == .test && Self.testModeHosts.contains(host) {
            return host == "localhost" ? .pinned(host: "localhost", address: "127.0.0.1") : .direct
        }
        if Self.parse(host) != nil { return .direct }  // an allowed literal (validate refused the others)
        let addresses: [[UInt8]]
        do {
            addresses = try await resolver.resolve(host)
        } catch {
            throw Refusal(message: "The endpoint's host could not be resolved.")
        }
        guard let first = addresses.first else { throw Refusal(message: "The endpoint's host does not resolve.") }
        guard addresses.allSatisfy(isAllowed) else {
            throw Refusal(message: "The endpoint's host resolves to a private, loopback, link-local or other non-public address.")
        }
        return .pinned(host: host, address: Self.render(first))
    }

    // MARK: - Addresses

    /// An IP literal as bytes: strict dotted-decimal IPv4 (4 bytes) or IPv6 (16 bytes).
    static func parse(_ host: String) -> [UInt8]? {
        if let v4 = parseIPv4(host) { return v4 }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, host, &v6) == 1 { return withUnsafeBytes(of: v6) { Array($0) } }
        return nil
    }

    /// Four decimal numbers 0–255 without leading zeros.
    static func parseIPv4(_ host: String) -> [UInt8]? {
        let parts = host.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var bytes: [UInt8] = []
        for part in parts {
            guard (1...3).contains(part.utf8.count), part.utf8.allSatisfy({ (0x30...0x39).contains($0) }),
                part == "0" || !part.hasPrefix("0"), let value = UInt8(part)
            else { return nil }
            bytes.append(value)
        }
        return bytes
    }

    /// Every notation `inet_aton` accepts: one to four parts, each decimal, octal (`0…`) or hex (`0x…`), the last
    /// filling the remaining bytes (`127.1` is 127.0.0.1, `2130706433` too).
    static func parseIPv4Loosely(_ host: String) -> [UInt8]? {
        let parts = host.split(separator: ".", omittingEmptySubsequences: false)
        guard (1...4).contains(parts.count) else { return nil }
        var values: [UInt64] = []
        for part in parts {
            let text = part.lowercased()
            let value: UInt64?
            if text.hasPrefix("0x") {
                value = text.count > 2 && text.count <= 10 ? UInt64(text.dropFirst(2), radix: 16) : nil
            } else if text.hasPrefix("0") && text.count > 1 {
                value = text.count <= 12 ? UInt64(text.dropFirst(), radix: 8) : nil
            } else {
                value = text.count <= 10 ? UInt64(text, radix: 10) : nil
            }
            guard let value else { return nil }
            values.append(value)
        }
        let leading = values.dropLast()
        guard leading.allSatisfy({ $0 <= 255 }) else { return nil }
        let remaining = 4 - leading.count
        guard let last = values.last, last < (UInt64(1) << (8 * UInt64(remaining))) else { return nil }
        var bytes = leading.map { UInt8($0) }
        for shift in stride(from: (remaining - 1) * 8, through: 0, by: -8) { bytes.append(UInt8((last >> UInt64(shift)) & 0xFF)) }
        return bytes
    }

    /// Whether an address may receive webhooks: a public unicast address.
    static func isPublic(_ address: [UInt8]) -> Bool {
        if address.count == 16 { return isPublicIPv6(address) }
        guard address.count == 4 else { return false }
        let (a, b, c) = (address[0], address[1], address[2])
        switch a {
        case 0, 10, 127: return false
        case 100 where b & 0xC0 == 64: return false  // 100.64.0.0/10 shared (CGNAT; some clouds' metadata)
        case 169 where b == 254: return false  // link-local, 169.254.169.254 metadata
        case 172 where b & 0xF0 == 16: return false
        case 192 where b == 168: return false
        case 192 where b == 0 && (c == 0 || c == 2): return false  // IETF assignments, TEST-NET-1
        case 192 where b == 88 && c == 99: return false  // 6to4 relay anycast
        case 198 where b & 0xFE == 18: return false  // benchmarking 198.18/15
        case 198 where b == 51 && c == 100: return false  // TEST-NET-2
        case 203 where b == 0 && c == 113: return false  // TEST-NET-3
        case 224...255: return false  // multicast, reserved, broadcast
        default: return true
        }
    }

    static func isPublicIPv6(_ address: [UInt8]) -> Bool {
        let zeros = address.prefix(10).allSatisfy { $0 == 0 }
        if zeros && address[10] == 0xFF && address[11] == 0xFF { return isPublic(Array(address.suffix(4))) }  // ::ffff:a.b.c.d
        if address.prefix(12).allSatisfy({ $0 == 0 }) { return false }  // ::, ::1 and IPv4-compatible ::a.b.c.d
        if address.prefix(4) == [0x00, 0x64, 0xFF, 0x9B] {  // NAT64 64:ff9b::/96 (and the local-use 64:ff9b:1::/48)
            return address[4...11].allSatisfy { $0 == 0 } && isPublic(Array(address.suffix(4)))
        }
        if address[0] == 0x20 && address[1] == 0x02 { return isPublic(Array(address[2...5])) }  // 6to4 2002::/16
        if address.prefix(4) == [0x20, 0x01, 0x00, 0x00] { return false }  // Teredo 2001::/32
        if address.prefix(4) == [0x20, 0x01, 0x0D, 0xB8] { return false }  // documentation 2001:db8::/32
        if address.prefix(8) == [0x01, 0x00, 0, 0, 0, 0, 0, 0] { return false }  // discard-only 100::/64
        if address[0] & 0xFE == 0xFC { return false }  // unique-local fc00::/7
        if address[0] == 0xFE && address[1] & 0xC0 == 0x80 { return false }  // link-local fe80::/10
        if address[0] == 0xFE && address[1] & 0xC0 == 0xC0 { return false }  // site-local fec0::/10
        if address[0] == 0xFF { return false }  // multicast
        return true
    }

    /// Text form of an address for connecting (`203.0.113.10`, `2001:db8::1`).
    static func render(_ address: [UInt8]) -> String {
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        if address.count == 4 {
            var v4 = in_addr()
            withUnsafeMutableBytes(of: &v4) { $0.copyBytes(from: address) }
            inet_ntop(AF_INET, &v4, &buffer, socklen_t(buffer.count))
        } else {
            var v6 = in6_addr()
            withUnsafeMutableBytes(of: &v6) { $0.copyBytes(from: address) }
            inet_ntop(AF_INET6, &v6, &buffer, socklen_t(buffer.count))
        }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// `getaddrinfo`, blocking: call it off the cooperative pool (``SystemResolver``).
    static func getaddrinfo(_ host: String) -> [[UInt8]] {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        guard Glibc.getaddrinfo(host, nil, &hints, &result) == 0, let first = result else { return [] }
        defer { freeaddrinfo(first) }
        var addresses: [[UInt8]] = []
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let info = cursor {
            if info.pointee.ai_family == AF_INET, let address = info.pointee.ai_addr {
                address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { sin in
                    addresses.append(withUnsafeBytes(of: sin.pointee.sin_addr) { Array($0) })
                }
            } else if info.pointee.ai_family == AF_INET6, let address = info.pointee.ai_addr {
                address.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { sin6 in
                    addresses.append(withUnsafeBytes(of: sin6.pointee.sin6_addr) { Array($0) })
                }
            }
            cursor = info.pointee.ai_next
        }
        return addresses
    }
}
