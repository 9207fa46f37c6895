import Crypto
import Foundation
import SettleCore
import SettleStore
import Synchronization

/// Tokens that bind a buyer's page to one payment: the return page shows a payment, and the sandbox's checkout page
/// accepts a button press, only with the token Settle put in the link it handed out. Without one they show nothing.
///
/// A token is the first 16 bytes of HMAC-SHA256 over `purpose:payment id`, in base64url, under a key generated on
/// first start and kept in the database, so every instance issues and accepts the same tokens.
public final class PageTokens: Sendable {
    /// The setting that holds the key.
    static let setting = "pages.token_key"

    public enum Purpose: String, Sendable {
        /// `GET /checkout/return/{id}`.
        case returnPage = "return"
        /// The sandbox checkout page's form (its CSRF token).
        case sandboxCheckout = "sandbox"
        /// `GET /pay/{id}/{token}`: the page that posts a provider's signed checkout form.
        case formPage = "form"
    }

    private let key = Mutex<SymmetricKey?>(nil)

    public init() {}

    /// A fixed key (tests of one page).
    public init(key: [UInt8]) {
        self.key.withLock { $0 = SymmetricKey(data: key) }
    }

    /// Loads the stored key, or stores a new one. Run before serving.
    public func load(store: Store, at now: Date = Date()) async throws {
        let candidate = Data((0..<32).map { _ in UInt8.random(in: .min ... .max) }).base64EncodedString()
        let stored = try await store.write { tx in try await tx.settingInsertIfAbsent(Self.setting, value: candidate, at: now) }
        guard let bytes = Data(base64Encoded: stored), bytes.count == 32 else {
            throw SettleError(.settingCorrupt, "The stored page token key is not valid.")
        }
        key.withLock { $0 = SymmetricKey(data: bytes) }
    }

    /// The token for one payment and purpose.
    public func token(_ purpose: Purpose, paymentID: String) -> String {
        guard let key = key.withLock({ $0 }) else { return "" }
        let mac = HMAC<SHA256>.authenticationCode(for: Array("\(purpose.rawValue):\(paymentID)".utf8), using: key)
        return Data(Array(mac).prefix(16)).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    /// Whether `presented` is the token for this payment and purpose (constant time).
    public func verify(_ presented: String?, _ purpose: Purpose, paymentID: String) -> Bool {
        guard let presented, presented.utf8.count <= 64 else { return false }
        let expected = token(purpose, paymentID: paymentID)
        return !expected.isEmpty && ConstantTime.equals(Array(presented.utf8), Array(expected.utf8))
    }
}
