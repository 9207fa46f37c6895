import Foundation
import SettleCore

/// The sandbox's books, for reconciliation. The sandbox keeps no ledger apart from Settle: its record of a test payment
/// is what Settle holds (every change came from its own signed notification), unless
/// `POST /sandbox/payments/{id}/provider_state` set another — which is how a divergence is shown without telling
/// Settle. Read through Settle's database, so every instance and the CLI see the same books.
public struct SandboxRecords: Sendable {
    let read: @Sendable (Mode, Date, Date, String?) async throws -> ProviderRecordPage

    public init(read: @escaping @Sendable (_ mode: Mode, _ from: Date, _ to: Date, _ cursor: String?) async throws -> ProviderRecordPage) {
        self.read = read
    }

    /// No books (unit tests of the adapter): the sandbox lists nothing.
    public static let none = SandboxRecords { _, _, _, _ in ProviderRecordPage(records: [], nextCursor: nil) }
}

extension SandboxProvider {
    public var reconciliationSource: ReconciliationSource { .listing }

    public func reconciliationRecords(mode: Mode, from: Date, to: Date, cursor: String?) async throws(ProviderError) -> ProviderRecordPage {
        guard secret != nil else { throw ProviderError(.disabled, "The sandbox provider is disabled.") }
        do {
            return try await records.read(mode, from, to, cursor)
        } catch {
            throw ProviderError(.unavailable, "The sandbox's records could not be read.")
        }
    }

    /// The listing is the whole of the sandbox's books: a payment it did not list, it does not have.
    public func reconciliationRecords(for subject: ReconciliationSubject) async throws(ProviderError) -> [ProviderRecord] { [] }
}
