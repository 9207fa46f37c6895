import ArgumentParser
import Configuration
import Logging
import SystemPackage
import SettleServer

/// Options every command shares. Declared optional with no defaults, so the environment and `.env` apply when a
/// flag is absent.
struct CommonOptions: ParsableArguments {
    @Option(help: "Database URL (SETTLE_DATABASE_URL): a SQLite path or postgres://user:pass@host:port/db.")
    var databaseURL: String?

    @Option(help: "Log level (SETTLE_LOG_LEVEL): trace, debug, info, notice, warning, error.")
    var logLevel: String?

    func values() -> [AbsoluteConfigKey: ConfigValue] {
        var values: [AbsoluteConfigKey: ConfigValue] = [:]
        if let databaseURL { values["settle.database.url"] = .init(.string(databaseURL), isSecret: true) }
        if let logLevel { values["settle.log.level"] = .init(.string(logLevel), isSecret: false) }
        return values
    }

    /// Flags, then environment, then `.env`, then defaults.
    func configuration(extra: [AbsoluteConfigKey: ConfigValue] = [:]) async throws -> SettleConfiguration {
        let flags = values().merging(extra) { _, new in new }
        let reader = ConfigReader(providers: [
            InMemoryProvider(name: "flags", values: flags),
            EnvironmentVariablesProvider(secretsSpecifier: .dynamic { key, _ in Self.isSecret(key) }),
            try await EnvironmentVariablesProvider(
                environmentFilePath: ".env", allowMissing: true, secretsSpecifier: .dynamic { key, _ in Self.isSecret(key) }
            ),
        ])
        return SettleConfiguration(reader: reader)
    }

    static func isSecret(_ key: String) -> Bool {
        let key = key.uppercased()
        return key.contains("SECRET") || key.contains("KEY") || key.contains("PASSWORD") || key.contains("DATABASE_URL")
    }
}

/// One logger for the process, writing to standard error.
enum ProcessLogging {
    static func bootstrap(_ level: Logger.Level, format: LogFormat = .text) -> Logger {
        LoggingSystem.bootstrap { label in
            if format == .json { return JSONLogHandler(label: label, level: level) }
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        var logger = Logger(label: "settle")
        logger.logLevel = level
        return logger
    }
}
