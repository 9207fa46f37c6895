import Foundation
import SettleCore

extension StoreTransaction {
    public func insertPayment(_ payment: Payment) async throws {
        let customer = try payment.customer.map { String(decoding: try JSONEncoder().encode($0), as: UTF8.self) }
        try await query(
            """
            INSERT INTO payments (id, mode, status, amount, currency, provider, reference, description, customer,
                return_url, cancel_url, metadata, payment_method, checkout_url, provider_payment_id, failure_code, failure_message,
                expires_at, created_at, updated_at, wallet_id)
            VALUES (\(payment.id), \(payment.mode.rawValue), \(payment.status.rawValue), \(payment.amount.minorUnits),
                \(payment.amount.currency.code), \(payment.provider), \(payment.reference), \(payment.description),
                \(customer), \(payment.returnURL), \(payment.cancelURL), \(JSONValue.stringMap(payment.metadata).serialized()),
                \(payment.paymentMethod.map { $0.apiObject.serialized() }),
                \(payment.checkoutURL), \(payment.providerPaymentID), \(payment.failure?.code), \(payment.failure?.message),
                \(payment.expiresAt.map(UnixTime.milliseconds)), \(UnixTime.milliseconds(payment.createdAt)),
                \(UnixTime.milliseconds(payment.updatedAt)), \(payment.walletID))
            """
        )
    }

    /// Reads a payment and, on PostgreSQL, locks its row until the transaction ends.
    public func lockPayment(id: String) async throws -> Payment? {
        try await query("SELECT * FROM payments WHERE id = \(id)\(raw: forUpdate)").first.map(Payment.init(row:))
    }

    /// Reads a payment by the provider's id and locks it.
    public func lockPayment(provider: String, providerPaymentID: String) async throws -> Payment? {
        try await query(
            "SELECT * FROM payments WHERE provider = \(provider) AND provider_payment_id = \(providerPaymentID)\(raw: forUpdate)"
        ).first.map(Payment.init(row:))
    }

    /// Compare-and-set of the status: returns false (and changes nothing) if the status is no longer `from`.
    public func updatePaymentStatus(id: String, from: PaymentStatus, to: PaymentStatus, failure: PaymentFailure?, at: Date)
        async throws -> Bool
    {
        let rows = try await query(
            """
            UPDATE payments SET status = \(to.rawValue), failure_code = COALESCE(\(failure?.code), failure_code),
                failure_message = COALESCE(\(failure?.message), failure_message), updated_at = \(UnixTime.milliseconds(at))
            WHERE id = \(id) AND status = \(from.rawValue) RETURNING id
            """
        )
        return !rows.isEmpty
    }

    /// Records what the provider created: its id, the buyer's link, a cash voucher, and the payment's expiry when the
    /// provider gives one (a voucher's: the payment expires when its voucher does).
    public func attachProvider(
        paymentID: String, providerPaymentID: String?, checkoutURL: String?, voucher: Voucher? = nil, expiresAt: Date? = nil, at: Date
    ) async throws {
        try await query(
            """
            UPDATE payments SET provider_payment_id = \(providerPaymentID), checkout_url = \(checkoutURL),
                voucher = \(voucher?.stored), expires_at = COALESCE(\(expiresAt.map(UnixTime.milliseconds)), expires_at),
                updated_at = \(UnixTime.milliseconds(at))
            WHERE id = \(paymentID)
            """
        )
    }

    /// Records the provider's id for a payment that had none (learnt on the buyer's return or by the sweep).
    public func learnProviderPaymentID(paymentID: String, providerPaymentID: String) async throws {
        try await query(
            "UPDATE payments SET provider_payment_id = \(providerPaymentID) WHERE id = \(paymentID) AND provider_payment_id IS NULL"
        )
    }

    /// Writes a merchant-facing event (`payment.succeeded`, …) carrying the payment as the API shows it, and
    /// queues it for every endpoint that receives its type — in this same transaction.
    @discardableResult
    public func insertEvent(type eventType: EventType, payment: Payment, at: Date) async throws -> String {
        let type = eventType.rawValue
        let id = Identifier.make("evt")
        let data = JSONValue.object([("object", payment.apiObject)]).serialized()
        try await query(
            """
            INSERT INTO events (id, mode, type, payment_id, data, created_at)
            VALUES (\(id), \(payment.mode.rawValue), \(type), \(payment.id), \(data), \(UnixTime.milliseconds(at)))
            """
        )
        try await fanOut(eventID: id, type: type, mode: payment.mode, at: at)
        return id
    }
}

