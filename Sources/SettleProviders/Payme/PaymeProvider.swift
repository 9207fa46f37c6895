import AsyncHTTPClient
import Foundation
import Logging
import SettleCore

/// Payme (Uzbekistan). Two ways in, one way to finish:
///
/// - **Checkout link** (default): the buyer goes to Payme's page through a GET link naming the payment by its id in
///   the configured account field.
/// - **Receipt** (`"payment_method": {"type": "receipt"}`, or the older `"payme_mode": "receipt"`): Settle creates a Subscribe API receipt and hands back its pay link; the
///   sweep checks the receipt until it is paid (state 4) or cancelled (state 50).
///
/// Either way Payme then calls Settle's Merchant API (``SynchronousProvider``), and `PerformTransaction` is what
/// finalizes the payment. Amounts are UZS in tiyin, which are Settle's minor units: no conversion.
public struct PaymeProvider: SynchronousProvider {
    let configuration: PaymeConfiguration
    let merchantAPI: PaymeMerchantAPI
    let subscribe: PaymeSubscribeAPI?
    let logger: Logger

    public init(configuration: PaymeConfiguration, context: ProviderContext) {
        self.configuration = configuration
        self.logger = context.logger
        let credentials = context.credentials
        self.merchantAPI = PaymeMerchantAPI(name: Self.name, configuration: configuration, credentials: credentials)
        let client = context.apiClient("Payme")
        self.subscribe = configuration.merchantID.map { merchantID in
            PaymeSubscribeAPI(
                url: configuration.apiBase, merchantID: merchantID,
                key: { () throws(ProviderError) -> Secret in
                    let stored: String?
                    do {
                        stored = try await credentials.value(PaymeMerchantAPI.keyCredential)
                    } catch {
                        throw ProviderError(.unavailable, "The stored Payme key could not be read.")
                    }
                    guard let key = stored.map({ Secret($0) }) ?? configuration.key else {
                        throw ProviderError(.disabled, "The Payme key is not set.")
                    }
                    return key
                },
                client: client
            )
        }
    }

    public var availability: ProviderAvailability {
        guard let merchantID = configuration.merchantID, !merchantID.isEmpty else {
            return .disabled(reason: "SETTLE_PAYME_MERCHANT_ID is not set")
        }
        guard let key = configuration.key?.value, !key.isEmpty else { return .disabled(reason: "SETTLE_PAYME_KEY is not set") }
        if let invalid = configuration.invalid { return .disabled(reason: invalid) }
        guard !configuration.accountField.isEmpty, !configuration.accountField.contains(";"), !configuration.accountField.contains("=")
        else { return .disabled(reason: "SETTLE_PAYME_ACCOUNT_FIELD is not a usable field name") }
        return .enabled
    }

    /// A test cash desk serves test-mode payments; a production one live-mode.
    public var modes: Set<Mode> { availability.isEnabled ? [configuration.mode] : [] }

    public func validate(_ payment: Payment) throws(ProviderError) {
        guard payment.amount.currency.code == "UZS" else {
            throw ProviderError(.unsupported, providerCode: "currency", "Payme takes UZS only (amounts in tiyin).")
        }
        if let returnURL = payment.returnURL, returnURL.contains(";") {
            throw ProviderError(.unsupported, providerCode: "return_url", "Payme checkout links cannot carry a return_url containing ';'.")
        }
    }

    public func createPayment(_ request: ProviderPaymentRequest) async throws(ProviderError) -> ProviderPaymentCreation {
        guard availability.isEnabled, let merchantID = configuration.merchantID else {
            throw ProviderError(.disabled, "The Payme provider is disabled.")
        }
        let payment = request.payment
        guard payment.mode == configuration.mode else {
            throw ProviderError(.unsupported, "The configured Payme cash desk does not serve \(payment.mode.rawValue)-mode payments.")
        }
        if request.paymentMethod.type == "receipt" {
            guard let subscribe else { throw ProviderError(.disabled, "The Payme provider is disabled.") }
            let receipt = try await subscribe.create(
                amount: payment.amount.minorUnits, account: [(configuration.accountField, payment.id)],
                description: payment.description ?? payment.reference
            )
            return ProviderPaymentCreation(
                providerPaymentID: receipt.id, nextAction: .redirect(url: "\(configuration.checkoutBase)/\(receipt.id)")
            )
        }
        let link = PaymeCheckout.link(
            base: configuration.checkoutBase, merchantID: merchantID, account: [(configuration.accountField, payment.id)],
            amount: payment.amount.minorUnits, returnURL: request.returnURL,
            language: configuration.language
        )
        // Payme has no id for a checkout link: it names the payment by its id in the account field.
        return ProviderPaymentCreation(providerPaymentID: nil, nextAction: .redirect(url: link))
    }

