import Foundation

/// A PostgreSQL server of a test's own, started and stopped by the test (an outage it can cause), from the binaries
/// `scripts/test` names in `SETTLE_TEST_PG_BIN`. Runs as the `postgres` user when the tests run as root.
final class ThrowawayPostgres: Sendable {
    static var binaries: String? { ProcessInfo.processInfo.environment["SETTLE_TEST_PG_BIN"] }

    let directory: String
    let port: Int

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("settle-pg-\(UUID().uuidString)").path
        // A port the kernel says is free now (a random one in the ephemeral range could be a live connection's).
        port = Self.freePort() ?? Int.random(in: 55_000...59_000)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        if getuid() == 0 { try Self.shell("chown", ["-R", "postgres:postgres", directory]) }
        try run("initdb", ["-D", "\(directory)/data", "-A", "trust", "-U", "postgres"])
    }

    var url: String { "postgres://postgres@127.0.0.1:\(port)/postgres" }

    /// Binds a loopback socket to port 0 and returns the port the kernel chose.
    static func freePort() -> Int? {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        let bound = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else { return nil }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        guard named == 0 else { return nil }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    func start() throws {
        try run("pg_ctl", ["-D", "\(directory)/data", "-l", "\(directory)/log", "-w", "-o",
            "-p \(port) -k \(directory) -c listen_addresses=127.0.0.1 -c fsync=on", "start"])
    }

    /// `pg_ctl stop -m immediate`: the server dies the way a crash or a pulled cable looks to its clients.
    func stop() throws {
        try run("pg_ctl", ["-D", "\(directory)/data", "-m", "immediate", "-w", "stop"])
    }

    func remove() {
        try? stop()
        try? FileManager.default.removeItem(atPath: directory)
    }

    private func run(_ tool: String, _ arguments: [String]) throws {
        guard let binaries = Self.binaries else { throw TestFailure("SETTLE_TEST_PG_BIN is not set") }
        let path = "\(binaries)/\(tool)"
        if getuid() == 0 {
            try Self.shell("runuser", ["-u", "postgres", "--", path] + arguments)
        } else {
            try Self.shell(path, arguments)
        }
    }

    /// Runs a command to completion with its input and output on /dev/null (`posix_spawn` and `waitpid`: no run loop,
    /// nothing inherited that a test runner listens to).
    static func shell(_ command: String, _ arguments: [String]) throws {
        let path = command.hasPrefix("/") ? command : "/usr/bin/env"
        let argv = (command.hasPrefix("/") ? [path] + arguments : [path, command] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for descriptor: Int32 in [0, 1, 2] {
            posix_spawn_file_actions_addopen(&actions, descriptor, "/dev/null", descriptor == 0 ? O_RDONLY : O_WRONLY, 0)
        }
        var pid: pid_t = 0
        guard posix_spawn(&pid, path, &actions, nil, argv, environ) == 0 else { throw TestFailure("cannot run \(command)") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        guard status == 0 else { throw TestFailure("\(command) \(arguments.first ?? "") exited with status \(status)") }
    }
}
