import Foundation

/// A PostgreSQL server of a test's own, started and stopped by the test (an outage it can cause), from the binaries
/// `scripts/test` names in `SETTLE_TEST_PG_BIN`. Runs as the `postgres` user when the tests run as root.
final class ThrowawayPostgres: Sendable {
    static var binaries: String? { ProcessInfo.processInfo.environment["SETTLE_TEST_PG_BIN"] }

    let directory: String
    let port: Int

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("settle-pg-\(UUID().uuidString)").path
        port = Int.random(in: 55_000...59_000)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        if getuid() == 0 { try Self.shell("chown", ["-R", "postgres:postgres", directory]) }
        try run("initdb", ["-D", "\(directory)/data", "-A", "trust", "-U", "postgres"])
    }

    var url: String { "postgres://postgres@127.0.0.1:\(port)/postgres" }

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
