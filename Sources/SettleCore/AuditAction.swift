/// What an audit entry records. The name is what the trail stores and shows (`payment.succeeded`,
/// `api_key.revoked`, `payme.transaction_performed`).
public enum AuditAction: Sendable, Hashable, CustomStringConvertible {
    case paymentCreated
    /// The provider created its side of the payment (its id, the buyer's URL).
    case paymentProviderCreated
    /// The payment's status changed to this one.
    case paymentStatus(PaymentStatus)
    case paymentRefunded
    case paymentFulfilled
    case apiKeyCreated
    case apiKeyRevoked
    case webhookEndpointCreated
    case webhookEndpointUpdated
    case webhookEndpointSecretRotated
    case webhookEndpointDeleted
    case webhookEndpointRecovered
    case eventResent
    /// A call from a provider that reads Settle's answer as its protocol (Payme's Merchant API).
    case providerCall
    /// A provider replaced a credential it keeps in Settle (Payme's `ChangePassword`); the value is never recorded.
    case providerCredentialChanged
    /// A change to one of a provider's own transactions, named by the provider (`created`, `performed`, …).
    case providerTransaction(provider: String, change: String)
    /// A settlement file imported (its lines' changes are audited each as a payment change).
    case settlementImported
    /// A refund asked for, or its status changed (`refund.created`, `refund.succeeded`, …).
    case refundCreated
    case refundStatus(RefundStatus)
    /// A reconciliation asked for (its applied differences are audited each as the change they made).
    case reconciliationCreated
    /// The sandbox's own record of a test payment changed (`provider_state`), Settle's payment untouched.
    case sandboxRecordChanged
    case walletCreated
    /// A ledger transfer written (`transfer.top_up`, `transfer.debit`, …).
    case ledgerTransfer(TransferKind)

    public var name: String {
        switch self {
        case .paymentCreated: "payment.created"
        case .paymentProviderCreated: "payment.provider_created"
        case .paymentStatus(let status): status.eventType.rawValue
        case .paymentRefunded: "payment.refunded"
        case .paymentFulfilled: "payment.fulfilled"
        case .apiKeyCreated: "api_key.created"
        case .apiKeyRevoked: "api_key.revoked"
        case .webhookEndpointCreated: "webhook_endpoint.created"
        case .webhookEndpointUpdated: "webhook_endpoint.updated"
        case .webhookEndpointSecretRotated: "webhook_endpoint.secret_rotated"
        case .webhookEndpointDeleted: "webhook_endpoint.deleted"
        case .webhookEndpointRecovered: "webhook_endpoint.recovered"
        case .eventResent: "event.resent"
        case .providerCall: "provider.call"
        case .providerCredentialChanged: "provider.credential_changed"
        case .providerTransaction(let provider, let change): "\(provider).transaction_\(change)"
        case .settlementImported: "settlement.imported"
        case .refundCreated: "refund.created"
        case .refundStatus(let status): "refund.\(status.rawValue)"
        case .reconciliationCreated: "reconciliation.created"
        case .sandboxRecordChanged: "sandbox.record_changed"
        case .walletCreated: "wallet.created"
        case .ledgerTransfer(let kind): "transfer.\(kind.rawValue)"
        }
    }

    public var description: String { name }
}
