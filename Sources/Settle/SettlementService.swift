import Crypto
import Foundation
import Logging
import SettleCore
import SettleProviders
import SettleStore

/// Cash payments a provider reports in files (Efecty's settlement file), or that an operator confirms.
///
/// An import parses the whole file first: a malformed file is refused whole, naming the line and the reason, and
/// nothing is stored or applied. A file already imported (same SHA-256) changes nothing and answers its first
/// report. Otherwise each line is applied through the same exactly-once path as a notification, keyed on its receipt
/// number (`receipt:<authorization>`), so a line that appears in two files, twice in one, or also in an operator's
/// confirmation changes the payment once. Lines go in transactions of ``chunk`` lines; the file (raw, with its
/// SHA-256) and its report are stored with the last one, so an import cut short is simply imported again.
public struct SettlementService: Sendable {
    public enum Source: String, Sendable {
        case api, cli, inbox
    }

    /// Lines per transaction.
    static let chunk = 500

    let store: Store
    let providers: ProviderRegistry
    let now: @Sendable () -> Date
    let logger: Logger

    public init(store: Store, providers: ProviderRegistry, now: @escaping @Sendable () -> Date = { Date() }, logger: Logger) {
        self.store = store
        self.providers = providers
        self.now = now
        self.logger = logger
    }

    /// The providers that report payments in files, enabled or not.
    public var fileProviders: [any SettlementFileProvider] { providers.all.compactMap { $0 as? any SettlementFileProvider } }

    func fileProvider(_ name: String) throws(SettleError) -> any SettlementFileProvider {
        guard let provider = providers.provider(named: name) as? any SettlementFileProvider else {
            throw SettleError(.providerNotFound, "Provider \(Text.echo(name, limit: 40)) takes no settlement files.")
        }
        guard provider.availability.isEnabled else {
            throw SettleError(.providerDisabled, "The \(name) provider is disabled.")
        }
        return provider
    }

    /// Imports one file. `mode`: the lines may only settle payments of this mode (an API key's); `nil` for the
    /// operator's own channels (the command line, the inbox). Returns the report and whether this call stored it.
    public func importFile(
        provider name: String, bytes: [UInt8], filename: String?, source: Source, actor: String?, mode: Mode?,
        progress: (@Sendable (_ done: Int, _ total: Int) -> Void)? = nil
    ) async throws(SettleError) -> (report: JSONValue, created: Bool) {
        let provider = try fileProvider(name)
        let lines: [SettlementLine]
        do {
            lines = try provider.parseSettlement(bytes)
        } catch {
            throw SettleError(.settlementFileInvalid, "The settlement file is refused, nothing was applied: \(error).", param: "file")
        }
        let sha256 = Hex.encode(SHA256.hash(data: bytes))
        if let earlier = try await store.fetch({ try await store.settlementImport(provider: name, sha256: sha256) }, logger: logger) {
            return (earlier.report, false)
        }
        let id = Identifier.make("stl")
        let at = now()
        var items: [JSONValue] = []
        var counts: [String: Int] = [:]
        var start = 0
        repeat {
            let batch = Array(lines[start..<min(start + Self.chunk, lines.count)])
            let results = try await store.perform({ tx in
                var results: [(SettlementLine, String, String?)] = []
                for line in batch {
                    results.append(try await Self.apply(line, provider: provider, importID: id, source: source, mode: mode, at: at, in: tx))
                }
                return results
            }, logger: logger)
            for (line, outcome, paymentID) in results {
                counts[outcome, default: 0] += 1
                items.append(
                    .object([
                        ("line", .int(Int64(line.line))), ("reference", .string(line.reference)), ("amount", .int(line.amountMinorUnits)),
                        ("authorization", .string(line.authorization)), ("paid_at", .int(UnixTime.seconds(line.paidAt))),
                        ("outcome", .string(outcome)), ("payment", .string(paymentID)),
                    ])
                )
            }
            start += batch.count
            progress?(start, lines.count)
        } while start < lines.count
        let report = JSONValue.object([
            ("id", .string(id)), ("object", .string("settlement_import")), ("provider", .string(name)), ("filename", .string(filename)),
            ("sha256", .string(sha256)), ("size", .int(Int64(bytes.count))), ("source", .string(source.rawValue)),
            ("lines", .int(Int64(lines.count))),
            ("counts", .object(Self.outcomes.map { ($0, .int(Int64(counts[$0] ?? 0))) })),
            ("items", .array(items)), ("imported_at", .int(UnixTime.seconds(at))),
        ])
        let stored = StoredSettlementImport(
            id: id, provider: name, sha256: sha256, filename: filename, source: source.rawValue, actor: actor, size: Int64(bytes.count),
            lines: Int64(lines.count), report: report, importedAt: at
        )
        let created = try await store.perform({ tx -> Bool in
            guard try await tx.insertSettlementImport(stored, body: bytes) else { return false }
            try await tx.appendAudit(
                AuditRecord(
                    actorKind: actor == nil ? .system : .apiKey, actorID: actor ?? "settlement_\(source.rawValue)", action: .settlementImported,
                    targetType: .settlementImport, targetID: id,
                    after: .object([("sha256", .string(sha256)), ("lines", .int(Int64(lines.count))), ("source", .string(source.rawValue))]),
                    requestID: nil, at: at
                )
            )
            return true
        }, logger: logger)
        if created { return (report, true) }
        // Another instance stored the same file a moment earlier; its lines and ours were applied once between us.
        let earlier = try await store.fetch({ try await store.settlementImport(provider: name, sha256: sha256) }, logger: logger)
        return (earlier?.report ?? report, false)
    }

