import Foundation
import Testing

@testable import SettleCore
@testable import SettleProviders

/// The comparison behind reconciliation, every case listed with its expected class.
@Suite struct ReconcilerTests {
    func side(_ status: ReconciledStatus, _ amount: Int64? = 1000, _ currency: String? = "COP") -> ReconciledSide {
        ReconciledSide(status: status, amount: amount, currency: currency)
    }

    @Test func classes() {
        let cases: [(ReconciledSide?, ReconciledSide?, ReconciliationClass)] = [
            (side(.succeeded), side(.succeeded), .matched),
            (side(.succeeded), side(.succeeded, 1000, "cop"), .matched),
            (side(.failed), side(.failed), .matched),
            (side(.failed), side(.canceled), .matched),  // unpaid on both sides
            (side(.expired), side(.open), .matched),  // Settle closed it, the provider's checkout lapses
            (side(.canceled), side(.processing), .statusMismatch),  // the provider may still take the money
            (side(.failed), side(.processing), .statusMismatch),
            (side(.open), side(.processing), .matched),
            (side(.processing), side(.open), .matched),
            (side(.open), side(.succeeded), .statusMismatch),
            (side(.open), side(.failed), .statusMismatch),
            (side(.succeeded), side(.failed), .statusMismatch),
            (side(.succeeded), side(.open), .statusMismatch),
            (side(.expired), side(.succeeded), .statusMismatch),
            (side(.requiresReview), side(.succeeded), .statusMismatch),
            (side(.requiresReview), side(.requiresReview), .statusMismatch),
            (side(.succeeded), side(.succeeded, 999), .amountMismatch),
            (side(.succeeded), side(.succeeded, nil), .amountMismatch),  // not convertible exactly
            (side(.open), side(.failed, 999), .amountMismatch),
            (side(.succeeded), side(.succeeded, 999, "USD"), .currencyMismatch),  // currency before amount
            (side(.succeeded), side(.succeeded, 1000, nil), .currencyMismatch),
            (nil, side(.succeeded), .missingInSettle),
            (side(.succeeded), nil, .missingAtProvider),
            (side(.open), nil, .missingAtProvider),
        ]
        for (settle, provider, expected) in cases {
            #expect(Reconciler.classify(settle: settle, provider: provider) == expected, "\(String(describing: settle)) vs \(String(describing: provider))")
        }
        // A payment the provider never knew of (nothing named it, no money moved) agrees with its having no record.
        #expect(Reconciler.classify(settle: side(.expired), provider: nil, reachedProvider: false) == .matched)
        #expect(Reconciler.classify(settle: side(.open), provider: nil, reachedProvider: false) == .matched)
    }

    @Test func whatMayBeApplied() {
        let cases: [(ReconciliationClass, ReconciledObject, ReconciledSide?, Bool)] = [
            (.statusMismatch, .payment, side(.succeeded), true),
            (.statusMismatch, .payment, side(.failed), true),
            (.statusMismatch, .payment, side(.expired), true),
            (.statusMismatch, .payment, side(.processing), false),  // not final at the provider
            (.statusMismatch, .payment, side(.open), false),
            (.statusMismatch, .refund, side(.succeeded), true),
            (.amountMismatch, .payment, side(.succeeded, 5), true),  // goes to review
            (.currencyMismatch, .payment, side(.succeeded), true),
            (.amountMismatch, .payment, side(.failed, 5), false),
            (.amountMismatch, .refund, side(.succeeded, 5), false),
            (.missingInSettle, .payment, side(.succeeded), false),
            (.missingInSettle, .refund, side(.succeeded), true),  // a dashboard refund, applied only in full
            (.missingInSettle, .refund, side(.failed), false),
            (.missingAtProvider, .payment, nil, false),
            (.matched, .payment, side(.succeeded), false),
        ]
        for (kind, object, provider, expected) in cases {
            #expect(Reconciler.isApplicable(kind, object: object, provider: provider) == expected, "\(kind) \(object) \(String(describing: provider))")
        }
    }

    @Test func settleStatusesInSharedWords() {
        #expect(PaymentStatus.allCases.map { ReconciledStatus($0).rawValue } == PaymentStatus.allCases.map {
            switch $0 {
            case .requiresAction: "open"
            case .processing: "processing"
            case .succeeded: "succeeded"
            case .failed: "failed"
            case .canceled: "canceled"
            case .expired: "expired"
            case .requiresReview: "requires_review"
            }
        })
        #expect(ReconciledStatus(RefundStatus.pending) == .processing && ReconciledStatus(RefundStatus.requiresAction) == .open)
    }
}

