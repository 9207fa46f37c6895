import ArgumentParser
import Foundation
import SettleServer
import SettleStore

struct Audit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "The audit trail.", subcommands: [Verify.self, Head.self])

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
            var anchors: [AuditAnchor] = []
            if let anchor {
                guard let text = try? String(contentsOfFile: anchor, encoding: .utf8), let parsed = AuditAnchor.parse(text) else {
                    throw ValidationError("\(anchor) is not a file of `<sequence> <hash>` lines.")
                }
                anchors = parsed
            }
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
