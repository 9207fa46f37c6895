import ArgumentParser
import SettleServer
import Foundation
import SettleCore
import SettleStore

struct Keys: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage merchant API keys.", subcommands: [Create.self, List.self, Revoke.self]
    )

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a secret key; it is printed once.")
        @OptionGroup var common: CommonOptions
        @Option(help: "test or live.") var mode: Mode = .test
        @Option(help: "A name to recognise the key by.") var name: String = "cli"

        func run() async throws {
            let configuration = try await common.configuration()
            let logger = ProcessLogging.bootstrap(configuration.logLevel)
            let (secret, key) = APIKeys.generate(mode: mode, name: name, at: Date())
            try await Store.withStore(try DatabaseLocation(url: configuration.databaseURL), logger: logger) { store in
                try await store.migrate()
                try await store.write { tx in
                    try await tx.insertAPIKey(key, secret: secret)
                    try await tx.appendAudit(
                        AuditRecord(
                            actorKind: .operator, actorID: "cli", action: "api_key.created", targetType: "api_key", targetID: key.id,
                            after: .object([("mode", .string(key.mode.rawValue)), ("display", .string(key.display))]), at: Date()
                        )
                    )
                }
            }
            print("\(key.id)  \(key.mode.rawValue)  \(key.name)\n\n    \(secret)\n\nStore it now: Settle keeps only its hash.")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List keys (never their secrets).")
        @OptionGroup var common: CommonOptions

        func run() async throws {
            let configuration = try await common.configuration()
            let logger = ProcessLogging.bootstrap(configuration.logLevel)
            let keys = try await Store.withStore(try DatabaseLocation(url: configuration.databaseURL), logger: logger) { store in
                try await store.migrate()
                return try await store.apiKeys()
            }
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
            let configuration = try await common.configuration()
            let logger = ProcessLogging.bootstrap(configuration.logLevel)
            let id = self.id
            let key = try await Store.withStore(try DatabaseLocation(url: configuration.databaseURL), logger: logger) { store in
                try await store.write { tx -> APIKey? in
                    guard let key = try await tx.revokeAPIKey(id: id, at: Date()) else { return nil }
                    if key.isActive {
                        try await tx.appendAudit(
                            AuditRecord(
                                actorKind: .operator, actorID: "cli", action: "api_key.revoked", targetType: "api_key",
                                targetID: id, before: .object([("state", .string("active"))]),
                                after: .object([("state", .string("revoked"))]), at: Date()
                            )
                        )
                    }
                    return key
                }
            }
            guard let key else { throw ValidationError("No key with id \(id).") }
            print(key.isActive ? "Revoked \(id)." : "\(id) was already revoked.")
        }
    }
}

extension Mode: ExpressibleByArgument {}
