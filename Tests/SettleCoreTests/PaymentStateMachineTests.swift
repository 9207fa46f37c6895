import Testing

@testable import SettleCore

@Suite struct PaymentStateMachineTests {
    static let open: [PaymentStatus] = [.requiresAction, .processing]

    typealias Action = PaymentStateMachine.Action

    /// Every (status, outcome, amount matches) combination, with the answer written out by hand: one row per status,
    /// the outcomes in the order processing, succeeded, failed, canceled, expired.
    static let expectedWhenAmountsMatch: [PaymentStatus: [Action]] = [
        .requiresAction: [
            .move(to: .processing, reason: .reported), .move(to: .succeeded, reason: .reported), .move(to: .failed, reason: .reported),
            .move(to: .canceled, reason: .reported), .move(to: .expired, reason: .reported),
        ],
        .processing: [
            .unchanged(reason: .duplicate), .move(to: .succeeded, reason: .reported), .move(to: .failed, reason: .reported),
            .move(to: .canceled, reason: .reported), .move(to: .expired, reason: .reported),
        ],
        .succeeded: [
            .unchanged(reason: .staleReport), .unchanged(reason: .duplicate), .unchanged(reason: .staleReport),
            .unchanged(reason: .staleReport), .unchanged(reason: .staleReport),
        ],
        .failed: [
            .unchanged(reason: .alreadyFinal), .move(to: .requiresReview, reason: .succeededAfterClose), .unchanged(reason: .duplicate),
            .unchanged(reason: .alreadyFinal), .unchanged(reason: .alreadyFinal),
        ],
        .canceled: [
            .unchanged(reason: .alreadyFinal), .move(to: .requiresReview, reason: .succeededAfterClose), .unchanged(reason: .alreadyFinal),
            .unchanged(reason: .duplicate), .unchanged(reason: .alreadyFinal),
        ],
        .expired: [
            .unchanged(reason: .alreadyFinal), .move(to: .requiresReview, reason: .succeededAfterClose), .unchanged(reason: .alreadyFinal),
            .unchanged(reason: .alreadyFinal), .unchanged(reason: .duplicate),
        ],
        .requiresReview: [
            .unchanged(reason: .underReview), .unchanged(reason: .underReview), .unchanged(reason: .underReview),
            .unchanged(reason: .underReview), .unchanged(reason: .underReview),
        ],
    ]

    /// The same, when the reported amount or currency differs from the payment's.
    static let expectedWhenAmountsDiffer: [PaymentStatus: [Action]] = [
        .requiresAction: Array(repeating: .move(to: .requiresReview, reason: .amountMismatch), count: 5),
        .processing: Array(repeating: .move(to: .requiresReview, reason: .amountMismatch), count: 5),
        .succeeded: expectedWhenAmountsMatch[.succeeded]!,
        .failed: expectedWhenAmountsMatch[.failed]!,
        .canceled: expectedWhenAmountsMatch[.canceled]!,
        .expired: expectedWhenAmountsMatch[.expired]!,
        .requiresReview: expectedWhenAmountsMatch[.requiresReview]!,
    ]

    static let outcomes: [ProviderOutcome] = [.processing, .succeeded, .failed, .canceled, .expired]

