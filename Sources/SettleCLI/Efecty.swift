import ArgumentParser
import AsyncHTTPClient
import Foundation
import Settle
import SettleCore
import SettleServer
import SettleStore

/// `settle efecty import FILE` and `settle efecty export`: Efecty's settlement files and open-voucher lists under the
/// merchant's own agreement, on the database directly (the operator's own channel: lines settle payments of either
/// mode, as the inbox does).
struct Efecty: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Efecty under the merchant's agreement: import a settlement file, export the open vouchers.",
        subcommands: [Import.self, Export.self]
    )

    static func withSettlements<T: Sendable>(
        _ common: CommonOptions, _ body: @escaping @Sendable (SettlementService) async throws -> T
    ) async throws -> T {
        let configuration = try await common.configuration()
        let logger = ProcessLogging.bootstrap(configuration.logLevel)
        return try await Store.withStore(try DatabaseLocation(url: configuration.databaseURL), options: configuration.storeOptions, logger: logger) { store in
            try await store.migrate()
            let providers = ProviderRegistry(settings: configuration.providers, store: store, httpClient: .shared, logger: logger)
            return try await body(SettlementService(store: store, providers: providers, logger: logger))
        }
    }

    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Import a settlement file (CSV: reference,amount,paid_at,authorization[,point_of_sale]); exits 2 if it is refused."
        )
        @OptionGroup var common: CommonOptions
        @Argument(help: "The file Efecty sent.") var file: String
        @Option(help: "The payments the file settles: live, or test (the counter emulator's files).") var mode: Mode = .live

        func run() async throws {
            guard let size = (try? FileManager.default.attributesOfItem(atPath: file))?[.size] as? Int else {
                throw ValidationError("Cannot read \(file).")
            }
            guard size <= SettlementsLimits.maxFile else { throw ValidationError("\(file) is larger than \(SettlementsLimits.maxFile >> 20) MB.") }
            guard let data = FileManager.default.contents(atPath: file) else { throw ValidationError("Cannot read \(file).") }
            let mode = self.mode
            let name = (file as NSString).lastPathComponent
            do {
                let (report, created) = try await Efecty.withSettlements(common) { service in
                    try await service.importFile(
                        provider: "efecty", bytes: Array(data), filename: name, source: .cli, actor: nil, mode: mode,
                        progress: { done, total in ProgressBar.draw(done: done, total: total) }
                    )
                }
                if created { print("") }  // after the progress bar
                print(created ? "Imported \(name) as \(report["id"]?.stringValue ?? "?")." : "\(name) was imported before as \(report["id"]?.stringValue ?? "?"); nothing changed.")
                print(Efecty.summary(report))
            } catch let error as SettleError {
                FileHandle.standardError.write(Data("settle: \(error.message)\n".utf8))
                throw ExitCode(error.code == .settlementFileInvalid ? 2 : 1)
            }
        }
    }

    /// The counts of a report as a table.
    static func summary(_ report: JSONValue) -> String {
        var lines = ["outcome            lines"]
        if case .object(let counts)? = report["counts"] {
            for (outcome, count) in counts {
                lines.append(outcome.padding(toLength: 19, withPad: " ", startingAt: 0) + String(count.intValue ?? 0))
            }
        }
        lines.append("total".padding(toLength: 19, withPad: " ", startingAt: 0) + String(report["lines"]?.intValue ?? 0))
        return lines.joined(separator: "\n")
    }

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the open vouchers (reference,amount,expires_at) as CSV, for agreements where Efecty loads the merchant's list.")
        @OptionGroup var common: CommonOptions
        @Option(help: "test or live.") var mode: Mode = .live
        @Option(help: "Only vouchers issued at or after this time (ISO-8601, e.g. 2026-12-01T00:00:00-05:00).") var since: String?

        func run() async throws {
            let start = try since.map { text throws -> Date in
                guard let date = ISO8601DateFormatter().date(from: text) else { throw ValidationError("--since must be ISO-8601 with an offset.") }
                return date
            }
            let mode = self.mode
            let csv = try await Efecty.withSettlements(common) { service in
                try await service.openVouchersCSV(provider: "efecty", mode: mode, since: start)
            }
            print(csv, terminator: "")
        }
    }
}
