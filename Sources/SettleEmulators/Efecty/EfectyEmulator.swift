import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import SettleCore
import Synchronization

/// Plays an Efecty counter for a merchant with its own agreement (convenio), over real HTTP. Efecty has no API: the
/// merchant issues numeric voucher references, the buyer pays cash at a counter, and Efecty later sends the merchant a
/// settlement file ("archivo de rendición"). Here the counter knows the agreement's vouchers (registered one by one,
/// posted to `POST /vouchers`, or fetched from Settle's open-vouchers export), a cashier's page looks one up and takes
/// the cash — the exact amount only, before expiry, once — and hands out a receipt number, and the emulator writes the
/// settlement files: each payment goes in exactly one file, unless a test asks for everything again.
///
/// The file written: UTF-8, header `reference,amount,paid_at,authorization,point_of_sale`, then one line per payment:
/// the reference's digits, the amount in whole pesos (`150000`), the time paid in ISO-8601 with Colombia's offset and
/// seconds (`2026-12-01T10:15:00-05:00`), Efecty's receipt number (`EF` and 10 digits, unique, counting up from a random
/// start) and the point of sale, always quoted RFC 4180 style (the default one has a comma). Every line ends with the
/// line ending, the last one too. Options: `;` instead of `,`, CRLF instead of LF, a UTF-8 byte order mark. Faults: the
/// first payment's line twice, the first line's amount 100 pesos more than paid, an extra line whose reference no
/// voucher has, and the last line cut in half with no line ending (a file read while it was still being copied).
///
/// The file is written with the emulator's own formatting, and open vouchers are read with its own small CSV reader:
/// nothing is shared with Settle's parser, so a bug on one side cannot cancel one on the other. Amounts are whole
/// pesos in `Int64`, never a float.
public final class EfectyEmulator: Sendable {
    public struct Configuration: Sendable {
        /// The merchant's agreement (convenio) number; it names the settlement files.
        public var agreement: String
        public var host = "127.0.0.1"
        public var port: Int
        /// What the files say in `point_of_sale`.
        public var pointOfSale: String = "Efecty Calle 10 # 5-51, Bogotá"
        /// Where `POST /settlement` writes when it names no folder (Settle's `SETTLE_EFECTY_INBOX`).
        public var inbox: String?
        /// Settle's base URL and an API key: with both, ``refreshOpenVouchers()`` (and `POST /refresh`) loads
        /// `<settleURL>/v1/providers/efecty/open_vouchers.csv`.
        public var settleURL: String?
        public var apiKey: String?

        public init(agreement: String, port: Int = 12114) {
            self.agreement = agreement
            self.port = port
        }
    }

    /// A voucher the counter knows: the merchant's reference, the exact amount to pay, and when the counter stops
    /// taking it.
    public struct Voucher: Sendable, Hashable {
        public var reference: String
        public var amountPesos: Int64
        public var expiresAt: Date

        public init(reference: String, amountPesos: Int64, expiresAt: Date) {
            self.reference = reference
            self.amountPesos = amountPesos
            self.expiresAt = expiresAt
        }
    }

    /// Cash taken at the counter, with Efecty's receipt number.
    public struct CounterPayment: Sendable, Hashable {
        public var reference: String
        public var amountPesos: Int64
        public var paidAt: Date
        public var authorization: String

        public init(reference: String, amountPesos: Int64, paidAt: Date, authorization: String) {
            self.reference = reference
            self.amountPesos = amountPesos
            self.paidAt = paidAt
            self.authorization = authorization
        }
    }

    /// How a settlement file is written, and what is wrong with it.
    public struct FileOptions: Sendable {
        /// `,` or `;`.
        public var separator: Character = ","
        /// CRLF line endings instead of LF.
        public var crlf = false
        /// A UTF-8 byte order mark first.
        public var bom = false
        /// Fault: the first payment's line appears twice (an identical copy right after it).
        public var duplicateLine = false
        /// Fault: the first line's amount is 100 pesos more than paid.
        public var wrongAmount = false
        /// Fault: one extra line (last) with a reference no voucher has.
        public var unknownReference = false
        /// Fault: the last line is cut in half, with no line ending after it (no effect on a file without lines).
        public var truncated = false

        public init() {}
    }

    /// Why the cashier refuses the cash.
    public enum PayError: Error, Sendable, Equatable {
        case unknownReference
        case wrongAmount(expectedPesos: Int64)
        case expired
        case alreadyPaid
    }

