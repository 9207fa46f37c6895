import Foundation
import Testing

@testable import SettleCore
@testable import SettleProviders

@Suite struct SandboxProviderTests {
    let secret = StandardWebhookSecret.generate()

    func notification(_ message: SandboxNotifier.Message, at now: Date = Date()) -> InboundNotification {
        InboundNotification(provider: "sandbox", contentType: "application/json",
            headers: Dictionary(message.headers, uniquingKeysWith: { a, _ in a }), body: message.body, receivedAt: now)
    }

    @Test func verifiesAndMapsEveryAction() async throws {
        let provider = SandboxProvider(secret: secret)
        let notifier = SandboxNotifier(secret: secret, webhookURL: "http://127.0.0.1:1/unused")
        let amount = Money(minorUnits: 150_000, currency: .cop)
        let expected: [SandboxAction: ProviderOutcome] = [.approve: .succeeded, .decline: .failed, .pending: .processing, .expire: .expired]
        for action in SandboxAction.allCases {
            let message = notifier.message(for: action, paymentID: "pay_x", amount: amount)
            let verified = try await provider.verify(notification(message))
            let event = try #require(verified.events.first)
            #expect(event.outcome == expected[action])
            #expect(event.target == .payment(id: "pay_x"))
            #expect(event.amountMinorUnits == 150_000)
            #expect(event.currencyCode == "COP")
            #expect(event.eventID == message.eventID)
        }
    }

    @Test func rejectsForgedStaleAndMalformed() async throws {
        let provider = SandboxProvider(secret: secret)
        let notifier = SandboxNotifier(secret: secret, webhookURL: "http://127.0.0.1:1/unused")
        let amount = Money(minorUnits: 100, currency: .usd)
        for fault in [SandboxNotifier.Fault.badSignature, .staleTimestamp(seconds: 301)] {
            let message = notifier.message(for: .approve, paymentID: "pay_x", amount: amount, fault: fault)
            await #expect(throws: NotificationRejection.self) { try await provider.verify(notification(message)) }
        }
        var tampered = notifier.message(for: .approve, paymentID: "pay_x", amount: amount)
        tampered.body = Array(String(decoding: tampered.body, as: UTF8.self).replacingOccurrences(of: "100", with: "1").utf8)
        await #expect(throws: NotificationRejection.self) { try await provider.verify(notification(tampered)) }
        // Disabled without a secret: fail closed.
        let disabled = SandboxProvider(settings: [:])
        #expect(!disabled.availability.isEnabled)
        let message = notifier.message(for: .approve, paymentID: "pay_x", amount: amount)
        do {
            _ = try await disabled.verify(notification(message))
            Issue.record("a disabled provider accepted a notification")
        } catch {
            #expect(error.code == .providerDisabled)
        }
    }
}