    /// What a line can lead to, in the report's order.
    static let outcomes = ["succeeded", "requires_review", "duplicate", "already_paid", "payment_closed", "unknown_reference"]

    /// One line, in the caller's transaction: the voucher's payment locked, the line stored as a notification under its
    /// receipt number and applied, or reported when it names no voucher (of the allowed mode).
    static func apply(
        _ line: SettlementLine, provider: any SettlementFileProvider, importID: String, source: Source, mode: Mode?, at: Date,
        in tx: StoreTransaction
    ) async throws -> (SettlementLine, String, String?) {
        guard let payment = try await tx.lockPayment(provider: provider.name, providerPaymentID: line.reference), mode.map({ $0 == payment.mode }) ?? true
        else { return (line, "unknown_reference", nil) }
        let event = ProviderEvent(
            eventID: "receipt:\(line.authorization)", type: "settlement_line", target: .payment(id: payment.id), outcome: .succeeded,
            amountMinorUnits: line.amountMinorUnits, currencyCode: provider.settlementCurrency.code, occurredAt: line.paidAt
        )
        let raw = InboundNotification(
            provider: provider.name, method: "FILE", contentType: "text/csv",
            headers: ["x-settle-settlement": importID, "x-settle-line": String(line.line), "x-settle-source": source.rawValue],
            body: Array(Self.csvLine(line).utf8), receivedAt: at
        )
        let outcome = try await NotificationIngestor.apply(event, provider: provider.name, raw: raw, requestID: nil, in: tx)
        return (line, Self.word(outcome), payment.id)
    }

    /// A line as it is stored with its notification: the documented columns, in order.
    static func csvLine(_ line: SettlementLine) -> String {
        let formatter = ISO8601DateFormatter()
        let place = (line.pointOfSale ?? "").replacingOccurrences(of: "\"", with: "\"\"")
        return "\(line.reference),\(line.amountMinorUnits / 100),\(formatter.string(from: line.paidAt)),\(line.authorization),\"\(place)\""
    }

    /// A line's outcome in the report's words.
    static func word(_ outcome: IngestOutcome) -> String {
        switch outcome {
        case .applied(_, let status): status == .requiresReview ? "requires_review" : status == .succeeded ? "succeeded" : status.rawValue
        case .unchanged(_, let reason):
            switch reason {
            case PaymentStateMachine.Reason.duplicate.rawValue: "already_paid"
            case PaymentStateMachine.Reason.underReview.rawValue: "requires_review"
            default: "payment_closed"
            }
        case .duplicate: "duplicate"
        case .unmatched: "unknown_reference"
        case .ignored, .refunded: "payment_closed"
        }
    }

    /// A stored import's report; not found for another provider's or an unknown id.
    public func report(provider: String, id: String) async throws(SettleError) -> JSONValue {
        let found = try await store.fetch({ try await store.settlementImport(id: id) }, logger: logger)
        guard let found, found.provider == provider else { throw SettleError.notFound(.settlementImport, id: id) }
        return found.report
    }

    // MARK: - Open vouchers

    /// The open vouchers of a provider and mode, for agreements where the network loads the merchant's list:
    /// `reference,amount,expires_at` (whole pesos; Colombia's time), oldest first.
    public func openVouchersCSV(provider name: String, mode: Mode, since: Date?) async throws(SettleError) -> String {
        let provider = try fileProvider(name)
        let payments = try await store.fetch({ try await store.openVoucherPayments(provider: provider.name, mode: mode, since: since) }, logger: logger)
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = TimeZone(secondsFromGMT: -5 * 3600)
        var out = "reference,amount,expires_at\n"
        for payment in payments {
            guard let voucher = payment.voucher else { continue }
            let expiry = voucher.expiresAt ?? payment.expiresAt
            out += "\(voucher.reference),\(payment.amount.minorUnits / 100),\(expiry.map { formatter.string(from: $0) } ?? "")\n"
        }
        return out
    }

