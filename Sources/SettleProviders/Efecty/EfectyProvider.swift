import Foundation
import Logging
import SettleCore

/// Efecty cash vouchers under the merchant's own collection agreement (convenio): Settle issues the voucher itself
/// (a numeric reference with a check digit, a Code 128 barcode, a printable page) and learns of payments from
/// Efecty's settlement files or an operator's confirmation, since Efecty has no API. COP, whole pesos.
///
/// - The reference is the payment's provider id; Settle reserves it under a unique constraint.
/// - A voucher expires `SETTLE_EFECTY_VOUCHER_HOURS` after it is issued (or when the payment does, if the merchant set
///   `expires_in`); the counter refuses it after that. The sweep waits two more days before expiring the payment:
///   settlement files come daily, so a voucher paid just before its date is reported a day later.
/// - The barcode encodes the agreement number followed by the reference, digits only.
public struct EfectyProvider: PaymentProvider, SettlementFileProvider {
    /// How long past its date an unpaid voucher stays open, waiting for the settlement file that may report it.
    public static let settlementGrace: TimeInterval = 48 * 3600

    let configuration: EfectyConfiguration
    let now: @Sendable () -> Date
    let random: @Sendable (Int) -> String

    public init(configuration: EfectyConfiguration, context: ProviderContext, random: @escaping @Sendable (Int) -> String = EfectyReference.secureDigits) {
        self.configuration = configuration
        self.now = context.now
        self.random = random
    }

    public var availability: ProviderAvailability {
        if let problem = configuration.problem { return .disabled(reason: problem) }
        return .enabled
    }

    /// Test-mode vouchers are for trying the flow (the voucher page marks them); both modes use the same agreement.
    public var modes: Set<Mode> { availability.isEnabled ? [.test, .live] : [] }

    public func validate(_ payment: Payment) throws(ProviderError) {
        guard payment.amount.currency.code == "COP" else {
            throw ProviderError(.unsupported, providerCode: "currency", "Efecty takes COP only, not \(payment.amount.currency.code).")
        }
        guard payment.amount.minorUnits % 100 == 0 else {
            throw ProviderError(
                .unsupported, providerCode: "amount",
                "Efecty takes whole pesos: amount (in centavos) must be a multiple of 100, and \(payment.amount.minorUnits) is not."
            )
        }
        let low = configuration.minimumAmount, high = configuration.maximumAmount
        guard (low...high).contains(payment.amount.minorUnits) else {
            throw ProviderError(
                .unsupported, providerCode: "amount",
                "Efecty vouchers go from \(Money(minorUnits: low, currency: .cop).formatted()) to \(Money(minorUnits: high, currency: .cop).formatted()); \(payment.amount.formatted()) is outside."
            )
        }
    }

    public func createPayment(_ request: ProviderPaymentRequest) async throws(ProviderError) -> ProviderPaymentCreation {
        guard availability.isEnabled, let agreement = configuration.agreement else {
            throw ProviderError(.disabled, "The Efecty provider is disabled.")
        }
        let reference = EfectyReference.make(prefix: configuration.referencePrefix, random: random)
        let byHours = now().addingTimeInterval(TimeInterval(configuration.voucherHours) * 3600)
        let expiresAt = request.expiryRequested ? request.payment.expiresAt ?? byHours : byHours
        let voucher = Voucher(
            network: "efecty", reference: reference, agreement: agreement, barcode: agreement + reference,
            expiresAt: Date(timeIntervalSince1970: expiresAt.timeIntervalSince1970.rounded(.down)), receiptURL: request.formPageURL
        )
        return ProviderPaymentCreation(providerPaymentID: reference, nextAction: .voucher(voucher, url: request.formPageURL))
    }

    /// Efecty sends nothing: every message is refused.
    public func verify(_ notification: InboundNotification) async throws(NotificationRejection) -> VerifiedNotification {
        guard availability.isEnabled else { throw NotificationRejection(.providerDisabled, "The Efecty provider is disabled.") }
        throw NotificationRejection(
            .invalidSignature,
            "Efecty sends no notifications: payments arrive in settlement files (POST /v1/providers/efecty/settlements or the inbox) or an operator's confirmation."
        )
    }

    /// Efecty has no API to ask.
    public func fetchPayment(providerPaymentID: String) async throws(ProviderError) -> ProviderPaymentState? { nil }

    public func expiryHold(for payment: Payment, transactions: [ProviderTransaction], now: Date) -> Date? {
        guard let expiresAt = payment.voucher?.expiresAt ?? payment.expiresAt else { return nil }
        return expiresAt.addingTimeInterval(Self.settlementGrace)
    }

    // MARK: - Settlement files

    public func parseSettlement(_ bytes: [UInt8]) throws(SettlementFileError) -> [SettlementLine] {
        try EfectySettlementFile.parse(bytes)
    }

    public var settlementInbox: String? { configuration.inbox }
    public var settlementInboxMode: Mode { configuration.inboxMode }
    public var settlementImportInterval: Duration { .seconds(configuration.importInterval) }
    public var settlementCurrency: Currency { .cop }
}

extension EfectyProvider {
    public var reconciliationSource: ReconciliationSource {
        .unsupported("Efecty's records are its settlement files: importing one (settle efecty import) compares and settles every line.")
    }
}
