import ArgumentParser
import AsyncHTTPClient
import Foundation
import Settle
import SettleCore
import SettleServer
import SettleStore

/// `settle reconcile --provider … --from … --to … [--apply] [--mode test|live]`: runs one reconciliation in this process,
/// on the database directly, with a progress bar and a summary table. Exits 0 when everything matched, 1 when
/// differences were found, 2 when the run could not be made.
struct Reconcile: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compare Settle's payments and refunds with a provider's records for a window, and optionally apply what may be.",
        discussion: "Times are RFC 3339 (2026-12-01T00:00:00Z) or dates (2026-12-01, midnight UTC). Exit status: 0 all matched, 1 differences found, 2 failed."
    )

    @OptionGroup var common: CommonOptions
    @Option(help: "The provider (stripe, sandbox, payu, wompi, payme).") var provider: String
    @Option(help: "Payments created from this time on.") var from: String
    @Option(help: "… and before this time.") var to: String
    @Flag(help: "Apply the provider's final states where they differ (through the same path as a notification; amounts go to review).")
    var apply = false
    @Option(help: "test or live.") var mode: Mode = .live

    func run() async throws {
        guard let start = ReconciliationService.parseTime(from) else { throw ValidationError("--from must be RFC 3339 or YYYY-MM-DD.") }
        guard let end = ReconciliationService.parseTime(to) else { throw ValidationError("--to must be RFC 3339 or YYYY-MM-DD.") }
        let configuration = try await common.configuration()
        let logger = ProcessLogging.bootstrap(configuration.logLevel)
        let request = ReconciliationService.CreateRequest(provider: provider, from: start, to: end, apply: apply, trigger: "cli")
        let mode = self.mode
        let finished: ReconciliationRun
        do {
            finished = try await Store.withStore(try DatabaseLocation(url: configuration.databaseURL), options: configuration.storeOptions, logger: logger) {
                store in
                try await store.migrate()
                let providers = ProviderRegistry(settings: configuration.providers, store: store, httpClient: .shared, logger: logger)
                try await providers.loadGeneratedSettings(store: store)
                let service = ReconciliationService(store: store, providers: providers, logger: logger)
                let total = try await service.paymentCount(request, mode: mode)
                let run = try await service.createAndRun(
                    request, caller: .operator("cli", mode: mode),
                    started: { run in
                        FileHandle.standardOutput.write(Data("Reconciling \(run.provider) (\(mode.rawValue) mode), \(total) payments: \(run.id)\n".utf8))
                    },
                    progress: { progress in ProgressBar.draw(done: min(progress.paymentsChecked, total), total: total) }
                )
                print("")
                return run
            }
        } catch let error as SettleError {
            FileHandle.standardError.write(Data("settle: \(error.message)\n".utf8))
            throw ExitCode(2)
        }
        print(Self.summary(finished))
        if finished.status != .succeeded {
            FileHandle.standardError.write(Data("settle: the reconciliation failed: \(finished.failure ?? "unknown reason")\n".utf8))
            throw ExitCode(2)
        }
        let differences = finished.counts.filter { $0.key != .matched }.values.reduce(0, +)
        if differences > 0 { throw ExitCode(1) }
    }

    /// The counts per class, a table.
    static func summary(_ run: ReconciliationRun) -> String {
        let width = ReconciliationClass.allCases.map(\.rawValue.count).max()! + 2
        var lines = ["class".padding(toLength: width, withPad: " ", startingAt: 0) + "count"]
        for kind in ReconciliationClass.allCases {
            lines.append(kind.rawValue.padding(toLength: width, withPad: " ", startingAt: 0) + String(run.counts[kind] ?? 0))
        }
        lines.append("applied".padding(toLength: width, withPad: " ", startingAt: 0) + String(run.applied))
        lines.append("Items: GET /v1/reconciliations/\(run.id)/items (or items.csv).")
        return lines.joined(separator: "\n")
    }
}