/// Stripe's lists, read from bytes written by hand in the shape of Stripe's API reference (a list object with
/// `has_more`; a session with its payment intent expanded to the balance transaction; a refund).
@Suite struct StripeReconciliationTests {
    @Test func sessionsList() throws {
        let body = #"""
            {"object":"list","url":"/v1/checkout/sessions","has_more":true,"data":[
              {"id":"cs_test_a1","object":"checkout.session","amount_total":150000,"currency":"cop","status":"complete",
               "payment_status":"paid","client_reference_id":"pay_A1","metadata":{"settle_payment_id":"pay_A1"},
               "payment_intent":{"id":"pi_3A1","object":"payment_intent","latest_charge":{"id":"ch_3A1","object":"charge",
                 "balance_transaction":{"id":"txn_3A1","object":"balance_transaction","amount":150000,"currency":"cop","fee":4380,"net":145620}}}},
              {"id":"cs_test_b2","object":"checkout.session","amount_total":1999,"currency":"usd","status":"open",
               "payment_status":"unpaid","client_reference_id":null,"metadata":{},"payment_intent":null},
              {"id":"cs_test_c3","object":"checkout.session","amount_total":500,"currency":"jpy","status":"expired",
               "payment_status":"unpaid","client_reference_id":"pay_C3","metadata":{},"payment_intent":"pi_3C3"}
            ]}
            """#
        let list = try JSONDecoder().decode(StripeList<StripeListedSession>.self, from: Data(body.utf8))
        #expect(list.hasMore)
        let records = list.data.map(StripeProvider.record(session:))
        #expect(records == [
            ProviderRecord(
                object: .payment, providerID: "cs_test_a1", paymentID: "pay_A1", providerPaymentID: "pi_3A1", status: .succeeded, amount: 150000,
                currency: "COP", fee: 4380, net: 145620
            ),
            ProviderRecord(object: .payment, providerID: "cs_test_b2", paymentID: nil, status: .open, amount: 1999, currency: "USD"),
            ProviderRecord(object: .payment, providerID: "cs_test_c3", paymentID: "pay_C3", providerPaymentID: "pi_3C3", status: .expired, amount: 500, currency: "JPY"),
        ])
        #expect(StripeProvider.split("sessions:cs_test_c3") == ("sessions", "cs_test_c3"))
        #expect(StripeProvider.split("refunds:") == ("refunds", nil))
        #expect(StripeProvider.split(nil) == ("sessions", nil))
        #expect(StripeProvider.secondsCeiling(Date(timeIntervalSince1970: 100.25)) == 101)
        #expect(StripeProvider.secondsCeiling(Date(timeIntervalSince1970: 100)) == 100)
    }

    @Test func refundsList() throws {
        let body = #"""
            {"object":"list","url":"/v1/refunds","has_more":false,"data":[
              {"id":"re_3A1","object":"refund","amount":50000,"currency":"cop","status":"succeeded","payment_intent":"pi_3A1",
               "metadata":{"settle_payment":"pay_A1","settle_refund":"re_S1"},"reason":"requested_by_customer","created":1764547200},
              {"id":"re_3A2","object":"refund","amount":100,"currency":"cop","status":"pending","payment_intent":"pi_3A1","metadata":{}},
              {"id":"re_3A3","object":"refund","amount":100,"currency":"cop","status":"requires_action","payment_intent":"pi_3A1","metadata":{}},
              {"id":"re_3A4","object":"refund","amount":100,"currency":"cop","status":"canceled","payment_intent":"pi_3A1","metadata":{}}
            ]}
            """#
        let list = try JSONDecoder().decode(StripeList<StripeRefund>.self, from: Data(body.utf8))
        #expect(list.data.map(StripeProvider.record(refund:)) == [
            ProviderRecord(
                object: .refund, providerID: "re_3A1", paymentID: "pay_A1", providerPaymentID: "pi_3A1", refundID: "re_S1", status: .succeeded,
                amount: 50000, currency: "COP"
            ),
            ProviderRecord(object: .refund, providerID: "re_3A2", paymentID: nil, providerPaymentID: "pi_3A1", status: .processing, amount: 100, currency: "COP"),
            ProviderRecord(object: .refund, providerID: "re_3A3", paymentID: nil, providerPaymentID: "pi_3A1", status: .processing, amount: 100, currency: "COP"),
            ProviderRecord(object: .refund, providerID: "re_3A4", paymentID: nil, providerPaymentID: "pi_3A1", status: .canceled, amount: 100, currency: "COP"),
        ])
    }
}

/// Payme's Merchant API transactions as its records (`GetStatement`'s states: 1 created, 2 performed, -1 cancelled,
/// -2 cancelled after performing).
@Suite struct PaymeReconciliationTests {
    func transaction(_ id: String, state: Int, amount: Int64 = 500_000) -> ProviderTransaction {
        ProviderTransaction(
            id: "ptx_\(id)", provider: "payme", providerTransactionID: id, paymentID: "pay_1", state: state, amount: amount, providerTime: 1,
            createTime: 1
        )
    }

    @Test func states() {
        #expect(PaymeProvider.records([transaction("a", state: 2)], paymentID: "pay_1") == [
            ProviderRecord(object: .payment, providerID: "a", paymentID: "pay_1", status: .succeeded, amount: 500_000, currency: "UZS")
        ])
        #expect(PaymeProvider.records([transaction("a", state: -1), transaction("b", state: -2)], paymentID: "pay_1") == [
            ProviderRecord(object: .payment, providerID: "b", paymentID: "pay_1", status: .succeeded, amount: 500_000, currency: "UZS"),
            ProviderRecord(object: .refund, providerID: "b", paymentID: "pay_1", status: .succeeded, amount: 500_000, currency: "UZS"),
        ])
        #expect(PaymeProvider.records([transaction("a", state: -1), transaction("b", state: 1)], paymentID: "pay_1") == [
            ProviderRecord(object: .payment, providerID: "b", paymentID: "pay_1", status: .processing, amount: 500_000, currency: "UZS")
        ])
        #expect(PaymeProvider.records([transaction("a", state: -1)], paymentID: "pay_1") == [
            ProviderRecord(object: .payment, providerID: "a", paymentID: "pay_1", status: .canceled, amount: 500_000, currency: "UZS")
        ])
        #expect(PaymeProvider.records([], paymentID: "pay_1").isEmpty)
    }
}
