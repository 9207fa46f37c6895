import Crypto
import Foundation
import SettleCore

/// A settlement file as stored: the raw bytes, their SHA-256, and the report of what each line led to.
public struct StoredSettlementImport: Sendable, Hashable {
    public var id: String
    public var provider: String
    /// The payments its lines could settle: an API key's mode, or the inbox's.
    public var mode: Mode
    public var sha256: String
    public var filename: String?
    /// `api`, `cli` or `inbox`.
    public var source: String
    /// The API key or operator that imported it.
    public var actor: String?
    public var size: Int64
    public var lines: Int64
    /// The report, as the API shows it.
    public var report: JSONValue
    public var importedAt: Date

    public init(
        id: String, provider: String, mode: Mode, sha256: String, filename: String?, source: String, actor: String?, size: Int64,
        lines: Int64, report: JSONValue, importedAt: Date
    ) {
        self.id = id
        self.provider = provider
        self.mode = mode
        self.sha256 = sha256
        self.filename = filename
        self.source = source
        self.actor = actor
        self.size = size
        self.lines = lines
        self.report = report
        self.importedAt = importedAt
    }
}

extension StoreTransaction {
    /// Reserves a voucher reference for a payment; false when the provider already has it (a collision).
    public func reserveVoucherReference(provider: String, reference: String, paymentID: String, at: Date) async throws -> Bool {
        let rows = try await query(
            """
            INSERT INTO voucher_references (provider, reference, payment_id, created_at)
            VALUES (\(provider), \(reference), \(paymentID), \(UnixTime.milliseconds(at)))
            ON CONFLICT (provider, reference) DO NOTHING
            RETURNING reference
            """
        )
        return !rows.isEmpty
    }

    /// Stores an imported file with its report; false when a file with the same SHA-256 was stored first (by another
    /// instance importing it at the same moment).
    public func insertSettlementImport(_ stored: StoredSettlementImport, body: [UInt8]) async throws -> Bool {
        let rows = try await query(
            """
            INSERT INTO settlement_imports (id, provider, mode, sha256, filename, source, actor, size, body, lines, report, imported_at)
            VALUES (\(stored.id), \(stored.provider), \(stored.mode.rawValue), \(stored.sha256), \(stored.filename), \(stored.source),
                \(stored.actor), \(stored.size), \(body), \(stored.lines), \(stored.report.serialized()),
                \(UnixTime.milliseconds(stored.importedAt)))
            ON CONFLICT (provider, mode, sha256) DO NOTHING
            RETURNING id
            """
        )
        return !rows.isEmpty
    }

    /// The payment a stored notification names (the owner of a receipt number), if the notification exists.
    public func notificationPayment(provider: String, providerEventID: String) async throws -> String?? {
        let rows = try await query(
            "SELECT payment_id FROM notifications WHERE provider = \(provider) AND provider_event_id = \(providerEventID)"
        )
        guard let row = rows.first else { return nil }
        return .some(try row.optionalString("payment_id"))
    }

    public func settlementImport(provider: String, mode: Mode, sha256: String) async throws -> StoredSettlementImport? {
        try await query(
            "SELECT id, provider, mode, sha256, filename, source, actor, size, lines, report, imported_at FROM settlement_imports WHERE provider = \(provider) AND mode = \(mode.rawValue) AND sha256 = \(sha256)"
        ).first.map(StoredSettlementImport.init(row:))
    }
}

extension Store {
    public func settlementImport(id: String) async throws -> StoredSettlementImport? {
        try await read { connection in
            try await connection.query(
                "SELECT id, provider, mode, sha256, filename, source, actor, size, lines, report, imported_at FROM settlement_imports WHERE id = \(id)"
            ).first.map(StoredSettlementImport.init(row:))
        }
    }

    public func settlementImport(provider: String, mode: Mode, sha256: String) async throws -> StoredSettlementImport? {
        try await read { connection in
            try await connection.query(
                "SELECT id, provider, mode, sha256, filename, source, actor, size, lines, report, imported_at FROM settlement_imports WHERE provider = \(provider) AND mode = \(mode.rawValue) AND sha256 = \(sha256)"
            ).first.map(StoredSettlementImport.init(row:))
        }
    }

    /// Open vouchers of one provider and mode (payments still waiting for the buyer), oldest first, created at or
    /// after `since`.
    public func openVoucherPayments(provider: String, mode: Mode, since: Date?, limit: Int = 100_000) async throws -> [Payment] {
        try await read { connection in
            try await connection.query(
                """
                SELECT * FROM payments WHERE provider = \(provider) AND mode = \(mode.rawValue) AND status = 'requires_action'
                    AND voucher IS NOT NULL AND created_at >= \(since.map(UnixTime.milliseconds) ?? 0)
                ORDER BY created_at, id LIMIT \(Int64(limit))
                """
            ).map(Payment.init(row:))
        }
    }
}

extension StoredSettlementImport {
    init(row: SQLRow) throws {
        let report = (try? JSONValue.parse(Array(try row.string("report").utf8))) ?? .null
        self.init(
            id: try row.string("id"), provider: try row.string("provider"), mode: Mode(rawValue: try row.string("mode")) ?? .live,
            sha256: try row.string("sha256"),
            filename: try row.optionalString("filename"), source: try row.string("source"), actor: try row.optionalString("actor"),
            size: try row.int("size"), lines: try row.int("lines"), report: report,
            importedAt: UnixTime.date(milliseconds: try row.int("imported_at"))
        )
    }
}
