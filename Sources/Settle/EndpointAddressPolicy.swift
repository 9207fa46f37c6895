import Foundation
import SettleCore

#if canImport(Glibc)
import Glibc
#endif

/// Where merchant webhooks may be sent. Live mode: `https` only, and the host must not resolve to a loopback,
/// private, link-local, shared or metadata address — checked when the endpoint is saved and again before every
/// delivery (DNS may change). Test mode may also use `http` to `localhost` and `127.0.0.1`, for local development.
public struct EndpointAddressPolicy: Sendable {
    public struct Refusal: Error, Sendable, Hashable {
        public let message: String
    }

    public init() {}

    /// Checks the URL's form (no DNS): the save-time check.
    public func validate(url: String, mode: Mode) throws(Refusal) -> URL {
        guard url.count <= 2048, let parsed = URL(string: url), let scheme = parsed.scheme?.lowercased(),
            let host = parsed.host, !host.isEmpty, parsed.user == nil
        else { throw Refusal(message: "url must be an absolute http(s) URL without credentials.") }
        let loopbackName = ["localhost", "127.0.0.1", "::1", "[::1]"].contains(host.lowercased())
        switch mode {
        case .live:
            guard scheme == "https" else { throw Refusal(message: "Live-mode endpoints must use https.") }
            if loopbackName { throw Refusal(message: "Live-mode endpoints must not point at this machine.") }
            if let literal = Self.parse(host), !Self.isPublic(literal) {
                throw Refusal(message: "Live-mode endpoints must not use private, loopback or link-local addresses.")
            }
        case .test:
            guard scheme == "https" || (scheme == "http" && loopbackName) else {
                throw Refusal(message: "Test-mode endpoints must use https, or http to localhost or 127.0.0.1.")
            }
        }
        return parsed
    }

    /// The delivery-time check: the form again, and for live mode every address the host resolves to.
    public func check(url: String, mode: Mode) async throws(Refusal) {
        let parsed = try validate(url: url, mode: mode)
        guard mode == .live, let host = parsed.host else { return }
        let addresses = Self.resolve(host)
        guard !addresses.isEmpty else { throw Refusal(message: "The endpoint's host does not resolve.") }
        guard addresses.allSatisfy(Self.isPublic) else {
            throw Refusal(message: "The endpoint's host resolves to a private, loopback or link-local address.")
        }
    }

    /// An address as bytes: 4 for IPv4, 16 for IPv6.
    static func parse(_ host: String) -> [UInt8]? {
        let bare = host.trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        var v4 = in_addr()
        if inet_pton(AF_INET, bare, &v4) == 1 { return withUnsafeBytes(of: v4) { Array($0) } }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, bare, &v6) == 1 { return withUnsafeBytes(of: v6) { Array($0) } }
        return nil
    }

    static func resolve(_ host: String) -> [[UInt8]] {
        if let literal = parse(host) { return [literal] }
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, nil, &hints, &result) == 0, let first = result else { return [] }
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

    /// False for loopback, private, link-local (incl. 169.254.169.254 metadata), shared (100.64/10), unspecified,
    /// multicast, unique-local and IPv4-mapped private addresses.
    static func isPublic(_ address: [UInt8]) -> Bool {
        if address.count == 16 {
            if address.prefix(10).allSatisfy({ $0 == 0 }) && address[10] == 0xFF && address[11] == 0xFF {
                return isPublic(Array(address.suffix(4)))  // ::ffff:a.b.c.d
            }
            if address.allSatisfy({ $0 == 0 }) || address == [UInt8](repeating: 0, count: 15) + [1] { return false }
            if address[0] & 0xFE == 0xFC { return false }  // fc00::/7
            if address[0] == 0xFE && address[1] & 0xC0 == 0x80 { return false }  // fe80::/10
            if address[0] == 0xFF { return false }  // multicast
            return true
        }
        guard address.count == 4 else { return false }
        let (a, b) = (address[0], address[1])
        switch a {
        case 0, 10, 127: return false
        case 100 where b & 0xC0 == 64: return false  // 100.64.0.0/10
        case 169 where b == 254: return false
        case 172 where b & 0xF0 == 16: return false
        case 192 where b == 168: return false
        case 192 where b == 0 && address[2] == 0: return false
        case 198 where b & 0xFE == 18: return false  // benchmarking 198.18/15
        case 224...255: return false
        default: return true
        }
    }
}
