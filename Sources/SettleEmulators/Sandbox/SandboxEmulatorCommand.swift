import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import SettleCore
import SettleProviders

extension SandboxProvider: EmulatedProvider {
    public static var emulatorCommand: any AsyncParsableCommand.Type { SandboxEmulatorCommand.self }
}

/// `settle emulate sandbox`: presses a sandbox checkout button from the command line. It reads the payment through
/// the API, then posts the signed notification the sandbox would send (or a spoiled one, to see Settle refuse it).
struct SandboxEmulatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sandbox",
        abstract: "Send the sandbox's signed notification for a payment, as its checkout page would (or a spoiled one)."
    )

    enum Fault: String, ExpressibleByArgument, CaseIterable {
        case none
        case wrongAmount = "wrong-amount"
        case badSignature = "bad-signature"
        case stale
    }

    @Option(help: "Settle's base URL.") var settleURL: String = "http://127.0.0.1:8080"
    @Option(help: "A test-mode secret key, to read the payment's amount.") var apiKey: String
    @Option(help: "The sandbox's whsec_… secret: set SETTLE_SANDBOX_WEBHOOK_SECRET for Settle and here (a generated one is never shown).")
    var webhookSecret: String = ProcessInfo.processInfo.environment["SETTLE_SANDBOX_WEBHOOK_SECRET"] ?? ""
    @Option(help: "The payment (pay_…).") var payment: String
    @Option(help: "approve, decline, pending or expire.") var action: String = "approve"
    @Option(help: "none, wrong-amount, bad-signature or stale.") var fault: Fault = .none

    func validate() throws {
        guard StandardWebhookSecret(webhookSecret) != nil else { throw ValidationError("--webhook-secret must be whsec_ + base64.") }
        guard SandboxAction(rawValue: action) != nil else { throw ValidationError("--action must be approve, decline, pending or expire.") }
    }

    func run() async throws {
        let secret = StandardWebhookSecret(webhookSecret)!
        var request = HTTPClientRequest(url: "\(settleURL)/v1/payments/\(payment)")
        request.headers.add(name: "authorization", value: "Bearer \(apiKey)")
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(15))
        let body = try await response.body.collect(upTo: 1 << 20)
        guard response.status == .ok, let object = try? JSONValue.parse(Array(buffer: body)),
            let amount = object["amount"]?.intValue, let code = object["currency"]?.stringValue, let currency = Currency.lookup(code)
        else { throw ValidationError("Settle answered \(response.status.code) for \(payment).") }
        let notifier = SandboxNotifier(secret: secret, webhookURL: "\(settleURL)/v1/webhooks/sandbox")
        let spoiled: SandboxNotifier.Fault =
            switch fault {
            case .none: .none
            case .wrongAmount: .amount(amount + 1)
            case .badSignature: .badSignature
            case .stale: .staleTimestamp(seconds: 3600)
            }
        let message = notifier.message(
            for: SandboxAction(rawValue: action)!, paymentID: payment, amount: Money(minorUnits: amount, currency: currency), fault: spoiled
        )
        let status = try await notifier.send(message)
        print("Settle answered \(status) to \(action) for \(payment) (event \(message.eventID), fault: \(fault.rawValue)).")
        if !(200..<300).contains(status) && fault == .none { throw ExitCode(1) }
    }
}
