import Testing

@testable import SettleCore

@Suite struct PaymentStateMachineTests {
    static let open: [PaymentStatus] = [.requiresAction, .processing]
    static let closed: [PaymentStatus] = [.failed, .canceled, .expired]

    /// Every (status, outcome, amount matches) combination against the table written out independently.
    @Test(arguments: PaymentStatus.allCases)
    func providerReportsFromEveryStatus(_ status: PaymentStatus) {
        for outcome in ProviderOutcome.allCases {
            for matches in [true, false] {
                let action = PaymentStateMachine.next(from: status, on: .provider(outcome, amountMatches: matches))
                let expected: PaymentStateMachine.Action
                switch status {
                case .requiresReview:
                    expected = .unchanged(reason: .underReview)
                case .requiresAction, .processing:
                    if !matches {
                        expected = .move(to: .requiresReview, reason: .amountMismatch)
                    } else if outcome.rawValue == status.rawValue {
                        expected = .unchanged(reason: .duplicate)
                    } else {
                        expected = .move(to: PaymentStatus(rawValue: outcome.rawValue)!, reason: .reported)
                    }
                case .succeeded:
                    expected = .unchanged(reason: outcome == .succeeded ? .duplicate : .staleReport)
                case .failed, .canceled, .expired:
                    if outcome == .succeeded {
                        expected = .move(to: .requiresReview, reason: .succeededAfterClose)
                    } else {
                        expected = .unchanged(reason: outcome.rawValue == status.rawValue ? .duplicate : .alreadyFinal)
                    }
                }
                #expect(action == expected, "\(status) + \(outcome) (matches: \(matches))")
            }
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
}
