import Foundation
import SettleCore

/// Reconciliation: Stripe lists Checkout Sessions by creation time (newest first, `starting_after` the last id), with
/// each session's payment intent, latest charge and balance transaction expanded for the fee; then refunds created
/// since the window opened (a refund of a payment in the window may come any time later).
extension StripeProvider {
    public var reconciliationSource: ReconciliationSource { .listing }

    /// The cursor is `sessions:<last id>` or `refunds:<last id>`; `refunds:` starts the refunds.
    public func reconciliationRecords(mode: Mode, from: Date, to: Date, cursor: String?) async throws(ProviderError) -> ProviderRecordPage {
        guard let api else { throw ProviderError(.disabled, "The Stripe provider is disabled.") }
        let (phase, after) = Self.split(cursor)
        var query = "limit=100"
        if phase == "sessions" {
            query += "&created%5Bgte%5D=\(UnixTime.seconds(from))&created%5Blt%5D=\(Self.secondsCeiling(to))"
            query += "&expand%5B%5D=data.payment_intent.latest_charge.balance_transaction"
        } else {
            query += "&created%5Bgte%5D=\(UnixTime.seconds(from))"
        }
        if let after { query += "&starting_after=\(StripeForm.escape(after))" }
        let bytes = try await api.get("/v1/\(phase == "sessions" ? "checkout/sessions" : "refunds")?\(query)")
        if phase == "sessions" {
            guard let list = try? JSONDecoder().decode(StripeList<StripeListedSession>.self, from: Data(bytes)) else {
                throw ProviderError(.unavailable, "Stripe answered with something that is not a list of checkout sessions.")
            }
            let next = list.hasMore ? list.data.last.map { "sessions:\($0.id)" } : "refunds:"
            return ProviderRecordPage(records: list.data.map(Self.record(session:)), nextCursor: next ?? "refunds:")
        }
        guard let list = try? JSONDecoder().decode(StripeList<StripeRefund>.self, from: Data(bytes)) else {
            throw ProviderError(.unavailable, "Stripe answered with something that is not a list of refunds.")
        }
        return ProviderRecordPage(records: list.data.map(Self.record(refund:)), nextCursor: list.hasMore ? list.data.last.map { "refunds:\($0.id)" } : nil)
    }

    static func split(_ cursor: String?) -> (phase: String, after: String?) {
        guard let cursor, let colon = cursor.firstIndex(of: ":") else { return ("sessions", nil) }
        let after = String(cursor[cursor.index(after: colon)...])
        return (String(cursor[..<colon]), after.isEmpty ? nil : after)
    }

    /// `created[lt]` in whole seconds that still admits a session created in the window's last fraction of a second
    /// (Settle compares the window in milliseconds, Stripe in seconds; Settle matches the edges by id).
    static func secondsCeiling(_ date: Date) -> Int64 {
        let seconds = UnixTime.seconds(date)
        return Date(timeIntervalSince1970: TimeInterval(seconds)) < date ? seconds + 1 : seconds
    }

    static func amount(_ stripeAmount: Int64?, _ code: String?) -> Int64? {
        guard let stripeAmount, let code, let currency = Currency.lookup(code) else { return nil }
        return StripeCurrency.minorUnits(stripeAmount: stripeAmount, currency: currency)
    }

    static func record(session: StripeListedSession) -> ProviderRecord {
        let status: ReconciledStatus =
            switch (session.status, session.paymentStatus) {
            case ("complete", "paid"): .succeeded
            case ("complete", _): .processing
            case ("expired", _): .expired
            default: .open
            }
        var fee: Int64?
        var net: Int64?
        if let balance = session.paymentIntent?.latestCharge?.balanceTransaction, balance.currency?.lowercased() == session.currency?.lowercased() {
            fee = amount(balance.fee, balance.currency)
            net = amount(balance.net, balance.currency)
        }
        return ProviderRecord(
            object: .payment, providerID: session.id, paymentID: session.clientReferenceID ?? session.metadata?["settle_payment_id"],
            providerPaymentID: session.paymentIntent?.id, status: status, amount: amount(session.amountTotal, session.currency),
            currency: session.currency?.uppercased(), fee: fee, net: net
        )
    }

    static func record(refund: StripeRefund) -> ProviderRecord {
        let status: ReconciledStatus =
            switch refund.status {
            case "succeeded": .succeeded
            case "failed": .failed
            case "canceled": .canceled
            default: .processing
            }
        return ProviderRecord(
            object: .refund, providerID: refund.id, paymentID: refund.metadata?["settle_payment"], providerPaymentID: refund.paymentIntent,
            refundID: refund.metadata?["settle_refund"], status: status, amount: amount(refund.amount, refund.currency),
            currency: refund.currency?.uppercased()
        )
    }
}

struct StripeList<Item: Decodable & Sendable>: Decodable, Sendable {
    var data: [Item]
    var hasMore: Bool

    enum CodingKeys: String, CodingKey {
        case data
        case hasMore = "has_more"
    }
}

/// A listed session with its payment intent expanded down to the balance transaction.
struct StripeListedSession: Decodable, Sendable {
    struct Intent: Decodable, Sendable {
        struct Charge: Decodable, Sendable {
            var balanceTransaction: Balance?
            enum CodingKeys: String, CodingKey { case balanceTransaction = "balance_transaction" }
            init(from decoder: any Decoder) throws {
                let container = try decoder.container(keyedBy: CodingKeys.self)
                balanceTransaction = try? container.decodeIfPresent(Balance.self, forKey: .balanceTransaction)
            }
        }
        var id: String
        var latestCharge: Charge?
        enum CodingKeys: String, CodingKey {
            case id
            case latestCharge = "latest_charge"
        }
        init(from decoder: any Decoder) throws {
            // Not expanded: the id alone.
            if let id = try? decoder.singleValueContainer().decode(String.self) {
                self.id = id
                latestCharge = nil
                return
            }
            let container = try decoder.container(keyedBy: CodingKeys.self)
            id = try container.decode(String.self, forKey: .id)
            latestCharge = try? container.decodeIfPresent(Charge.self, forKey: .latestCharge)
        }
    }
    struct Balance: Decodable, Sendable {
        var fee: Int64?
        var net: Int64?
        var currency: String?
    }

    var id: String
    var status: String?
    var paymentStatus: String?
    var amountTotal: Int64?
    var currency: String?
    var clientReferenceID: String?
    var metadata: [String: String]?
    var paymentIntent: Intent?

    enum CodingKeys: String, CodingKey {
        case id, status, currency, metadata
        case paymentStatus = "payment_status"
        case amountTotal = "amount_total"
        case clientReferenceID = "client_reference_id"
        case paymentIntent = "payment_intent"
    }
}