    @Test(arguments: PaymentStatus.allCases)
    func providerReportsFromEveryStatus(_ status: PaymentStatus) throws {
        #expect(Set(Self.outcomes) == Set(ProviderOutcome.allCases))
        for (matches, table) in [(true, Self.expectedWhenAmountsMatch), (false, Self.expectedWhenAmountsDiffer)] {
            let expected = try #require(table[status])
            for (outcome, answer) in zip(Self.outcomes, expected) {
                #expect(
                    PaymentStateMachine.next(from: status, on: .provider(outcome, amountMatches: matches)) == answer,
                    "\(status) + \(outcome) (matches: \(matches))"
                )
            }
        }
    }

    /// A provider that refuses to create a payment fails it, and only a payment it was asked to create.
    @Test func providerRefusingCreation() {
        #expect(PaymentStateMachine.next(from: .requiresAction, on: .providerRefusedCreation) == .move(to: .failed, reason: .providerRefused))
        for status in PaymentStatus.allCases where status != .requiresAction {
            #expect(PaymentStateMachine.next(from: status, on: .providerRefusedCreation) == .refuse(reason: .alreadyFinal), "\(status)")
        }
    }

    @Test func finalStatesNeverLeaveExceptToReview() {
        for status in PaymentStatus.allCases where status.isFinal {
            for outcome in ProviderOutcome.allCases {
                for matches in [true, false] {
                    if case .move(let to, _) = PaymentStateMachine.next(from: status, on: .provider(outcome, amountMatches: matches)) {
                        #expect(to == .requiresReview, "\(status) moved to \(to)")
                        #expect(outcome == .succeeded)
                    }
                }
            }
            #expect(PaymentStateMachine.next(from: status, on: .merchantCancel) == .refuse(reason: .alreadyFinal))
            #expect(PaymentStateMachine.next(from: status, on: .clockExpiry) == .unchanged(reason: .alreadyFinal))
        }
    }

    @Test(arguments: open)
    func merchantCancelAndExpiryBeforeFinal(_ status: PaymentStatus) {
        #expect(PaymentStateMachine.next(from: status, on: .merchantCancel) == .move(to: .canceled, reason: .merchantRequest))
        #expect(PaymentStateMachine.next(from: status, on: .clockExpiry) == .move(to: .expired, reason: .expiredByClock))
    }

    @Test func applyUpdatesStatusOnlyOnMove() {
        var machine = PaymentStateMachine(status: .requiresAction)
        #expect(machine.apply(.provider(.processing, amountMatches: true)) == .move(to: .processing, reason: .reported))
        #expect(machine.status == .processing)
        #expect(machine.apply(.provider(.succeeded, amountMatches: true)) == .move(to: .succeeded, reason: .reported))
        #expect(machine.apply(.provider(.succeeded, amountMatches: true)) == .unchanged(reason: .duplicate))
        #expect(machine.apply(.provider(.failed, amountMatches: true)) == .unchanged(reason: .staleReport))
        #expect(machine.status == .succeeded)
    }

    @Test func finalityAndEventTypes() {
        #expect(PaymentStatus.allCases.filter(\.isFinal) == [.succeeded, .failed, .canceled, .expired, .requiresReview])
        #expect(PaymentStatus.requiresReview.eventType.rawValue == "payment.requires_review")
    }

    /// Money taken after the payment's expiry: review from an open status, whatever the amount; from a closed one, as
    /// any late success.
    @Test func paidAfterExpiry() {
        let expected: [PaymentStatus: (Action, Action)] = [
            .requiresAction: (.move(to: .requiresReview, reason: .paidAfterExpiry), .move(to: .requiresReview, reason: .amountMismatch)),
            .processing: (.move(to: .requiresReview, reason: .paidAfterExpiry), .move(to: .requiresReview, reason: .amountMismatch)),
            .succeeded: (.unchanged(reason: .duplicate), .unchanged(reason: .duplicate)),
            .failed: (.move(to: .requiresReview, reason: .succeededAfterClose), .move(to: .requiresReview, reason: .succeededAfterClose)),
            .canceled: (.move(to: .requiresReview, reason: .succeededAfterClose), .move(to: .requiresReview, reason: .succeededAfterClose)),
            .expired: (.move(to: .requiresReview, reason: .succeededAfterClose), .move(to: .requiresReview, reason: .succeededAfterClose)),
            .requiresReview: (.unchanged(reason: .underReview), .unchanged(reason: .underReview)),
        ]
        for status in PaymentStatus.allCases {
            #expect(PaymentStateMachine.next(from: status, on: .paidAfterExpiry(amountMatches: true)) == expected[status]?.0, "\(status)")
            #expect(PaymentStateMachine.next(from: status, on: .paidAfterExpiry(amountMatches: false)) == expected[status]?.1, "\(status)")
        }
    }

    /// An operator's decision: only a payment under review moves, to what the operator says; every other status refuses.
    @Test func operatorResolution() {
        for status in PaymentStatus.allCases {
            let succeeded = PaymentStateMachine.next(from: status, on: .operatorResolution(succeeded: true))
            let failed = PaymentStateMachine.next(from: status, on: .operatorResolution(succeeded: false))
            if status == .requiresReview {
                #expect(succeeded == .move(to: .succeeded, reason: .operatorResolved))
                #expect(failed == .move(to: .failed, reason: .operatorResolved))
            } else {
                #expect(succeeded == .refuse(reason: .notUnderReview), "\(status)")
                #expect(failed == .refuse(reason: .notUnderReview), "\(status)")
            }
        }
    }
}
