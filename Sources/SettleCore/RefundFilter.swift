/// Which refunds to list: one mode, optionally one payment and one status, newest first.
public struct RefundFilter: Sendable {
    public var mode: Mode
    public var paymentID: String?
    public var status: RefundStatus?
    public var limit: Int
    public var startingAfter: String?

    public init(mode: Mode, paymentID: String? = nil, status: RefundStatus? = nil, limit: Int = 10, startingAfter: String? = nil) {
        self.mode = mode
        self.paymentID = paymentID
        self.status = status
        self.limit = limit
        self.startingAfter = startingAfter
    }
}
