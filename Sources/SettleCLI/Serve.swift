import ArgumentParser
import Foundation
import Settle
import SettleCore
import Configuration
import Hummingbird
import SettleServer
import ServiceLifecycle
import UnixSignals

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the Settle server (migrates first).")

    @OptionGroup var common: CommonOptions

    @Option(help: "Address to bind (SETTLE_HOST, default 127.0.0.1).")
    var host: String?

    @Option(help: "Port (SETTLE_PORT, default 8080).")
    var port: Int?

    @Option(help: "Base of the URLs Settle hands out (SETTLE_PUBLIC_URL).")
    var publicURL: String?

    func run() async throws {
        var extra: [AbsoluteConfigKey: ConfigValue] = [:]
        if let host { extra["settle.host"] = .init(.string(host), isSecret: false) }
        if let port { extra["settle.port"] = .init(.int(port), isSecret: false) }
        if let publicURL { extra["settle.public.url"] = .init(.string(publicURL), isSecret: false) }
        let configuration = try await common.configuration(extra: extra)
        let logger = ProcessLogging.bootstrap(configuration.logLevel, format: configuration.logFormat)
        let settle = try await buildApplication(configuration, logger: logger) { first in
            FileHandle.standardOutput.write(Data(
                """

                A test-mode secret key was created for this new database. It is shown only this once:

                    \(first.secret.value)

                Use it as: Authorization: Bearer \(first.secret.value)

                """.utf8))
        }
        // SIGTERM or SIGINT: readiness turns 503 for SETTLE_DRAIN_SECONDS, then the server drains and stops.
        try await settle.serviceGroup(signals: [.sigterm, .sigint], logger: logger).run()
    }
}
