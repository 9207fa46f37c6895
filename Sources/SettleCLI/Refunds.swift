import ArgumentParser
import AsyncHTTPClient
import Foundation
import Settle
import SettleCore
import SettleServer
import SettleStore

/// `settle refunds create pay_… [--amount …]` and `settle refunds list`: refunds on the database directly, as the
/// operator (`cli`), through the same use case as the API (the provider is called, the amount checked).
struct Refunds: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Refunds: create one, list them, confirm one an operator paid back.", subcommands: [Create.self, List.self, Confirm.self])

    struct Scope: ParsableArguments {
        @OptionGroup var common: CommonOptions
        @Option(help: "test or live.") var mode: Mode = .test

        func run<T: Sendable>(_ body: @escaping @Sendable (RefundService) async throws -> T) async throws -> T {
            let configuration = try await common.configuration()
            let logger = ProcessLogging.bootstrap(configuration.logLevel)
            return try await Store.withStore(try DatabaseLocation(url: configuration.databaseURL), options: configuration.storeOptions, logger: logger) { store in
                try await store.migrate()
                let providers = ProviderRegistry(settings: configuration.providers, store: store, httpClient: .shared, logger: logger)
                return try await body(RefundService(store: store, providers: providers, logger: logger))
            }
        }
    }

    static func line(_ refund: Refund) -> String {
        let failure = refund.status == .failed || refund.status == .requiresAction ? refund.failure.map { "  (\($0.message))" } ?? "" : ""
        return "\(refund.id)  \(refund.status.rawValue)  \(refund.amount.formatted())  \(refund.paymentID)  \(refund.reason)\(failure)"
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Refund a succeeded payment, all that remains unless --amount says less.")
        @OptionGroup var scope: Scope
        @Argument(help: "The payment (pay_…).") var payment: String
        @Option(help: "Minor units.") var amount: Int64?
        @Option(help: "requested_by_customer, duplicate, fraudulent or other.") var reason: String = "requested_by_customer"

        func run() async throws {
            let (mode, request) = (scope.mode, RefundService.CreateRequest(paymentID: payment, amount: amount, reason: reason))
            do {
                let (_, refund) = try await scope.run { service in
                    try await service.create(request, caller: .operator("cli", mode: mode), idempotency: nil)
                }
                print(Refunds.line(refund))
            } catch let error as SettleError {
                FileHandle.standardError.write(Data("settle: \(error.message)\n".utf8))
                throw ExitCode(2)
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List refunds, newest first.")
        @OptionGroup var scope: Scope
        @Option(help: "Only this payment's.") var payment: String?
        @Option(help: "How many.") var limit: Int = 20

        func run() async throws {
            let filter = RefundFilter(mode: scope.mode, paymentID: payment, limit: min(max(limit, 1), 100))
            let page = try await scope.run { service in try await service.list(filter) }
            if page.refunds.isEmpty { print("No \(filter.mode.rawValue)-mode refunds.") }
            for refund in page.refunds { print(Refunds.line(refund)) }
        }
    }

    struct Confirm: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Confirm a refund the provider could not make (requires_action): you paid the buyer back.")
        @OptionGroup var scope: Scope
        @Argument(help: "The refund (re_…).") var refund: String
        @Option(help: "How the buyer was paid back (audited).") var note: String

        func run() async throws {
            let (mode, id, note) = (scope.mode, refund, self.note)
            do {
                let refund = try await scope.run { service in try await service.confirm(refundID: id, note: note, caller: .operator("cli", mode: mode)) }
                print(Refunds.line(refund))
            } catch let error as SettleError {
                FileHandle.standardError.write(Data("settle: \(error.message)\n".utf8))
                throw ExitCode(2)
            }
        }
    }
}
