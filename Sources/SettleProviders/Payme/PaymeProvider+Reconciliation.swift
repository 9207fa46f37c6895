import Foundation
import SettleCore

/// Reconciliation. Payme's record of a checkout payment is its Merchant API transactions, which Payme itself created
/// in Settle's ledger through its calls (`GetStatement` reads the same rows): a performed transaction is the payment, a
/// transaction cancelled after it was performed (`-2`) a full refund. A receipt is asked about with `receipts.check` and
/// `receipts.get`; a paid receipt Payme shows cancelled is the refund Settle asked for when Settle holds one naming it,
/// else a receipt cancelled unpaid.
extension PaymeProvider {
    public var reconciliationSource: ReconciliationSource { .perPayment(refunds: true) }

    public func reconciliationRecords(for subject: ReconciliationSubject) async throws(ProviderError) -> [ProviderRecord] {
        let payment = subject.payment
        if !subject.transactions.isEmpty { return Self.records(subject.transactions, paymentID: payment.id) }
        guard payment.paymentMethod?.type == "receipt", let receipt = payment.providerPaymentID, let subscribe else { return [] }
        let state: Int64
        do {
            state = try await subscribe.check(id: receipt)
        } catch where error.code == .rejected {
            return []  // Payme does not know it
        }
        func record(_ status: ReconciledStatus, amount: Int64?) -> ProviderRecord {
            ProviderRecord(object: .payment, providerID: receipt, paymentID: payment.id, status: status, amount: amount, currency: "UZS")
        }
        switch state {
        case 4:
            return [record(.succeeded, amount: try await subscribe.get(id: receipt).amount)]
        case 50 where subject.refunds.contains { $0.providerRefundID == receipt }:
            let amount = try await subscribe.get(id: receipt).amount
            return [
                record(.succeeded, amount: amount),
                ProviderRecord(object: .refund, providerID: receipt, paymentID: payment.id, status: .succeeded, amount: amount, currency: "UZS"),
            ]
        case 50:
            return [record(.canceled, amount: payment.amount.minorUnits)]
        default:
            return [record(.processing, amount: payment.amount.minorUnits)]
        }
    }

    /// A payment's Merchant API transactions as Payme's records: the performed one (amounts in tiyin, UZS's minor
    /// units), each cancelled after performing as a full refund; else the one still open; else the last cancelled.
    static func records(_ transactions: [ProviderTransaction], paymentID: String) -> [ProviderRecord] {
        func record(_ transaction: ProviderTransaction, _ status: ReconciledStatus, _ object: ReconciledObject = .payment) -> ProviderRecord {
            ProviderRecord(
                object: object, providerID: transaction.providerTransactionID, paymentID: paymentID, status: status, amount: transaction.amount,
                currency: "UZS"
            )
        }
        let performed = transactions.filter { $0.state == 2 || $0.state == -2 }
        if let paid = performed.first {
            return [record(paid, .succeeded)] + performed.filter { $0.state == -2 }.map { record($0, .succeeded, .refund) }
        }
        if let open = transactions.last(where: { $0.state == 1 }) { return [record(open, .processing)] }
        return transactions.last.map { [record($0, .canceled)] } ?? []
    }
}