    /// Why ``refreshOpenVouchers()`` loaded nothing.
    public enum RefreshError: Error, Sendable, Equatable, CustomStringConvertible {
        /// No Settle URL or API key configured.
        case notConfigured
        /// Settle answered this HTTP status.
        case status(Int)

        public var description: String {
            switch self {
            case .notConfigured: "no Settle URL and API key configured (--settle-url, --api-key)"
            case .status(let code): "Settle answered HTTP \(code)"
            }
        }
    }

    private struct State {
        var vouchers: [String: Voucher] = [:]
        var paid: Set<String> = []
        var payments: [CounterPayment] = []
        /// Authorizations already written in a file.
        var settled: Set<String> = []
        var nextAuthorization = Int64.random(in: 1_000_000_000...8_999_999_999)
        var filesWritten = 0
        var port: Int?

        mutating func authorization() -> String {
            let number = String(nextAuthorization)
            nextAuthorization += 1
            return "EF" + String(repeating: "0", count: max(0, 10 - number.count)) + number
        }
    }

    /// Colombia's time (no daylight saving time).
    static let colombia = TimeZone(secondsFromGMT: -5 * 3600)!

    let configuration: Configuration
    let httpClient: HTTPClient
    private let state = Mutex(State())

    public init(configuration: Configuration, httpClient: HTTPClient = .shared) {
        self.configuration = configuration
        self.httpClient = httpClient
    }

    public var baseURL: String { "http://\(configuration.host):\(state.withLock { $0.port } ?? configuration.port)" }
    public var isRunning: Bool { state.withLock { $0.port } != nil }

    /// The vouchers the counter knows, by reference.
    public var vouchers: [Voucher] { state.withLock { $0.vouchers.values.sorted { $0.reference < $1.reference } } }
    public func voucher(reference: String) -> Voucher? { state.withLock { $0.vouchers[reference] } }
    /// Every payment taken, in order.
    public var payments: [CounterPayment] { state.withLock { $0.payments } }
    /// The payments no settlement file has carried yet, in order.
    public var pendingPayments: [CounterPayment] { state.withLock { state in state.payments.filter { !state.settled.contains($0.authorization) } } }

    // MARK: - Vouchers

    /// Adds a voucher to the agreement's list (replacing one with the same reference).
    public func register(_ voucher: Voucher) {
        state.withLock { $0.vouchers[voucher.reference] = voucher }
    }

    /// Loads Settle's open-vouchers CSV export (header `reference,amount,expires_at`; amount in whole pesos;
    /// `expires_at` ISO-8601 with an offset): lines that do not read as a voucher are skipped. Returns how many were
    /// loaded.
    @discardableResult
    public func loadOpenVouchers(csv: String) -> Int {
        let loaded = Self.openVouchers(csv)
        state.withLock { state in
            for voucher in loaded { state.vouchers[voucher.reference] = voucher }
        }
        return loaded.count
    }

    /// Whether ``refreshOpenVouchers()`` has a Settle URL and an API key.
    public var canRefresh: Bool { configuration.settleURL != nil && configuration.apiKey != nil }

    /// `GET <settleURL>/v1/providers/efecty/open_vouchers.csv` with `Authorization: Bearer <apiKey>`, loaded with
    /// ``loadOpenVouchers(csv:)``; returns how many were loaded.
    @discardableResult
    public func refreshOpenVouchers() async throws -> Int {
        guard var base = configuration.settleURL, let apiKey = configuration.apiKey else { throw RefreshError.notConfigured }
        while base.hasSuffix("/") { base.removeLast() }
        var request = HTTPClientRequest(url: base + "/v1/providers/efecty/open_vouchers.csv")
        request.method = .GET
        request.headers.add(name: "authorization", value: "Bearer \(apiKey)")
        let response = try await httpClient.execute(request, timeout: .seconds(30))
        let body = try await response.body.collect(upTo: 1 << 26)
        guard response.status.code == 200 else { throw RefreshError.status(Int(response.status.code)) }
        return loadOpenVouchers(csv: String(buffer: body))
    }

