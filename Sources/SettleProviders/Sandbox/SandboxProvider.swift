import Foundation
import SettleCore

/// The built-in sandbox: a provider that behaves like a real one over real HTTP, with no credentials.
///
/// Its checkout page (`/sandbox/checkout/{payment_id}`) lets the buyer approve, decline, leave pending or expire;
/// each choice makes ``SandboxNotifier`` post a Standard Webhooks-signed notification to
/// `POST /v1/webhooks/sandbox`, which this adapter verifies like any other provider's. Test mode only.
public struct SandboxProvider: PaymentProvider {
    let settings: ProviderSettings
    let records: SandboxRecords

    /// A sandbox with a fixed secret (unit tests, and Settle when `SETTLE_SANDBOX_WEBHOOK_SECRET` is set).
    public init(secret: StandardWebhookSecret, records: SandboxRecords = .none) {
        self.init(settings: ["webhook_secret": secret.serialized], records: records)
    }

    public init(settings: ProviderSettings, records: SandboxRecords = .none) {
        self.settings = settings
        self.records = records
    }

    /// The signing secret: configured, or generated on first start and stored (known once the database is open).
    public var secret: StandardWebhookSecret? { settings["webhook_secret"].flatMap(StandardWebhookSecret.init) }

    public var availability: ProviderAvailability {
        if secret != nil { return .enabled }
        if settings.isConfigured("webhook_secret") {
            return .disabled(reason: "SETTLE_SANDBOX_WEBHOOK_SECRET is not whsec_ followed by base64 of 24 to 64 bytes")
        }
        return .disabled(reason: "SETTLE_SANDBOX_WEBHOOK_SECRET is not set and none has been generated yet")
    }

    public var modes: Set<Mode> { [.test] }

    public func createPayment(_ request: ProviderPaymentRequest) async throws(ProviderError) -> ProviderPaymentCreation {
        guard secret != nil else { throw ProviderError(.disabled, "The sandbox provider is disabled.") }
        guard request.payment.mode == .test else {
            throw ProviderError(.unsupported, "The sandbox provider only takes test-mode payments.")
        }
        return ProviderPaymentCreation(
            providerPaymentID: Self.providerPaymentID(for: request.payment.id),
            nextAction: .redirect(url: "\(request.publicURL)/sandbox/checkout/\(request.payment.id)")
        )
    }

    public func verify(_ notification: InboundNotification) async throws(NotificationRejection) -> VerifiedNotification {
        guard let secret else { throw NotificationRejection(.providerDisabled, "The sandbox provider is disabled.") }
        do {
            try StandardWebhooks.verify(
                secrets: [secret], id: notification.header("webhook-id"),
                timestamp: notification.header("webhook-timestamp"),
                signatureHeader: notification.header("webhook-signature"), body: notification.body,
                now: notification.receivedAt
            )
        } catch {
            throw NotificationRejection(.invalidSignature, "Signature verification failed: \(error.rawValue).")
        }
        let message: SandboxMessage
        do {
            message = try JSONDecoder().decode(SandboxMessage.self, from: Data(notification.body))
        } catch {
            throw NotificationRejection(.malformed, "The notification body is not a sandbox event.")
        }
        if let refundID = message.data.refundID, message.type == "refund.succeeded" || message.type == "refund.failed" {
            let refund = ProviderRefund(providerRefundID: refundID, reason: "sandbox", outcome: message.type == "refund.succeeded" ? .succeeded : .failed)
            return VerifiedNotification(events: [
                ProviderEvent(
                    eventID: message.id, type: message.type, target: .payment(id: message.data.paymentID), outcome: nil,
                    amountMinorUnits: message.data.amount, currencyCode: message.data.currency, refund: refund
                )
            ])
        }
        let event = ProviderEvent(
            eventID: message.id, type: message.type, target: .payment(id: message.data.paymentID),
            outcome: SandboxAction.outcome(forEventType: message.type), amountMinorUnits: message.data.amount,
            currencyCode: message.data.currency,
            failure: message.type == "payment.failed" ? PaymentFailure(code: "card_declined", message: "The sandbox declined the payment.") : nil
        )
        return VerifiedNotification(events: [event])
    }

    public func fetchPayment(providerPaymentID: String) async throws(ProviderError) -> ProviderPaymentState? {
        // The sandbox keeps no state of its own: the checkout page's choice is the only source of truth.
        nil
    }

    /// The metadata key of a test payment whose refunds the sandbox leaves pending, to be settled from its refund page
    /// (`/sandbox/refunds/{refund id}`) with a signed `refund.succeeded` or `refund.failed`.
    public static let pendingRefundsKey = "sandbox_refunds"

    /// Instant, unless the payment's metadata asks for pending refunds (`"sandbox_refunds": "pending"`).
    public func refund(_ request: ProviderRefundRequest) async throws(ProviderError) -> ProviderRefundResult {
        guard secret != nil else { throw ProviderError(.disabled, "The sandbox provider is disabled.") }
        let id = "sb_" + (request.refundID.split(separator: "_", maxSplits: 1).last.map(String.init) ?? request.refundID)
        return request.payment.metadata[Self.pendingRefundsKey] == "pending" ? .pending(providerRefundID: id) : .succeeded(providerRefundID: id)
    }

    /// The sandbox's id of a payment (`sb_…`).
    public static func providerID(for paymentID: String) -> String {
        "sb_" + (paymentID.split(separator: "_", maxSplits: 1).last.map(String.init) ?? paymentID)
    }

    static func providerPaymentID(for paymentID: String) -> String {
        "sb_" + paymentID.split(separator: "_", maxSplits: 1).last.map(String.init)!
    }
}

/// The sandbox's notification body.
struct SandboxMessage: Codable, Sendable {
    struct Payload: Codable, Sendable {
        var paymentID: String
        var amount: Int64
        var currency: String
        /// For `refund.succeeded` and `refund.failed`: the sandbox's id of the refund.
        var refundID: String?

        enum CodingKeys: String, CodingKey {
            case paymentID = "payment_id"
            case amount
            case currency
            case refundID = "refund_id"
        }
    }

    var id: String
    var type: String
    var data: Payload
}

/// What the buyer chose on the sandbox checkout page.
public enum SandboxAction: String, Sendable, CaseIterable {
    case approve
    case decline
    case pending
    case expire

    /// The notification's `type`.
    public var eventType: String {
        switch self {
        case .approve: "payment.succeeded"
        case .decline: "payment.failed"
        case .pending: "payment.processing"
        case .expire: "payment.expired"
        }
    }

    static func outcome(forEventType type: String) -> ProviderOutcome? {
        switch type {
        case "payment.succeeded": .succeeded
        case "payment.failed": .failed
        case "payment.processing": .processing
        case "payment.expired": .expired
        default: nil
        }
    }
}
