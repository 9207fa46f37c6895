import ArgumentParser
import Hummingbird
import Logging
import SettleProviders

extension EfectyProvider: EmulatedProvider {
    public static var emulatorCommand: any AsyncParsableCommand.Type { EfectyEmulatorCommand.self }
}

/// `settle emulate efecty`.
struct EfectyEmulatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "efecty",
        abstract: "Emulate an Efecty counter: look up and pay vouchers, then write the settlement file into Settle's SETTLE_EFECTY_INBOX.",
        discussion: """
            The cashier's page is at <url>/. Vouchers come from POST /vouchers (Settle's open-vouchers CSV as the body) \
            or, with --settle-url and --api-key, from <settle-url>/v1/providers/efecty/open_vouchers.csv on start and on \
            POST /refresh. POST /settlement?folder=<path> writes the pending payments' settlement file there (into \
            --inbox without a folder) and answers its path; GET /settlement.csv answers the file itself. Both take \
            separator=;, crlf, bom, duplicate_line, wrong_amount, unknown_reference, truncated and include_settled.
            """
    )
    @Option(help: "Port to listen on.") var port: Int = 12114
    @Option(help: "The merchant's agreement (convenio) number; it names the settlement files.") var agreement: String
    @Option(help: "Settle's SETTLE_EFECTY_INBOX: where POST /settlement writes when it names no folder.") var inbox: String?
    @Option(name: .customLong("settle-url"), help: "Settle's base URL, to load its open vouchers (with --api-key).") var settleURL: String?
    @Option(name: .customLong("api-key"), help: "A Settle API key, to load its open vouchers (with --settle-url).") var apiKey: String?

    func validate() throws {
        guard !agreement.isEmpty else { throw ValidationError("--agreement must not be empty.") }
        guard (settleURL == nil) == (apiKey == nil) else { throw ValidationError("--settle-url and --api-key go together.") }
    }

    func run() async throws {
        let logger = EmulatorLogging.bootstrap()
        var configuration = EfectyEmulator.Configuration(agreement: agreement, port: port)
        configuration.inbox = inbox
        configuration.settleURL = settleURL
        configuration.apiKey = apiKey
        let emulator = EfectyEmulator(configuration: configuration)
        print(
            "Efecty emulator on http://127.0.0.1:\(port) — counter at /, agreement \(agreement), settlement files "
                + (inbox.map { "to \($0) (POST /settlement)" } ?? "by POST /settlement?folder=<path> or GET /settlement.csv")
        )
        if let settleURL, emulator.canRefresh {
            do {
                let count = try await emulator.refreshOpenVouchers()
                print("Loaded \(count) open vouchers from \(settleURL)")
            } catch {
                logger.warning("Efecty emulator: loading open vouchers from \(settleURL) failed: \(error); POST /refresh to try again")
            }
        }
        try await emulator.application(logger: logger).runService()
    }
}