    /// The vouchers in an open-vouchers CSV: the header's column names place the fields (`reference`, `amount`,
    /// `expires_at`; that order without a header); `,` or `;` (whichever the first line has); a BOM, CRLF and quoted
    /// fields allowed.
    static func openVouchers(_ text: String) -> [Voucher] {
        var body = Substring(text)
        if body.unicodeScalars.first == "\u{FEFF}" { body = Substring(body.unicodeScalars.dropFirst()) }
        let firstLine = body.prefix { $0 != "\n" && $0 != "\r\n" && $0 != "\r" }
        let separator: Character = firstLine.contains(";") && !firstLine.contains(",") ? ";" : ","
        var records = csvRecords(body, separator: separator)
        var columns = (reference: 0, amount: 1, expiresAt: 2)
        if let header = records.first?.map({ $0.trimmingCharacters(in: .whitespaces).lowercased() }), header.contains("reference") {
            records.removeFirst()
            guard let reference = header.firstIndex(of: "reference"), let amount = header.firstIndex(of: "amount"),
                let expiresAt = header.firstIndex(of: "expires_at")
            else { return [] }
            columns = (reference, amount, expiresAt)
        }
        return records.compactMap { fields -> Voucher? in
            guard fields.count > max(columns.reference, columns.amount, columns.expiresAt) else { return nil }
            let reference = fields[columns.reference].trimmingCharacters(in: .whitespaces)
            let amount = fields[columns.amount].trimmingCharacters(in: .whitespaces)
            guard !reference.isEmpty, reference.allSatisfy(\.isASCIIDigit), !amount.isEmpty, amount.allSatisfy(\.isASCIIDigit),
                let pesos = Int64(amount), pesos > 0, let expiresAt = isoDate(fields[columns.expiresAt].trimmingCharacters(in: .whitespaces))
            else { return nil }
            return Voucher(reference: reference, amountPesos: pesos, expiresAt: expiresAt)
        }
    }

    /// RFC 4180 records: quoted fields may hold the separator, `""` and line breaks; LF, CRLF or CR end a record;
    /// empty lines are dropped.
    static func csvRecords(_ text: Substring, separator: Character) -> [[String]] {
        var records: [[String]] = []
        var record: [String] = []
        var field = String.UnicodeScalarView()
        var quoted = false
        var scalars = text.unicodeScalars.makeIterator()
        var pending = scalars.next()
        let separatorScalar = separator.unicodeScalars.first!
        func endRecord() {
            record.append(String(field))
            field = String.UnicodeScalarView()
            if !(record.count == 1 && record[0].isEmpty) { records.append(record) }
            record = []
        }
        while let scalar = pending {
            pending = scalars.next()
            if quoted {
                if scalar == "\"" {
                    if pending == "\"" {
                        field.append("\"")
                        pending = scalars.next()
                    } else {
                        quoted = false
                    }
                } else {
                    field.append(scalar)
                }
            } else if scalar == "\"" {
                quoted = true
            } else if scalar == separatorScalar {
                record.append(String(field))
                field = String.UnicodeScalarView()
            } else if scalar == "\n" || scalar == "\r" {
                if scalar == "\r", pending == "\n" { pending = scalars.next() }
                endRecord()
            } else {
                field.append(scalar)
            }
        }
        if !field.isEmpty || !record.isEmpty { endRecord() }
        return records
    }

