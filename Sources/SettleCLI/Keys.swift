import ArgumentParser
import Foundation
import Settle
import SettleCore
import SettleServer
import SettleStore

struct Keys: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage merchant API keys.", subcommands: [Create.self, List.self, Revoke.self]
    )

    /// Runs `body` with the key use case over the configured database.
    static func withKeys<T: Sendable>(_ common: CommonOptions, _ body: @escaping @Sendable (APIKeyService) async throws -> T) async throws -> T {
        let configuration = try await common.configuration()
        let logger = ProcessLogging.bootstrap(configuration.logLevel)
        return try await Store.withStore(try DatabaseLocation(url: configuration.databaseURL), options: configuration.storeOptions, logger: logger) { store in
            try await store.migrate()
            return try await body(APIKeyService(store: store, logger: logger))
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a secret key; it is printed once.")
        @OptionGroup var common: CommonOptions
        @Option(help: "test or live.") var mode: Mode = .test
        @Option(help: "A name to recognise the key by.") var name: String = "cli"

        func run() async throws {
            let (mode, name) = (self.mode, self.name)
            let created = try await Keys.withKeys(common) { keys in
                try await keys.create(mode: mode, name: name, actor: .operator("cli", mode: mode))
            }
            print("\(created.key.id)  \(created.key.mode.rawValue)  \(created.key.name)\n\n    \(created.secret.value)\n\nStore it now: Settle keeps only its hash.")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List keys (never their secrets).")
        @OptionGroup var common: CommonOptions

        func run() async throws {
            let keys = try await Keys.withKeys(common) { keys in try await keys.list() }
            let formatter = ISO8601DateFormatter()
            for key in keys {
                let state = key.revokedAt.map { "revoked \(formatter.string(from: $0))" } ?? "active"
                print("\(key.id)  \(key.mode.rawValue)  \(key.display)  \(key.name)  created \(formatter.string(from: key.createdAt))  \(state)")
            }
            if keys.isEmpty { print("No keys.") }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a key by id (key_…).")
        @OptionGroup var common: CommonOptions
        @Argument var id: String

        func run() async throws {
            let id = self.id
            let key = try await Keys.withKeys(common) { keys in try await keys.revoke(id: id, actor: .operator("cli", mode: .test)) }
            print(key.isActive ? "Revoked \(id)." : "\(id) was already revoked.")
        }
    }
}

extension Mode: ExpressibleByArgument {}
