import ArgumentParser
import Foundation
import Settle
import SettleCore
import SettleServer
import SettleStore

struct Webhooks: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Merchant webhook endpoints: list, attempts, resend, recover.",
        subcommands: [List.self, Attempts.self, Resend.self, Recover.self]
    )

    struct Scope: ParsableArguments {
        @OptionGroup var common: CommonOptions
        @Option(help: "test or live.") var mode: Mode = .test

        func run<T: Sendable>(_ body: @escaping @Sendable (WebhookService, Store) async throws -> T) async throws -> T {
            let configuration = try await common.configuration()
            let logger = ProcessLogging.bootstrap(configuration.logLevel)
            return try await Store.withStore(try DatabaseLocation(url: configuration.databaseURL), options: configuration.storeOptions, logger: logger) { store in
                try await store.migrate()
                return try await body(WebhookService(store: store, logger: logger), store)
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List endpoints with their pending and failed messages.")
        @OptionGroup var scope: Scope

        func run() async throws {
            let mode = scope.mode
            try await scope.run { service, store in
                let endpoints = try await service.list(mode: mode)
                if endpoints.isEmpty { print("No \(mode.rawValue)-mode endpoints.") }
                for endpoint in endpoints {
                    let messages = try await store.webhookMessages(endpointID: endpoint.id)
                    let pending = messages.filter { $0.state == "pending" }.count
                    let failed = messages.filter { $0.state == "failed" }.count
                    let reason = endpoint.disabledReason.map { " (\($0))" } ?? ""
                    print("\(endpoint.id)  \(endpoint.status.rawValue)\(reason)  \(endpoint.url)  events: \(endpoint.enabledEvents.joined(separator: ","))  pending: \(pending)  failed: \(failed)")
                }
            }
        }
    }

    struct Attempts: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show an endpoint's delivery attempts, newest first.")
        @OptionGroup var scope: Scope
        @Argument(help: "Endpoint id (we_…).") var endpoint: String
        @Option(help: "How many.") var limit: Int = 20

        func run() async throws {
            let (mode, endpoint, limit) = (scope.mode, self.endpoint, self.limit)
            try await scope.run { service, _ in
                let formatter = ISO8601DateFormatter()
                for attempt in try await service.attempts(endpointID: endpoint, limit: limit, caller: .operator("cli", mode: mode)) {
                    let outcome = attempt.statusCode.map { "HTTP \($0)" } ?? "error: \(attempt.error ?? "?")"
                    print("\(formatter.string(from: attempt.attemptedAt))  \(attempt.eventID)  \(outcome)  \(attempt.durationMilliseconds) ms")
                }
            }
        }
    }

    struct Resend: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Queue an event again (for one endpoint, or all that receive it).")
        @OptionGroup var scope: Scope
        @Argument(help: "Event id (evt_…).") var event: String
        @Option(help: "Only this endpoint (we_…).") var endpoint: String?

        func run() async throws {
            let (mode, event, endpoint) = (scope.mode, self.event, self.endpoint)
            let count = try await scope.run { service, _ in
                try await service.resend(eventID: event, endpointID: endpoint, caller: .operator("cli", mode: mode))
            }
            print("Queued \(event) for \(count) endpoint(s).")
        }
    }

    struct Recover: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Requeue every failed message of an endpoint since a time.")
        @OptionGroup var scope: Scope
        @Argument(help: "Endpoint id (we_…).") var endpoint: String
        @Option(help: "ISO 8601 time or Unix seconds.") var since: String

        func run() async throws {
            guard let sinceDate = Self.parse(since) else { throw ValidationError("--since must be ISO 8601 or Unix seconds.") }
            let sinceSeconds = UnixTime.seconds(sinceDate)
            let (mode, endpoint) = (scope.mode, self.endpoint)
            let total = try await scope.run { service, _ -> Int in
                let total = try await service.failedCount(endpointID: endpoint, since: sinceSeconds, mode: mode)
                var done = 0
                while done < total {
                    let requeued = try await service.recover(
                        endpointID: endpoint, since: sinceSeconds, caller: .operator("cli", mode: mode), chunk: 200
                    )
                    if requeued == 0 { break }
                    done += requeued
                    ProgressBar.draw(done: done, total: total)
                }
                if total > 0 { print("") }
                return done
            }
            print("Requeued \(total) failed message(s) of \(endpoint).")
        }

        static func parse(_ text: String) -> Date? {
            if let seconds = ExternalInteger.unsigned(text) { return Date(timeIntervalSince1970: TimeInterval(seconds)) }
            return ISO8601DateFormatter().date(from: text)
        }
    }
}

/// A one-line progress bar on standard output.
enum ProgressBar {
    static func draw(done: Int, total: Int, width: Int = 30) {
        let filled = total == 0 ? width : width * done / total
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        FileHandle.standardOutput.write(Data("\r[\(bar)] \(done)/\(total)".utf8))
    }
}
