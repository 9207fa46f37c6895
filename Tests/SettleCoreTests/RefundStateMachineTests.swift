import Testing

@testable import SettleCore

/// Every (status, input) pair of the refund state machine, with the answer written out by hand.
@Suite struct RefundStateMachineTests {
    typealias Action = RefundStateMachine.Action
    static let inputs: [RefundStateMachine.Input] = [.providerPending, .providerSucceeded, .providerFailed, .noRefundAPI, .operatorConfirmed, .cancel]

    static let expected: [RefundStatus: [Action]] = [
        .pending: [
            .unchanged(reason: .duplicate), .move(to: .succeeded, reason: .reported), .move(to: .failed, reason: .reported),
            .move(to: .requiresAction, reason: .reported), .refuse(reason: .notWaitingForOperator), .move(to: .canceled, reason: .requested),
        ],
        .requiresAction: [
            .refuse(reason: .notWaitingForOperator), .move(to: .succeeded, reason: .reported), .move(to: .failed, reason: .reported),
            .unchanged(reason: .duplicate), .move(to: .succeeded, reason: .operatorConfirmed), .move(to: .canceled, reason: .requested),
        ],
        .succeeded: [
            .unchanged(reason: .staleReport), .unchanged(reason: .duplicate), .unchanged(reason: .staleReport),
            .refuse(reason: .alreadyFinal), .refuse(reason: .alreadyFinal), .refuse(reason: .alreadyFinal),
        ],
        .failed: [
            .unchanged(reason: .alreadyFinal), .move(to: .succeeded, reason: .reported), .unchanged(reason: .alreadyFinal),
            .refuse(reason: .alreadyFinal), .refuse(reason: .alreadyFinal), .refuse(reason: .alreadyFinal),
        ],
        .canceled: [
            .unchanged(reason: .alreadyFinal), .move(to: .succeeded, reason: .reported), .unchanged(reason: .alreadyFinal),
            .refuse(reason: .alreadyFinal), .refuse(reason: .alreadyFinal), .refuse(reason: .alreadyFinal),
        ],
    ]

    @Test(arguments: RefundStatus.allCases)
    func everyInputFromEveryStatus(_ status: RefundStatus) throws {
        let row = try #require(Self.expected[status])
        for (input, answer) in zip(Self.inputs, row) {
            #expect(RefundStateMachine.next(from: status, on: input) == answer, "\(status) on \(input)")
        }
    }

    @Test func whatHoldsTheAmount() {
        #expect(RefundStatus.allCases.filter(\.holdsAmount) == [.pending, .succeeded, .requiresAction])
        #expect(RefundStatus.allCases.filter(\.isFinal) == [.succeeded, .failed, .canceled])
    }
}
