import Foundation

/// Where the database is: a SQLite file (the embedded default) or a PostgreSQL server.
public enum DatabaseLocation: Sendable, Hashable, CustomStringConvertible {
    case sqlite(path: String)
    case postgres(host: String, port: Int, user: String, password: String?, database: String, unixSocket: String?)

    public static let defaultURL = "./settle.sqlite"

    /// Parses `SETTLE_DATABASE_URL`: `postgres://user:pass@host:port/db` (or `postgresql://`), `sqlite:///abs/path`,
    /// `sqlite://relative/path`, or a plain file path.
    public init(url: String) throws(StoreError) {
        let trimmed = url.trimmingCharacters(in: .whitespaces)
        guard !trimmed.isEmpty else { throw StoreError(.configuration, "SETTLE_DATABASE_URL is empty.") }
        if trimmed.hasPrefix("postgres://") || trimmed.hasPrefix("postgresql://") {
            guard let components = URLComponents(string: trimmed), let host = components.host ?? Optional("localhost"),
                let user = components.user, !user.isEmpty
            else {
                throw StoreError(.configuration, "SETTLE_DATABASE_URL is not a valid postgres:// URL (it needs a user).")
            }
            let database = String(components.path.drop(while: { $0 == "/" }))
            let socket = components.queryItems?.first(where: { $0.name == "host" && ($0.value ?? "").hasPrefix("/") })?.value
            self = .postgres(
                host: host.isEmpty ? "localhost" : host, port: components.port ?? 5432, user: user,
                password: components.password?.removingPercentEncoding, database: database.isEmpty ? user : database,
                unixSocket: socket.map { "\($0)/.s.PGSQL.\(components.port ?? 5432)" }
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

    /// Safe to log: never includes the password.
    public var description: String {
        switch self {
        case .sqlite(let path): "sqlite:\(path)"
        case .postgres(let host, let port, let user, _, let database, let socket):
            "postgres://\(user)@\(socket ?? "\(host):\(port)")/\(database)"
        }
    }
}
