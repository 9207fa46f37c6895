import Foundation
import Hummingbird
import Settle
import SettleCore

/// Cash vouchers a provider settles in files (Efecty under the merchant's own agreement):
/// - `POST /v1/providers/{name}/settlements`: the settlement file as the body (any content type, up to 16 MB); `201`
///   with the import's report, or `200` with the first report when the same file was imported before; a malformed
///   file is `400 settlement_file_invalid`, naming the line, and changes nothing. Lines settle payments of the key's
///   mode only.
/// - `GET /v1/providers/{name}/settlements/{id}`: a stored import's report (counts, and each line's outcome).
/// - `GET /v1/providers/{name}/open_vouchers.csv[?since=<unix seconds>]`: the open vouchers of the key's mode.
/// - `POST /v1/payments/{id}/confirm_cash` `{"receipt_number", "paid_at", "amount"}`: an operator saw the receipt.
struct SettlementsController {
    let settlements: SettlementService
    let idempotency: IdempotencyService

    static let maxFile = SettlementsLimits.maxFile

    func addRoutes(to group: RouterGroup<SettleRequestContext>) {
        group.post("providers/:name/settlements", use: importFile)
        group.get("providers/:name/settlements/:id", use: report)
        group.get("providers/:name/open_vouchers.csv", use: openVouchers)
        group.post("payments/:id/confirm_cash", use: confirmCash)
    }

    @Sendable func importFile(_ request: Request, context: SettleRequestContext) async throws -> Response {
        let caller = try context.requireCaller()
        let name = try context.parameters.require("name")
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: Self.maxFile)
        } catch {
            throw SettleError(.bodyTooLarge, "A settlement file may be at most \(Self.maxFile >> 20) MB.")
        }
        let (report, created) = try await settlements.importFile(
            provider: name, bytes: Array(buffer: body), filename: request.headers[.contentDisposition].flatMap(Self.filename), source: .api,
            actor: caller.apiKeyID, mode: caller.mode
        )
        return APIResponse.json(report, status: created ? 201 : 200)
    }

    /// `attachment; filename="rendicion.csv"` → `rendicion.csv` (at most 200 bytes, no path).
    static func filename(_ disposition: String) -> String? {
        guard let range = disposition.range(of: "filename=") else { return nil }
        let value = disposition[range.upperBound...].trimmingCharacters(in: CharacterSet(charactersIn: "\"; "))
        let name = value.split(separator: "/").last.map(String.init) ?? value
        return name.isEmpty || name.utf8.count > 200 || Text.hasControlCharacters(name) ? nil : name
    }

    @Sendable func report(_ request: Request, context: SettleRequestContext) async throws -> Response {
        let caller = try context.requireCaller()
        let found = try await settlements.report(
            provider: try context.parameters.require("name"), id: try context.parameters.require("id"), mode: caller.mode
        )
        return APIResponse.json(found)
    }

    @Sendable func openVouchers(_ request: Request, context: SettleRequestContext) async throws -> Response {
        let caller = try context.requireCaller()
        var since: Date?
        if let text = request.uri.queryParameters.get("since") {
            guard let seconds = ExternalInteger.unsigned(text, maxDigits: 12), seconds <= UnixTime.maximumSeconds else {
                throw SettleError.invalid("since", "since must be a Unix time in seconds.")
            }
            since = Date(timeIntervalSince1970: TimeInterval(seconds))
        }
        let csv = try await settlements.openVouchersCSV(provider: try context.parameters.require("name"), mode: caller.mode, since: since)
        return APIResponse.bytes(Array(csv.utf8), status: 200, contentType: "text/csv; charset=utf-8")
    }

    @Sendable func confirmCash(_ request: Request, context: SettleRequestContext) async throws -> Response {
        let caller = try context.requireCaller()
        let id = try context.parameters.require("id")
        let body = try await JSONBody.read(request, context: context)
        return try await Idempotent.run(idempotency, request, body: body, caller: caller) { _ in
            let input = try StrictJSON.parse(body, allowed: ["receipt_number", "paid_at", "amount"])
            let receipt = try input.requiredString("receipt_number")
            guard let amount = try input.integer("amount", expected: "an integer in minor units", code: .amountInvalid) else {
                throw input.missing("amount")
            }
            guard let seconds = try input.integer("paid_at", expected: "a Unix time in seconds") else { throw input.missing("paid_at") }
            guard (0...UnixTime.maximumSeconds).contains(seconds) else { throw SettleError.invalid("paid_at", "paid_at must be a Unix time in seconds.") }
            let payment = try await settlements.confirmCash(
                paymentID: id, receiptNumber: receipt, paidAt: Date(timeIntervalSince1970: TimeInterval(seconds)), amount: amount, caller: caller
            )
            return .init(status: 200, body: payment.apiObject.bytes())
        }
    }
}