    /// Payme does not send webhooks; its calls are answered by ``answer(_:ledger:)``.
    public func verify(_ notification: InboundNotification) async throws(NotificationRejection) -> VerifiedNotification {
        throw NotificationRejection(.malformed, "Payme calls are answered through the Merchant API.")
    }

    /// Answers a Merchant API call. A disabled provider authenticates nothing (fail closed), whatever key is stored.
    public func answer(_ call: InboundNotification, ledger: any ProviderLedger) async -> ProviderAnswer {
        guard availability.isEnabled else {
            await ledger.reject(reason: "provider_disabled")
            return PaymeRPC.error(.insufficientPrivilege, id: .null)
        }
        return await merchantAPI.answer(call, ledger: ledger)
    }

    /// Cancels an unpaid receipt (`receipts.cancel`). A receipt Payme is already paying, or has paid, is left alone:
    /// cancelling it would refund the buyer, which is not what cancelling an unpaid payment means.
    public func cancelPayment(providerPaymentID: String) async throws(ProviderError) {
        guard let subscribe else { throw ProviderError(.disabled, "The Payme provider is disabled.") }
        switch try await subscribe.check(id: providerPaymentID) {
        case 0: _ = try await subscribe.cancel(id: providerPaymentID)
        case 50: return
        default: throw ProviderError(.rejected, providerCode: "receipt_in_progress", "Payme is already paying this receipt.")
        }
    }

    // MARK: - Refunds

    /// A paid receipt is refunded by cancelling it, in full only; a checkout payment is cancelled from Payme's merchant
    /// cabinet (Payme then calls `CancelTransaction`, recorded as a refund), so its refund waits for an operator.
    public func refundRefusal(for payment: Payment, amount: Int64) -> String? {
        guard payment.paymentMethod?.type == "receipt" else { return nil }
        guard amount == payment.amount.minorUnits, payment.amountRefunded == 0 else {
            return "Payme refunds a paid receipt only by cancelling it in full (\(payment.amount.formatted())); refund the whole amount, or pay this part back by other means."
        }
        return nil
    }

    public func refund(_ request: ProviderRefundRequest) async throws(ProviderError) -> ProviderRefundResult {
        guard request.payment.paymentMethod?.type == "receipt", let receipt = request.payment.providerPaymentID else {
            return .requiresAction("Cancel the transaction in Payme's merchant cabinet (Payme then reports it), or pay the buyer back by other means, then confirm the refund.")
        }
        guard let subscribe else { throw ProviderError(.disabled, "The Payme provider is disabled.") }
        let cancelled = try await subscribe.cancel(id: receipt)
        return cancelled.state == 50 ? .succeeded(providerRefundID: receipt) : .pending(providerRefundID: receipt)
    }

    /// Open receipts are checked on every sweep: Payme's own call may be late or lost.
    public var openPaymentPolling: OpenPaymentPolling? { OpenPaymentPolling(quiet: .zero, every: .zero) }

    /// A receipt's state (receipt mode): `receipts.check`, then `receipts.get` for the amount once paid. Payme's
    /// states: 4 paid, 50 cancelled; anything else is still in progress.
    public func fetchPayment(providerPaymentID: String) async throws(ProviderError) -> ProviderPaymentState? {
        guard let subscribe else { throw ProviderError(.disabled, "The Payme provider is disabled.") }
        let state: Int64
        do {
            state = try await subscribe.check(id: providerPaymentID)
        } catch where error.code == .rejected {
            return nil  // Payme does not know it
        }
        switch state {
        case 4:
            let receipt = try await subscribe.get(id: providerPaymentID)
            return ProviderPaymentState(outcome: .succeeded, amountMinorUnits: receipt.amount ?? -1, currencyCode: "UZS")
        case 50:
            return ProviderPaymentState(outcome: .canceled, amountMinorUnits: nil, currencyCode: nil)
        default:
            return ProviderPaymentState(outcome: .processing, amountMinorUnits: nil, currencyCode: nil)
        }
    }
}