extension Store {
    /// A payment in any mode (the sweep, and pages that carry a token bound to the payment).
    public func payment(id: String) async throws -> Payment? {
        try await read { connection in
            try await connection.query("SELECT * FROM payments WHERE id = \(id)").first.map(Payment.init(row:))
        }
    }

    /// Payments past their `expires_at` that have not reached a final status, the longest overdue first.
    public func overduePayments(at: Date, limit: Int, after: (expiresAt: Date, id: String)? = nil) async throws -> [Payment] {
        let afterTime = after.map { UnixTime.milliseconds($0.expiresAt) } ?? -1
        let afterID = after?.id ?? ""
        return try await read { connection in
            try await connection.query(
                """
                SELECT * FROM payments WHERE status IN ('requires_action', 'processing')
                AND expires_at IS NOT NULL AND expires_at <= \(UnixTime.milliseconds(at))
                AND (expires_at > \(afterTime) OR (expires_at = \(afterTime) AND id > \(afterID)))
                ORDER BY expires_at, id LIMIT \(limit)
                """
            ).map(Payment.init(row:))
        }
    }

    /// Ids of a provider's open payments to ask it about at `now`: unchanged since `quietBefore`, and not asked since
    /// `polledBefore` nor within the last quarter of the payment's age (so an abandoned payment is asked about a few
    /// dozen times over a day, not every few minutes): never asked first, then those asked longest ago.
    /// ``markPolled(_:at:)`` records the asking.
    public func pollablePaymentIDs(provider: String, now: Date, quietBefore: Date, polledBefore: Date, limit: Int) async throws -> [String] {
        let at = UnixTime.milliseconds(now)
        return try await read { connection in
            try await connection.query(
                """
                SELECT id FROM payments WHERE provider = \(provider) AND status IN ('requires_action', 'processing')
                AND updated_at <= \(UnixTime.milliseconds(quietBefore))
                AND (polled_at IS NULL OR (polled_at <= \(UnixTime.milliseconds(polledBefore)) AND polled_at * 4 <= 3 * \(at) + created_at))
                ORDER BY COALESCE(polled_at, 0), updated_at LIMIT \(limit)
                """
            ).map { try $0.string("id") }
        }
    }

    /// Records that the sweep asked the provider about these payments.
    public func markPolled(_ ids: [String], at: Date) async throws {
        guard !ids.isEmpty else { return }
        try await write { tx in
            var list: SQL = ""
            for (index, id) in ids.enumerated() { list = list + (index == 0 ? "" : ",") + "\(id)" }
            try await tx.query("UPDATE payments SET polled_at = \(UnixTime.milliseconds(at)) WHERE id IN (\(list))")
        }
    }

    public func payment(id: String, mode: Mode) async throws -> Payment? {
        try await read { connection in
            try await connection.query("SELECT * FROM payments WHERE id = \(id) AND mode = \(mode.rawValue)")
                .first.map(Payment.init(row:))
        }
    }

    /// Newest first; `startingAfter` continues after that payment. Returns the page and whether more exist.
    public func payments(_ filter: PaymentFilter) async throws -> (payments: [Payment], hasMore: Bool) {
        try await read { connection in
            var sql: SQL = "SELECT * FROM payments WHERE mode = \(filter.mode.rawValue)"
            if let reference = filter.reference { sql = sql + " AND reference = \(reference)" }
            if let status = filter.status { sql = sql + " AND status = \(status.rawValue)" }
            if let provider = filter.provider { sql = sql + " AND provider = \(provider)" }
            if let cursor = filter.startingAfter {
                sql = sql + " AND seq < (SELECT seq FROM payments WHERE id = \(cursor))"
            }
            sql = sql + " ORDER BY seq DESC LIMIT \(filter.limit + 1)"
            let rows = try await connection.query(sql)
            let payments = try rows.prefix(filter.limit).map(Payment.init(row:))
            return (payments, rows.count > filter.limit)
        }
    }

