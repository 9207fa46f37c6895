import Foundation
import SettleCore

/// Where the database is: a SQLite file (the embedded default) or a PostgreSQL server.
public enum DatabaseLocation: Sendable, Hashable, CustomStringConvertible, CustomReflectable {
    /// How the connection to PostgreSQL is protected, as libpq's `sslmode` names it.
    public enum TLSMode: String, Sendable, Hashable {
        /// Plain TCP: only for loopback and Unix sockets (the default there).
        case disable
        /// TLS when the server offers it, not verified.
        case prefer
        /// TLS always, the certificate not verified (the default for any other host).
        case require
        /// TLS, the certificate chained to a trusted CA (`sslrootcert` or `SETTLE_DATABASE_CA_FILE`).
        case verifyCA = "verify-ca"
        /// TLS, the certificate chained to a trusted CA and naming the host.
        case verifyFull = "verify-full"
    }

    /// A PostgreSQL server and how to reach it.
    public struct Postgres: Sendable, Hashable {
        public var host: String
        public var port: Int
        public var user: String
        public var password: Secret?
        public var database: String
        public var unixSocket: String?
        public var tls: TLSMode
        /// A PEM file of CA certificates to trust (`sslrootcert=`); the system's roots otherwise.
        public var caFile: String?
    }

    case sqlite(path: String)
    case postgres(Postgres)

    public static let defaultURL = "./settle.sqlite"

    /// Parses `SETTLE_DATABASE_URL`: `postgres://user:pass@host:port/db?sslmode=…&sslrootcert=…` (or `postgresql://`),
    /// `sqlite:///abs/path`, `sqlite://relative/path`, or a plain file path.
    public init(url: String) throws(StoreError) {
        let trimmed = url.trimmingCharacters(in: .whitespaces)
        guard !trimmed.isEmpty else { throw StoreError(.configuration, "SETTLE_DATABASE_URL is empty.") }
        if trimmed.hasPrefix("postgres://") || trimmed.hasPrefix("postgresql://") {
            guard let components = URLComponents(string: trimmed), let user = components.user, !user.isEmpty else {
                throw StoreError(.configuration, "SETTLE_DATABASE_URL is not a valid postgres:// URL (it needs a user).")
            }
            let query = components.queryItems ?? []
            func parameter(_ name: String) -> String? { query.first { $0.name == name }?.value }
            let database = String(components.path.drop(while: { $0 == "/" }))
            let socketDirectory = parameter("host").flatMap { $0.hasPrefix("/") ? $0 : nil }
            let host = (components.host ?? "").isEmpty ? "localhost" : components.host!
            let port = components.port ?? 5432
            let tls: TLSMode
            if let mode = parameter("sslmode") {
                guard let parsed = TLSMode(rawValue: mode) else {
                    throw StoreError(.configuration, "sslmode must be disable, prefer, require, verify-ca or verify-full.")
                }
                tls = parsed
            } else {
                tls = socketDirectory != nil || Self.isLoopback(host) ? .disable : .require
            }
            self = .postgres(
                Postgres(
                    host: host, port: port, user: user,
                    password: components.password.map { Secret($0.removingPercentEncoding ?? $0) },
                    database: database.isEmpty ? user : database, unixSocket: socketDirectory.map { "\($0)/.s.PGSQL.\(port)" },
                    tls: tls, caFile: parameter("sslrootcert")
                )
            )
        } else if trimmed.hasPrefix("sqlite://") {
            let path = String(trimmed.dropFirst("sqlite://".count))
            guard !path.isEmpty else { throw StoreError(.configuration, "SETTLE_DATABASE_URL names no SQLite file.") }
            self = .sqlite(path: path)
        } else if trimmed.contains("://") {
            throw StoreError(.configuration, "SETTLE_DATABASE_URL must start with postgres://, sqlite:// or be a file path.")
        } else {
            self = .sqlite(path: trimmed)
        }
    }

    static func isLoopback(_ host: String) -> Bool {
        ["localhost", "127.0.0.1", "::1", "[::1]"].contains(host.lowercased()) || host.hasPrefix("127.")
    }

    /// Safe to log: never includes the password.
    public var description: String {
        switch self {
        case .sqlite(let path): "sqlite:\(path)"
        case .postgres(let server):
            "postgres://\(server.user)@\(server.unixSocket ?? "\(server.host):\(server.port)")/\(server.database) (sslmode=\(server.tls.rawValue))"
        }
    }

    /// Reflection shows the description only, so `dump` never prints the password either.
    public var customMirror: Mirror { Mirror(self, children: ["location": description]) }
}