    // MARK: - An operator's confirmation

    /// An operator saw the cash receipt: the payment succeeds through the same path as a settlement line with that
    /// receipt number (so the line, when the file comes, changes nothing, and the same receipt twice changes nothing).
    /// The amount must be the payment's; the caller's key is the actor of the change.
    public func confirmCash(paymentID: String, receiptNumber: String, paidAt: Date, amount: Int64, caller: Caller) async throws(SettleError) -> Payment {
        guard (1...40).contains(receiptNumber.utf8.count),
            receiptNumber.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x41...0x5A).contains($0) || (0x61...0x7A).contains($0) || $0 == 0x2D })
        else { throw SettleError.invalid("receipt_number", "receipt_number must be 1 to 40 letters, digits or dashes.") }
        guard paidAt <= now().addingTimeInterval(300) else { throw SettleError.invalid("paid_at", "paid_at is in the future.") }
        let logger = self.logger
        let at = now()
        return try await store.perform({ tx -> Payment in
            guard let payment = try await tx.lockPayment(id: paymentID), payment.mode == caller.mode else {
                throw SettleError.notFound(.payment, id: paymentID)
            }
            guard let provider = self.providers.provider(named: payment.provider) as? any SettlementFileProvider, payment.voucher != nil else {
                throw SettleError(.paymentNotConfirmable, "Payment \(paymentID) is not a cash voucher Settle confirms.")
            }
            guard amount == payment.amount.minorUnits else {
                throw SettleError(
                    .amountMismatch, "amount \(amount) is not the payment's \(payment.amount.minorUnits); nothing was changed.", param: "amount"
                )
            }
            let event = ProviderEvent(
                eventID: "receipt:\(receiptNumber)", type: "operator_confirmation", target: .payment(id: payment.id), outcome: .succeeded,
                amountMinorUnits: amount, currencyCode: provider.settlementCurrency.code, occurredAt: paidAt
            )
            let raw = InboundNotification(
                provider: provider.name, method: "POST", contentType: "application/json", headers: ["x-settle-api-key": caller.apiKeyID],
                body: JSONValue.object([
                    ("receipt_number", .string(receiptNumber)), ("paid_at", .int(UnixTime.seconds(paidAt))), ("amount", .int(amount)),
                ]).bytes(),
                receivedAt: at
            )
            let outcome = try await NotificationIngestor.apply(event, provider: provider.name, raw: raw, requestID: caller.requestID, actor: caller.actor, in: tx)
            if case .unchanged(_, let reason) = outcome, reason != PaymentStateMachine.Reason.duplicate.rawValue {
                throw SettleError(.paymentNotConfirmable, "Payment \(paymentID) is \(payment.status.rawValue); nothing was changed.")
            }
            return try await tx.lockPayment(id: paymentID) ?? payment
        }, logger: logger)
    }
}

/// The folder a file provider's settlement files are dropped into (`SETTLE_EFECTY_INBOX`). Each look imports every
/// file there: a file is first claimed by renaming it (so instances sharing the folder never import it twice at
/// once), then imported, then moved to `processed/`, or to `rejected/` with a `.reason.txt` beside it when it is
/// malformed. A file that could not be imported for another reason (the database unavailable) goes back for the next
/// look; a claim left by a process that died is released after an hour.
public struct SettlementInbox: Sendable {
    public struct Result: Sendable, Hashable {
        public var file: String
        /// `processed`, `rejected`, or `retry`.
        public var outcome: String
        public var detail: String?
    }

    let service: SettlementService
    static let claimMarker = ".importing-"
    static let staleClaim: TimeInterval = 3600

    public init(service: SettlementService) {
        self.service = service
    }

    /// Waits until the schema is ready.
    public func waitUntilReady() async throws { try await service.store.waitUntilMigrated() }

    /// The file providers with an inbox, and how often each is looked at.
    public var watched: [(provider: String, folder: String, interval: Duration)] {
        service.fileProviders.compactMap { provider in
            guard provider.availability.isEnabled, let folder = provider.settlementInbox else { return nil }
            return (provider.name, folder, provider.settlementImportInterval)
        }
    }

