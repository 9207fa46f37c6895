import Foundation
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

/// A plain TCP connection to a loopback port, byte by byte, for clients that misbehave (trickle, stall, hold on).
/// Blocking calls run on NIO's thread pool, never on the cooperative pool the server under test needs.
final class RawConnection: @unchecked Sendable {
    let descriptor: Int32

    init(port: Int) async throws {
        descriptor = try await NIOThreadPool.singleton.runIfActive {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard fd >= 0, connected == 0 else { throw TestFailure("cannot connect to \(port)") }
            var noSignal: Int32 = 1
            _ = setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &noSignal, socklen_t(MemoryLayout<Int32>.size))
            return fd
        }
    }

    /// Sends bytes; false once the server has closed the connection.
    func send(_ bytes: [UInt8]) async -> Bool {
        (try? await NIOThreadPool.singleton.runIfActive { [descriptor] in
            bytes.withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } == bytes.count
        }) ?? false
    }

    /// Whether the server closed the connection (a read returns end of file), waiting up to `timeout`.
    func isClosedByServer(within timeout: Duration) async -> Bool {
        let milliseconds = Int32(timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000)
        return (try? await NIOThreadPool.singleton.runIfActive { [descriptor] in
            var poll = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            guard Glibc.poll(&poll, 1, milliseconds) == 1 else { return false }
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let count = recv(descriptor, &buffer, buffer.count, Int32(MSG_DONTWAIT))
                if count == 0 { return true }
                if count < 0 { return errno == ECONNRESET }
            }
        }) ?? false
    }

    func close() { Glibc.close(descriptor) }
}