    /// Whether a payment with this id exists in this mode (for cursor validation).
    public func paymentExists(id: String, mode: Mode) async throws -> Bool {
        try await read { connection in
            !(try await connection.query("SELECT 1 AS one FROM payments WHERE id = \(id) AND mode = \(mode.rawValue)")).isEmpty
        }
    }

    /// Every status change and every notification of a payment, in order.
    public func timeline(paymentID: String) async throws -> [TimelineEntry] {
        try await read { connection in
            let events = try await connection.query(
                "SELECT id, type, created_at, seq FROM events WHERE payment_id = \(paymentID) ORDER BY seq"
            ).map { row in
                TimelineEntry(
                    kind: .event, id: try row.string("id"), type: try row.string("type"), detail: nil,
                    at: UnixTime.date(milliseconds: try row.int("created_at"))
                )
            }
            let notifications = try await connection.query(
                "SELECT id, event_type, outcome, received_at FROM notifications WHERE payment_id = \(paymentID) ORDER BY seq"
            ).map { row in
                TimelineEntry(
                    kind: .notification, id: try row.string("id"), type: try row.string("event_type"),
                    detail: try row.string("outcome"), at: UnixTime.date(milliseconds: try row.int("received_at"))
                )
            }
            // Stable merge by time; within the same millisecond a notification precedes the change it caused.
            return (events + notifications).enumerated().sorted { a, b in
                if a.element.at != b.element.at { return a.element.at < b.element.at }
                if a.element.kind != b.element.kind { return a.element.kind == .notification }
                return a.offset < b.offset
            }.map(\.element)
        }
    }
}

extension Payment {
    init(row: SQLRow) throws {
        let currencyCode = try row.string("currency")
        guard let currency = Currency.lookup(currencyCode) else {
            throw StoreError(.decoding, "Stored payment has an unknown currency.")
        }
        guard let mode = Mode(rawValue: try row.string("mode")), let status = PaymentStatus(rawValue: try row.string("status"))
        else { throw StoreError(.decoding, "Stored payment has an unknown mode or status.") }
        let customer = try row.optionalString("customer").flatMap { try? JSONDecoder().decode(Customer.self, from: Data($0.utf8)) }
        let metadata = (try? JSONDecoder().decode([String: String].self, from: Data(try row.string("metadata").utf8))) ?? [:]
        let paymentMethod = try row.optionalString("payment_method").flatMap { text -> PaymentMethod? in
            guard case .object(let members)? = try? JSONValue.parse(Array(text.utf8)), let type = members.first(where: { $0.0 == "type" })?.1.stringValue
            else { return nil }
            var fields: [String: String] = [:]
            for (name, value) in members where name != "type" { fields[name] = value.stringValue }
            return PaymentMethod(type: type, fields: fields)
        }
        let failure: PaymentFailure? =
            if let code = try row.optionalString("failure_code") {
                PaymentFailure(code: code, message: try row.optionalString("failure_message") ?? "")
            } else { nil }
        self.init(
            id: try row.string("id"), mode: mode, status: status,
            amount: Money(minorUnits: try row.int("amount"), currency: currency), provider: try row.string("provider"),
            reference: try row.string("reference"), description: try row.optionalString("description"), customer: customer,
            returnURL: try row.optionalString("return_url"), cancelURL: try row.optionalString("cancel_url"),
            metadata: metadata, paymentMethod: paymentMethod, checkoutURL: try row.optionalString("checkout_url"),
            voucher: try row.optionalString("voucher").flatMap { Voucher(stored: $0) },
            providerPaymentID: try row.optionalString("provider_payment_id"), failure: failure,
            amountRefunded: try row.optionalInt("amount_refunded") ?? 0,
            fulfilledAt: try row.optionalInt("fulfilled_at").map(UnixTime.date(milliseconds:)),
            expiresAt: try row.optionalInt("expires_at").map(UnixTime.date(milliseconds:)),
            createdAt: UnixTime.date(milliseconds: try row.int("created_at")),
            updatedAt: UnixTime.date(milliseconds: try row.int("updated_at")),
            walletID: try row.optionalString("wallet_id")
        )
    }
}