    /// One look at one provider's inbox.
    public func scan(provider: String, folder: String) async -> [Result] {
        let files = FileManager.default
        let processed = (folder as NSString).appendingPathComponent("processed")
        let rejected = (folder as NSString).appendingPathComponent("rejected")
        try? files.createDirectory(atPath: processed, withIntermediateDirectories: true)
        try? files.createDirectory(atPath: rejected, withIntermediateDirectories: true)
        guard let names = try? files.contentsOfDirectory(atPath: folder) else {
            service.logger.warning("the settlement inbox cannot be read", metadata: ["provider": "\(provider)", "folder": "\(folder)"])
            return []
        }
        releaseStaleClaims(names, folder: folder)
        var results: [Result] = []
        for name in names.sorted() where !name.hasPrefix(".") {
            let path = (folder as NSString).appendingPathComponent(name)
            var isFolder: ObjCBool = false
            guard files.fileExists(atPath: path, isDirectory: &isFolder), !isFolder.boolValue else { continue }
            let claim = (folder as NSString).appendingPathComponent(".\(name)\(Self.claimMarker)\(Identifier.randomToken(length: 8))")
            guard (try? files.moveItem(atPath: path, toPath: claim)) != nil else { continue }  // another instance has it
            results.append(await importClaimed(claim, name: name, provider: provider, folder: folder, processed: processed, rejected: rejected))
        }
        return results
    }

    private func importClaimed(_ claim: String, name: String, provider: String, folder: String, processed: String, rejected: String) async -> Result {
        let files = FileManager.default
        guard let attributes = try? files.attributesOfItem(atPath: claim), let size = attributes[.size] as? Int,
            size <= SettlementsLimits.maxFile, let data = files.contents(atPath: claim)
        else {
            move(claim, to: rejected, name: name)
            write(reason: "the file cannot be read or is larger than \(SettlementsLimits.maxFile >> 20) MB", rejected: rejected, name: name)
            return Result(file: name, outcome: "rejected", detail: "unreadable or too large")
        }
        do {
            let (report, _) = try await service.importFile(
                provider: provider, bytes: Array(data), filename: name, source: .inbox, actor: nil, mode: nil
            )
            move(claim, to: processed, name: name)
            service.logger.info("settlement file imported", metadata: ["provider": "\(provider)", "file": "\(name)", "report": "\(report["id"]?.stringValue ?? "")"])
            return Result(file: name, outcome: "processed", detail: report["id"]?.stringValue)
        } catch where error.code == .settlementFileInvalid {
            move(claim, to: rejected, name: name)
            write(reason: error.message, rejected: rejected, name: name)
            service.logger.notice("settlement file rejected", metadata: ["provider": "\(provider)", "file": "\(name)", "why": "\(error.message)"])
            return Result(file: name, outcome: "rejected", detail: error.message)
        } catch {
            try? files.moveItem(atPath: claim, toPath: (folder as NSString).appendingPathComponent(name))
            service.logger.warning("settlement file not imported; will retry", metadata: ["provider": "\(provider)", "file": "\(name)", "error": "\(error.code)"])
            return Result(file: name, outcome: "retry", detail: error.message)
        }
    }

    /// Moves a claimed file to `folder` under its name, adding a suffix when that name is taken.
    private func move(_ claim: String, to folder: String, name: String) {
        let files = FileManager.default
        var target = (folder as NSString).appendingPathComponent(name)
        if files.fileExists(atPath: target) {
            target = (folder as NSString).appendingPathComponent("\(UnixTime.seconds(Date()))-\(Identifier.randomToken(length: 6))-\(name)")
        }
        try? files.moveItem(atPath: claim, toPath: target)
    }

    private func write(reason: String, rejected: String, name: String) {
        let path = (rejected as NSString).appendingPathComponent("\(name).reason.txt")
        FileManager.default.createFile(atPath: path, contents: Data((reason + "\n").utf8))
    }

    /// Claims older than an hour belong to a process that died mid-import: their files go back.
    private func releaseStaleClaims(_ names: [String], folder: String) {
        let files = FileManager.default
        for name in names where name.hasPrefix(".") {
            guard let marker = name.range(of: Self.claimMarker) else { continue }
            let path = (folder as NSString).appendingPathComponent(name)
            guard let modified = (try? files.attributesOfItem(atPath: path))?[.modificationDate] as? Date,
                Date().timeIntervalSince(modified) > Self.staleClaim
            else { continue }
            let original = String(name[name.index(after: name.startIndex)..<marker.lowerBound])
            try? files.moveItem(atPath: path, toPath: (folder as NSString).appendingPathComponent(original))
        }
    }
}

/// Limits shared by every way a settlement file arrives.
public enum SettlementsLimits {
    public static let maxFile = 16 << 20
}
