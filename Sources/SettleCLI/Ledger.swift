import ArgumentParser
import Foundation
import SettleServer
import SettleStore

/// `settle ledger verify`: the wallets' ledger recomputed from its entries.
struct Ledger: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "The wallets' double-entry ledger.", subcommands: [Verify.self])

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Recompute every balance from the entries; name the first discrepancy (exit 2).",
            discussion: """
                Checks that every transfer is exactly two entries summing to zero for its amount, that every account's \
                balance is the sum of its entries and what its last entry left, that no wallet is below zero unless it \
                may be, and that every succeeded top-up has exactly one credit (and every credit a succeeded top-up).
                """
        )
        @OptionGroup var common: CommonOptions

        func run() async throws {
            let configuration = try await common.configuration()
            let logger = ProcessLogging.bootstrap(configuration.logLevel)
            let discrepancy = try await Store.withStore(
                try DatabaseLocation(url: configuration.databaseURL), options: configuration.storeOptions, logger: logger
            ) { store in
                try await store.verifyLedger()
            }
            if let discrepancy {
                print("Ledger DISCREPANCY: \(discrepancy).")
                throw ExitCode(2)
            }
            print("Ledger consistent: every balance is the sum of its entries, every transfer sums to zero, every succeeded top-up credited once.")
        }
    }
}
