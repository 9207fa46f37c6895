import Crypto
import Foundation
#if canImport(CoreFoundation)
import CoreFoundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import Logging
import SettleCore
import SettleProviders
import SettleStore

/// Cash payments a provider reports in files (Efecty's settlement file), or that an operator confirms.
///
/// An import parses the whole file first: a malformed file is refused whole, naming the line and the reason, and
/// nothing is stored or applied. An import settles payments of one mode only (an API key's; the inbox's and the command
/// line's are set by the operator, live by default), and a file already imported for that mode (same SHA-256)
/// changes nothing and answers its first report. Otherwise, in one transaction, the file is stored raw with its
/// report and each line is applied through the same exactly-once path as a notification, keyed on its mode and
/// receipt number (`receipt:<mode>:<authorization>`): a line that appears in two files, twice in one, or also in an
/// operator's confirmation changes the payment once, and a receipt already used for another payment is reported as
/// a conflict, changing nothing. The lines are applied in the order of their references (so two imports lock payments
/// in the same order), and an import cut short leaves nothing behind: it is simply imported again.
public struct SettlementService: Sendable {
    public enum Source: String, Sendable {
        case api, cli, inbox
    }

    /// Lines between two progress reports.
    static let progressStep = 500

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
            throw SettleError(.providerDisabled, "The \(name) provider is disabled.", param: "name", status: 400)
        }
        return provider
    }

    /// The identity of a receipt: one per mode, so a test confirmation never uses up a live receipt number.
    static func receiptEventID(_ mode: Mode, _ authorization: String) -> String { "receipt:\(mode.rawValue):\(authorization)" }

    /// A file stored by another instance while this one was importing it: this import's transaction is undone.
    struct AlreadyImported: Error {}

    /// Imports one file for the payments of `mode`. Returns the report and whether this call stored it.
    public func importFile(
        provider name: String, bytes: [UInt8], filename: String?, source: Source, actor: String?, mode: Mode,
        progress: (@Sendable (_ done: Int, _ total: Int) -> Void)? = nil
    ) async throws(SettleError) -> (report: JSONValue, created: Bool) {
        let provider = try fileProvider(name)
        let filename = filename.map(Self.printable)
        var lines: [SettlementLine]
        do {
            lines = try provider.parseSettlement(bytes)
        } catch {
            throw SettleError(.settlementFileInvalid, "The settlement file is refused, nothing was applied: \(error).", param: "file")
        }
        let at = now()
        if let future = lines.first(where: { $0.paidAt > at.addingTimeInterval(3600) }) {
            throw SettleError(
                .settlementFileInvalid, "The settlement file is refused, nothing was applied: line \(future.line): paid_at is in the future.",
                param: "file"
            )
        }
        let sha256 = Hex.encode(SHA256.hash(data: bytes))
        if let earlier = try await store.fetch({ try await store.settlementImport(provider: name, mode: mode, sha256: sha256) }, logger: logger) {
            return (earlier.report, false)
        }
        let id = Identifier.make("stl")
        let total = lines.count
        lines.sort { ($0.reference, $0.line) < ($1.reference, $1.line) }
        let ordered = lines
        do {
            let report = try await store.perform({ tx -> JSONValue in
                var results: [(SettlementLine, String, String?)] = []
                results.reserveCapacity(ordered.count)
                for (index, line) in ordered.enumerated() {
                    results.append(try await Self.apply(line, provider: provider, importID: id, source: source, mode: mode, at: at, in: tx))
                    if (index + 1) % Self.progressStep == 0 { progress?(index + 1, total) }
                }
                progress?(total, total)
                results.sort { $0.0.line < $1.0.line }
                let report = Self.report(
                    id: id, provider: name, mode: mode, filename: filename, sha256: sha256, size: bytes.count, source: source, results: results, at: at
                )
                let stored = StoredSettlementImport(
                    id: id, provider: name, mode: mode, sha256: sha256, filename: filename, source: source.rawValue, actor: actor,
                    size: Int64(bytes.count), lines: Int64(total), report: report, importedAt: at
                )
                guard try await tx.insertSettlementImport(stored, body: bytes) else { throw AlreadyImported() }
                try await tx.appendAudit(
                    AuditRecord(
                        actorKind: actor == nil ? .system : .apiKey, actorID: actor ?? "settlement_\(source.rawValue)", action: .settlementImported,
                        targetType: .settlementImport, targetID: id,
                        after: .object([
                            ("sha256", .string(sha256)), ("lines", .int(Int64(total))), ("source", .string(source.rawValue)),
                            ("mode", .string(mode.rawValue)),
                        ]),
                        requestID: nil, at: at
                    )
                )
                return report
            }, logger: logger)
            return (report, true)
        } catch where error.code == .storageUnavailable {
            // Another instance stored the same file for this mode first: its report is the one.
            if let earlier = try? await store.settlementImport(provider: name, mode: mode, sha256: sha256) { return (earlier.report, false) }
            throw error
        }
    }

    static func report(
        id: String, provider: String, mode: Mode, filename: String?, sha256: String, size: Int, source: Source,
        results: [(SettlementLine, String, String?)], at: Date
    ) -> JSONValue {
        var counts: [String: Int] = [:]
        var items: [JSONValue] = []
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
        return .object([
            ("id", .string(id)), ("object", .string("settlement_import")), ("provider", .string(provider)), ("filename", .string(filename)),
            ("sha256", .string(sha256)), ("size", .int(Int64(size))), ("source", .string(source.rawValue)),
            ("lines", .int(Int64(results.count))),
            ("counts", .object(Self.outcomes.map { ($0, .int(Int64(counts[$0] ?? 0))) })),
            ("items", .array(items)), ("imported_at", .int(UnixTime.seconds(at))), ("livemode", .bool(mode.isLive)),
        ])
    }

    /// What a line can lead to, in the report's order.
    static let outcomes = [
        "succeeded", "requires_review", "duplicate", "already_paid", "receipt_conflict", "payment_closed", "unknown_reference",
    ]

    /// One line, in the caller's transaction: the voucher's payment locked, the line stored as a notification under its
    /// receipt number and applied; reported when it names no voucher of this mode, or a receipt another payment has.
    static func apply(
        _ line: SettlementLine, provider: any SettlementFileProvider, importID: String, source: Source, mode: Mode, at: Date,
        in tx: StoreTransaction
    ) async throws -> (SettlementLine, String, String?) {
        guard let payment = try await tx.lockPayment(provider: provider.name, providerPaymentID: line.reference), payment.mode == mode else {
            return (line, "unknown_reference", nil)
        }
        let eventID = Self.receiptEventID(mode, line.authorization)
        let event = ProviderEvent(
            eventID: eventID, type: "settlement_line", target: .payment(id: payment.id), outcome: .succeeded,
            amountMinorUnits: line.amountMinorUnits, currencyCode: provider.settlementCurrency.code, occurredAt: line.paidAt
        )
        let raw = InboundNotification(
            provider: provider.name, method: "FILE", contentType: "text/csv",
            headers: ["x-settle-settlement": importID, "x-settle-line": String(line.line), "x-settle-source": source.rawValue],
            body: Array(Self.csvLine(line).utf8), receivedAt: at
        )
        let outcome = try await NotificationIngestor.apply(event, provider: provider.name, raw: raw, requestID: nil, in: tx)
        if case .duplicate = outcome, let owner = try await tx.notificationPayment(provider: provider.name, providerEventID: eventID),
            owner != payment.id
        {
            return (line, "receipt_conflict", payment.id)
        }
        return (line, Self.word(outcome), payment.id)
    }

    /// A line as it is stored with its notification: the documented columns, in order.
    static func csvLine(_ line: SettlementLine) -> String {
        let place = (line.pointOfSale ?? "").replacingOccurrences(of: "\"", with: "\"\"")
        return "\(line.reference),\(line.amountMinorUnits / 100),\(UnixTime.seconds(line.paidAt)),\(line.authorization),\"\(place)\""
    }

    /// A file name safe for reports and logs: control characters dropped, at most 200 characters.
    static func printable(_ name: String) -> String {
        String(String.UnicodeScalarView(name.unicodeScalars.filter { $0.value >= 0x20 && !(0x7F...0x9F).contains($0.value) }).prefix(200))
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

    /// A stored import's report, for a caller of its mode; not found otherwise.
    public func report(provider: String, id: String, mode: Mode) async throws(SettleError) -> JSONValue {
        let found = try await store.fetch({ try await store.settlementImport(id: id) }, logger: logger)
        guard let found, found.provider == provider, found.mode == mode else { throw SettleError.notFound(.settlementImport, id: id) }
        return found.report
    }

    // MARK: - Open vouchers

    /// The vouchers of a provider and mode that can still be paid (open and before their date), for agreements where
    /// the network loads the merchant's list: `reference,amount,expires_at` (whole pesos; Colombia's time), oldest first.
    public func openVouchersCSV(provider name: String, mode: Mode, since: Date?) async throws(SettleError) -> String {
        let provider = try fileProvider(name)
        let payments = try await store.fetch({ try await store.openVoucherPayments(provider: provider.name, mode: mode, since: since) }, logger: logger)
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = TimeZone(secondsFromGMT: -5 * 3600)
        let at = now()
        var out = "reference,amount,expires_at\n"
        for payment in payments {
            guard let voucher = payment.voucher, let expiry = voucher.expiresAt ?? payment.expiresAt, expiry > at else { continue }
            out += "\(voucher.reference),\(payment.amount.minorUnits / 100),\(formatter.string(from: expiry))\n"
        }
        return out
    }

    // MARK: - An operator's confirmation

    /// An operator saw the cash receipt: the payment succeeds through the same path as a settlement line with that
    /// receipt number (so the line, when the file comes, changes nothing, and the same receipt twice changes nothing).
    /// The amount must be the payment's; a receipt another payment has is refused; a payment already paid under
    /// another receipt is refused; the caller's key is the actor of the change.
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
            let eventID = Self.receiptEventID(payment.mode, receiptNumber)
            let owner = try await tx.notificationPayment(provider: provider.name, providerEventID: eventID)
            if let owner, owner != payment.id {
                throw SettleError(
                    .receiptAlreadyUsed, "Receipt \(Text.echo(receiptNumber, limit: 40)) was already used for another payment; nothing was changed.",
                    param: "receipt_number"
                )
            }
            if payment.status == .succeeded {
                guard owner == payment.id else {
                    throw SettleError(.paymentNotConfirmable, "Payment \(paymentID) was already paid under another receipt; nothing was changed.")
                }
                return payment
            }
            let event = ProviderEvent(
                eventID: eventID, type: "operator_confirmation", target: .payment(id: payment.id), outcome: .succeeded,
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
/// regular file there (symbolic links, pipes and devices are skipped; so are names ending in `.part`, `.tmp` or
/// `.filepart` and files changed in the last ``settleTime``, which are still being written: upload under another
/// name, then rename). A file is first claimed by renaming it to a hidden name that carries the claim's time, so
/// instances sharing the folder never import it twice at once; then imported for the inbox's mode; then moved to
/// `processed/`, or to `rejected/` with a `.reason.txt` beside it when it is malformed or too large. A file that could
/// not be imported for another reason (the database unavailable) goes back for the next look; a claim older than
/// ``staleClaim`` belongs to a process that died and is released.
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
    static let settleTime: TimeInterval = 10
    static let partialSuffixes = [".part", ".tmp", ".filepart", ".crdownload"]

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

    static func path(_ folder: String, _ name: String) -> String { (folder as NSString).appendingPathComponent(name) }

    /// The file's type and modification time without following a symbolic link.
    static func regularFile(_ path: String) -> (size: Int, modified: Date)? {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
            attributes[.type] as? FileAttributeType == .typeRegular
        else { return nil }
        return ((attributes[.size] as? Int) ?? 0, (attributes[.modificationDate] as? Date) ?? .distantPast)
    }

    /// One look at one provider's inbox.
    public func scan(provider name: String, folder: String, now: Date = Date()) async -> [Result] {
        let files = FileManager.default
        let processed = Self.path(folder, "processed"), rejected = Self.path(folder, "rejected")
        for sub in [processed, rejected] {
            try? files.createDirectory(atPath: sub, withIntermediateDirectories: true)
            guard (try? files.attributesOfItem(atPath: sub))?[.type] as? FileAttributeType == .typeDirectory else {
                service.logger.warning("a settlement inbox subfolder is not a folder", metadata: ["folder": "\(sub)"])
                return []
            }
        }
        guard let provider = service.fileProviders.first(where: { $0.name == name }), let names = try? files.contentsOfDirectory(atPath: folder) else {
            service.logger.warning("the settlement inbox cannot be read", metadata: ["provider": "\(name)", "folder": "\(folder)"])
            return []
        }
        releaseStaleClaims(names, folder: folder, now: now)
        var results: [Result] = []
        for file in names.sorted() where !file.hasPrefix(".") && !Self.partialSuffixes.contains(where: file.hasSuffix) {
            guard let info = Self.regularFile(Self.path(folder, file)), now.timeIntervalSince(info.modified) >= Self.settleTime else { continue }
            let claim = Self.path(folder, ".\(file)\(Self.claimMarker)\(UnixTime.seconds(now))-\(Identifier.randomToken(length: 8))")
            guard (try? files.moveItem(atPath: Self.path(folder, file), toPath: claim)) != nil else { continue }  // another instance has it
            results.append(
                await importClaimed(claim, name: file, provider: provider, folder: folder, processed: processed, rejected: rejected)
            )
        }
        return results
    }

    private func importClaimed(
        _ claim: String, name: String, provider: any SettlementFileProvider, folder: String, processed: String, rejected: String
    ) async -> Result {
        let shown = SettlementService.printable(name)
        guard let bytes = Self.read(claim, limit: SettlementsLimits.maxFile) else {
            move(claim, to: rejected, name: name)
            write(reason: "the file is not a regular file Settle can read, or is larger than \(SettlementsLimits.maxFile >> 20) MB", rejected: rejected, name: name)
            return Result(file: shown, outcome: "rejected", detail: "unreadable or too large")
        }
        do {
            let (report, _) = try await service.importFile(
                provider: provider.name, bytes: bytes, filename: name, source: .inbox, actor: nil, mode: provider.settlementInboxMode
            )
            move(claim, to: processed, name: name)
            service.logger.info("settlement file imported", metadata: ["provider": "\(provider.name)", "file": "\(shown)", "report": "\(report["id"]?.stringValue ?? "")"])
            return Result(file: shown, outcome: "processed", detail: report["id"]?.stringValue)
        } catch where error.code == .settlementFileInvalid {
            move(claim, to: rejected, name: name)
            write(reason: error.message, rejected: rejected, name: name)
            service.logger.notice("settlement file rejected", metadata: ["provider": "\(provider.name)", "file": "\(shown)", "why": "\(error.message)"])
            return Result(file: shown, outcome: "rejected", detail: error.message)
        } catch {
            if (try? FileManager.default.moveItem(atPath: claim, toPath: Self.path(folder, name))) == nil {
                service.logger.error("a claimed settlement file could not be put back", metadata: ["file": "\(shown)"])
            }
            service.logger.warning("settlement file not imported; will retry", metadata: ["provider": "\(provider.name)", "file": "\(shown)", "error": "\(error.code)"])
            return Result(file: shown, outcome: "retry", detail: error.message)
        }
    }

    /// At most `limit` bytes of a regular file, opened without following a link and without blocking; `nil` for
    /// anything else or anything longer.
    static func read(_ path: String, limit: Int) -> [UInt8]? {
        let descriptor = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0, (status.st_mode & S_IFMT) == S_IFREG, Int(status.st_size) <= limit else { return nil }
        var bytes = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let count = buffer.withUnsafeMutableBytes { Foundation.read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 { return nil }
            if count == 0 { break }
            bytes.append(contentsOf: buffer[0..<count])
            if bytes.count > limit { return nil }
        }
        return bytes
    }

    /// Moves a claimed file to `folder` under its name, adding a suffix when that name is taken.
    private func move(_ claim: String, to folder: String, name: String) {
        let files = FileManager.default
        var target = Self.path(folder, name)
        if files.fileExists(atPath: target) {
            target = Self.path(folder, "\(UnixTime.seconds(Date()))-\(Identifier.randomToken(length: 6))-\(name)")
        }
        if (try? files.moveItem(atPath: claim, toPath: target)) == nil {
            service.logger.error("a settlement file could not be moved", metadata: ["file": "\(SettlementService.printable(name))"])
        }
    }

    private func write(reason: String, rejected: String, name: String) {
        let path = Self.path(rejected, "\(name).reason.txt")
        guard Self.regularFile(path) == nil, (try? FileManager.default.attributesOfItem(atPath: path)) == nil else { return }
        FileManager.default.createFile(atPath: path, contents: Data((reason + "\n").utf8))
    }

    /// Claims older than ``staleClaim`` (by the time in their name) belong to a process that died mid-import: their
    /// files go back.
    private func releaseStaleClaims(_ names: [String], folder: String, now: Date) {
        for name in names where name.hasPrefix(".") {
            guard let marker = name.range(of: Self.claimMarker, options: .backwards),
                let seconds = Int64(name[marker.upperBound...].prefix { $0 != "-" }),
                now.timeIntervalSince1970 - TimeInterval(seconds) > Self.staleClaim
            else { continue }
            let original = String(name[name.index(after: name.startIndex)..<marker.lowerBound])
            try? FileManager.default.moveItem(atPath: Self.path(folder, name), toPath: Self.path(folder, original))
        }
    }
}

/// Limits shared by every way a settlement file arrives.
public enum SettlementsLimits {
    public static let maxFile = 16 << 20
}