    /// ISO-8601 with an offset (or `Z`), with or without fractional seconds.
    static func isoDate(_ text: String) -> Date? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        if let date = formatter.date(from: text) { return date }
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.date(from: text)
    }

    // MARK: - The counter

    /// The cashier takes the cash: the exact amount only, refused after the voucher's expiry (relative to `at`) and
    /// when it is already paid. Returns the receipt.
    public func pay(reference: String, amountPesos: Int64, at: Date = Date()) throws(PayError) -> CounterPayment {
        let result = state.withLock { state -> Result<CounterPayment, PayError> in
            guard let voucher = state.vouchers[reference] else { return .failure(.unknownReference) }
            guard !state.paid.contains(reference) else { return .failure(.alreadyPaid) }
            guard at <= voucher.expiresAt else { return .failure(.expired) }
            guard amountPesos == voucher.amountPesos else { return .failure(.wrongAmount(expectedPesos: voucher.amountPesos)) }
            let payment = CounterPayment(reference: reference, amountPesos: amountPesos, paidAt: at, authorization: state.authorization())
            state.paid.insert(reference)
            state.payments.append(payment)
            return .success(payment)
        }
        switch result {
        case .success(let payment): return payment
        case .failure(let error): throw error
        }
    }

    // MARK: - Settlement files

    /// The settlement file's text for the payments not yet settled (or, with `includeSettled`, every payment so far),
    /// with `options` applied; marks them settled.
    public func settlementFile(options: FileOptions = .init(), includeSettled: Bool = false) -> String {
        settle(options: options, includeSettled: includeSettled).text
    }

    /// Writes ``settlementFile(options:includeSettled:)`` as `<folder>/rendicion-<agreement>-<yyyyMMdd-HHmmss>-<n>.csv`
    /// (Colombia's time; `n` counts this emulator's files and skips names already taken), atomically: written to a
    /// dot-file in the same folder, then renamed. Creates the folder if needed. Returns the path. When writing fails
    /// the payments stay pending.
    @discardableResult
    public func writeSettlementFile(to folder: String, options: FileOptions = .init(), includeSettled: Bool = false) throws -> String {
        let (text, marked) = settle(options: options, includeSettled: includeSettled)
        do {
            let files = FileManager.default
            let directory = URL(fileURLWithPath: folder, isDirectory: true)
            try files.createDirectory(at: directory, withIntermediateDirectories: true)
            let stamp = Self.colombiaText(Date(), format: "yyyyMMdd-HHmmss")
            let agreement = String(configuration.agreement.map { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") ? $0 : "_" })
            var name: String
            var path: String
            repeat {
                let n = state.withLock { state -> Int in
                    state.filesWritten += 1
                    return state.filesWritten
                }
                name = "rendicion-\(agreement)-\(stamp)-\(n).csv"
                path = directory.appendingPathComponent(name).path
            } while files.fileExists(atPath: path)
            let temporary = directory.appendingPathComponent(".\(name).tmp").path
            do {
                try Data(text.utf8).write(to: URL(fileURLWithPath: temporary))
                try files.moveItem(atPath: temporary, toPath: path)
            } catch {
                try? files.removeItem(atPath: temporary)
                throw error
            }
            return path
        } catch {
            state.withLock { $0.settled.subtract(marked) }
            throw error
        }
    }

    /// Renders the file and marks its payments settled, in one step; returns the text and the authorizations it
    /// newly marked.
    private func settle(options: FileOptions, includeSettled: Bool) -> (text: String, marked: Set<String>) {
        state.withLock { state in
            let chosen = includeSettled ? state.payments : state.payments.filter { !state.settled.contains($0.authorization) }
            var marked: Set<String> = []
            for payment in chosen {
                if state.settled.insert(payment.authorization).inserted { marked.insert(payment.authorization) }
            }
            var rows = chosen.map { [$0.reference, String($0.amountPesos), Self.paidAtText($0.paidAt), $0.authorization] }
            if options.wrongAmount, !rows.isEmpty { rows[0][1] = String(chosen[0].amountPesos + 100) }
            if options.duplicateLine, !rows.isEmpty { rows.insert(rows[0], at: 1) }
            if options.unknownReference {
                var reference: String
                repeat {
                    reference = String(Int64.random(in: 9_000_000_000...9_999_999_999))
                } while state.vouchers[reference] != nil
                rows.append([reference, "50000", Self.paidAtText(Date()), state.authorization()])
            }
            let separator = String(options.separator)
            let ending = options.crlf ? "\r\n" : "\n"
            var lines = rows.map { row in
                (row.map { Self.field($0, separator: options.separator) } + [Self.quoted(configuration.pointOfSale)]).joined(separator: separator)
            }
            var text = options.bom ? "\u{FEFF}" : ""
            text += ["reference", "amount", "paid_at", "authorization", "point_of_sale"].joined(separator: separator) + ending
            var cut: String?
            if options.truncated, let last = lines.popLast() { cut = String(last.prefix(last.count / 2)) }
            for line in lines { text += line + ending }
            if let cut { text += cut }
            return (text, marked)
        }
    }

    /// A CSV field, quoted only when it needs it.
    static func field(_ text: String, separator: Character) -> String {
        text.contains(separator) || text.contains("\"") || text.unicodeScalars.contains { $0 == "\n" || $0 == "\r" } ? quoted(text) : text
    }

    /// RFC 4180 quoting: in double quotes, inner quotes doubled.
    static func quoted(_ text: String) -> String {
        "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// `2026-12-01T10:15:00-05:00`.
    static func paidAtText(_ date: Date) -> String { colombiaText(date, format: "yyyy-MM-dd'T'HH:mm:ssxxx") }

    static func colombiaText(_ date: Date, format: String) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = colombia
        formatter.dateFormat = format
        return formatter.string(from: date)
    }

    /// `$ 150.000`: whole pesos, thousands with dots.
    static func pesosText(_ amount: Int64) -> String {
        let digits = Array(String(amount.magnitude))
        var out = ""
        for (index, digit) in digits.enumerated() {
            if index > 0, (digits.count - index) % 3 == 0 { out.append(".") }
            out.append(digit)
        }
        return (amount < 0 ? "-$ " : "$ ") + out
    }

    // MARK: - HTTP

    public func application(logger: Logger) -> some ApplicationProtocol {
        Application(
            router: buildRouter(),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "efecty-emulator"),
            onServerRunning: { channel in self.state.withLock { $0.port = channel.localAddress?.port } },
            logger: logger
        )
    }

    func buildRouter() -> Router<BasicRequestContext> {
        let router = Router()
        router.get("/") { _, _ in self.lookupForm() }
        router.get("lookup") { request, _ in self.lookupPage(Self.query(request)["reference"] ?? "") }
        router.post("pay") { request, _ in try await self.payPage(request) }
        router.post("settlement") { request, context in self.writeSettlement(request, logger: context.logger) }
        router.get("settlement.csv") { request, _ in
            let query = Self.query(request)
            let text = self.settlementFile(options: Self.fileOptions(query), includeSettled: Self.flag(query["include_settled"]))
            return Response(status: .ok, headers: [.contentType: "text/csv; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: text)))
        }
        router.post("vouchers") { request, _ in
            let csv = String(buffer: try await request.body.collect(upTo: 1 << 26))
            return Self.text(String(self.loadOpenVouchers(csv: csv)))
        }
        router.post("refresh") { _, context in
            do {
                let count = try await self.refreshOpenVouchers()
                return Self.text(String(count))
            } catch RefreshError.notConfigured {
                return Self.text("No Settle URL and API key configured (--settle-url, --api-key).", status: 400)
            } catch {
                context.logger.warning("Efecty emulator: loading open vouchers failed: \(error)")
                return Self.text("Loading open vouchers failed: \(error)", status: 502)
            }
        }
        return router
    }

    /// The query's fields (form-encoded, as a browser's GET form sends them).
    static func query(_ request: Request) -> [String: String] {
        FormURLEncoded.parse(Array((request.uri.query ?? "").utf8))
    }

    static func flag(_ value: String?) -> Bool {
        guard let value else { return false }
        return ["", "1", "true", "yes", "on"].contains(value.lowercased())
    }

    /// File options from a query: `separator` (`;`, `semicolon`), `crlf`, `bom`, `duplicate_line`, `wrong_amount`,
    /// `unknown_reference`, `truncated`.
    static func fileOptions(_ query: [String: String]) -> FileOptions {
        var options = FileOptions()
        if let separator = query["separator"], separator == ";" || separator.lowercased() == "semicolon" { options.separator = ";" }
        options.crlf = flag(query["crlf"])
        options.bom = flag(query["bom"])
        options.duplicateLine = flag(query["duplicate_line"])
        options.wrongAmount = flag(query["wrong_amount"])
        options.unknownReference = flag(query["unknown_reference"])
        options.truncated = flag(query["truncated"])
        return options
    }

    static func escape(_ text: String) -> String { Text.htmlEscaped(text) }

    static func text(_ body: String, status: Int = 200) -> Response {
        Response(status: .init(code: status), headers: [.contentType: "text/plain; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: body)))
    }

    func html(_ body: String, status: Int = 200) -> Response {
        let page = """
            <!doctype html><html><head><meta charset="utf-8"><title>Efecty emulator</title>
            <style>body{font-family:system-ui;max-width:440px;margin:3rem auto}button,input{display:block;width:100%;margin:.5rem 0;padding:.6rem}</style>
            </head><body><p>Efecty emulator · convenio \(Self.escape(configuration.agreement))</p>\(body)</body></html>
            """
        return Response(status: .init(code: status), headers: [.contentType: "text/html; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: page)))
    }

    func errorPage(_ message: String, status: Int) -> Response {
        html("<h1 id=\"error\">\(Self.escape(message))</h1><p><a href=\"/\">Volver</a></p>", status: status)
    }

    private func lookupForm() -> Response {
        html(
            """
            <h1>Recaudo en efectivo</h1>
            <form method="get" action="/lookup"><input name="reference" id="reference" inputmode="numeric" placeholder="Referencia de pago" required>
            <button id="lookup">Buscar</button></form>
            """
        )
    }

    private func lookupPage(_ rawReference: String) -> Response {
        let reference = rawReference.trimmingCharacters(in: .whitespaces)
        let (voucher, paid) = state.withLock { ($0.vouchers[reference], $0.paid.contains(reference)) }
        guard let voucher else { return errorPage("Referencia desconocida", status: 404) }
        let status = paid ? "Pagado" : Date() > voucher.expiresAt ? "Vencido" : "Pendiente"
        return html(
            """
            <h1>Referencia <span id="reference">\(Self.escape(voucher.reference))</span></h1>
            <p>Valor: <strong id="amount">\(Self.pesosText(voucher.amountPesos))</strong></p>
            <p>Vence: <span id="expires">\(Self.colombiaText(voucher.expiresAt, format: "yyyy-MM-dd HH:mm:ss"))</span> (hora de Colombia)</p>
            <p>Estado: <span id="state">\(status)</span></p>
            <form method="post" action="/pay"><input type="hidden" name="reference" value="\(Self.escape(voucher.reference))">
            <input name="amount" id="amount-input" inputmode="numeric" value="\(voucher.amountPesos)" aria-label="Valor recibido">
            <button id="pay">Recibir pago</button></form>
            """
        )
    }

    /// `POST /pay`: the form's `amount` may be written `150000`, `150.000` or `$ 150.000`.
    private func payPage(_ request: Request) async throws -> Response {
        let form = FormURLEncoded.parse(Array(buffer: try await request.body.collect(upTo: 1 << 16)))
        let reference = (form["reference"] ?? "").trimmingCharacters(in: .whitespaces)
        let typed = (form["amount"] ?? "").filter { $0 != "$" && $0 != "." && !$0.isWhitespace }
        guard !typed.isEmpty, typed.allSatisfy(\.isASCIIDigit), let amount = Int64(typed) else {
            return errorPage("Valor inválido", status: 400)
        }
        let payment: CounterPayment
        do throws(PayError) {
            payment = try pay(reference: reference, amountPesos: amount)
        } catch {
            switch error {
            case .unknownReference: return errorPage("Referencia desconocida", status: 404)
            case .wrongAmount(let expected): return errorPage("El valor debe ser exactamente \(Self.pesosText(expected))", status: 409)
            case .expired: return errorPage("Comprobante vencido", status: 409)
            case .alreadyPaid: return errorPage("Comprobante ya pagado", status: 409)
            }
        }
        return html(
            """
            <h1>Pago recibido</h1>
            <p>Comprobante Efecty: <strong id="authorization">\(payment.authorization)</strong></p>
            <p>Referencia: <span id="reference">\(Self.escape(payment.reference))</span></p>
            <p>Valor: <span id="amount">\(Self.pesosText(payment.amountPesos))</span></p>
            <p>Fecha: <span id="paid-at">\(Self.paidAtText(payment.paidAt))</span></p>
            <p>Punto: \(Self.escape(configuration.pointOfSale))</p>
            <p><a href="/">Otro pago</a></p>
            """
        )
    }

    /// `POST /settlement?folder=…`: writes the file there, or in the configured inbox; answers the path.
    private func writeSettlement(_ request: Request, logger: Logger) -> Response {
        let query = Self.query(request)
        guard let folder = query["folder"].flatMap({ $0.isEmpty ? nil : $0 }) ?? configuration.inbox else {
            return Self.text("No folder: pass ?folder=<path> or start the emulator with --inbox.", status: 400)
        }
        do {
            let path = try writeSettlementFile(to: folder, options: Self.fileOptions(query), includeSettled: Self.flag(query["include_settled"]))
            return Self.text(path)
        } catch {
            logger.warning("Efecty emulator: writing the settlement file in \(folder) failed: \(error)")
            return Self.text("Writing the settlement file failed: \(error)", status: 500)
        }
    }
}

extension Character {
    /// `0`–`9` only (not every Unicode digit).
    fileprivate var isASCIIDigit: Bool { isASCII && isNumber }
}
