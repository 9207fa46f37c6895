import ArgumentParser
import Foundation
import SettleServer
import SettleStore

struct Audit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "The audit trail.", subcommands: [Verify.self, Head.self, Anchor.self])

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check the hash chain, its anchors and every payment against it; name the first problem.",
            discussion: """
                With SETTLE_AUDIT_KEY set, the head's anchor is checked too: a truncated or rewritten trail is found even \
                if its hashes were recomputed. --anchor checks lines written earlier by `settle audit head`.
                """
        )
        @OptionGroup var common: CommonOptions
        @Option(help: "A file of `<sequence> <hash>` lines from `settle audit head`.") var anchor: String?

        func run() async throws {
            let configuration = try await common.configuration()
            let logger = ProcessLogging.bootstrap(configuration.logLevel)
            let anchors = try Audit.anchors(from: anchor)
            let key = configuration.auditKey
            let anchored = anchors
            let result = try await Store.withStore(
                try DatabaseLocation(url: configuration.databaseURL), options: configuration.storeOptions, logger: logger
            ) { store in
                try await store.verifyAuditChain(key: key, anchors: anchored)
            }
            switch result {
            case .intact(let entries):
                print("Audit chain intact: \(entries) entries verified\(key == nil ? " (not anchored: set SETTLE_AUDIT_KEY)" : ", head anchored"); payments agree with it.")
            case .broken(let sequence, let reason):
                print("Audit chain BROKEN at entry \(sequence): \(reason).")
                throw ExitCode(2)
            }
        }
    }

    struct Anchor: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Verify the trail without the key, then sign its head under SETTLE_AUDIT_KEY.",
            discussion: """
                Run it once after setting SETTLE_AUDIT_KEY on a database with entries, after changing the key, or after \
                Settle wrote without the key: until then, verify reports the head as unanchored or mismatched. The head \
                is signed only if the trail verifies (and matches every --anchor line).
                """
        )
        @OptionGroup var common: CommonOptions
        @Option(help: "A file of `<sequence> <hash>` lines from `settle audit head`.") var anchor: String?

        func run() async throws {
            let configuration = try await common.configuration()
            let logger = ProcessLogging.bootstrap(configuration.logLevel)
            guard configuration.auditKey != nil else { throw ValidationError("Set SETTLE_AUDIT_KEY: the head is signed with it.") }
            let anchors = try Audit.anchors(from: anchor)
            let result = try await Store.withStore(
                try DatabaseLocation(url: configuration.databaseURL), options: configuration.storeOptions, logger: logger
            ) { store in
                try await store.anchorAuditHead(anchors: anchors)
            }
            switch result {
            case .intact(let entries):
                print("Audit chain intact: \(entries) entries verified; head signed under the audit key.")
            case .broken(let sequence, let reason):
                print("Audit chain BROKEN at entry \(sequence): \(reason). The head was not signed.")
                throw ExitCode(2)
            }
        }
    }

    /// The lines of an anchor file, if one is named.
    static func anchors(from path: String?) throws -> [AuditAnchor] {
        guard let path else { return [] }
        guard let text = try? String(contentsOfFile: path, encoding: .utf8), let parsed = AuditAnchor.parse(text) else {
            throw ValidationError("\(path) is not a file of `<sequence> <hash>` lines.")
        }
        return parsed
    }

    struct Head: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the chain's head as `<sequence> <hash>`: keep it outside the database, check it with verify --anchor."
        )
        @OptionGroup var common: CommonOptions

        func run() async throws {
            let configuration = try await common.configuration()
            let logger = ProcessLogging.bootstrap(configuration.logLevel)
            let head = try await Store.withStore(
                try DatabaseLocation(url: configuration.databaseURL), options: configuration.storeOptions, logger: logger
            ) { store in
                try await store.auditHead()
            }
            print("# \(ISO8601DateFormatter().string(from: Date()))")
            print(head.line)
        }
    }
}
