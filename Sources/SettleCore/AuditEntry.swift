import Crypto
import Foundation

/// Who did something.
public enum ActorKind: String, Sendable, Hashable, Codable {
    case apiKey = "api_key"
    case provider
    case `operator`
    case system
}

/// What an audit entry is about.
public enum AuditTarget: String, Sendable, Hashable, Codable {
    case payment
    case apiKey = "api_key"
    case webhookEndpoint = "webhook_endpoint"
    case event
    case notification
    case provider
    case providerTransaction = "provider_transaction"
    case settlementImport = "settlement_import"
    case refund
    case reconciliation
    case wallet
    case transfer
}

/// One entry of the append-only audit trail, before it is chained.
public struct AuditRecord: Sendable, Hashable {
    public var actorKind: ActorKind
    public var actorID: String
    public var action: AuditAction
    public var targetType: AuditTarget
    public var targetID: String
    public var before: JSONValue
    public var after: JSONValue
    public var requestID: String?
    public var at: Date

    public init(
        actorKind: ActorKind, actorID: String, action: AuditAction, targetType: AuditTarget, targetID: String,
        before: JSONValue = .null, after: JSONValue = .null, requestID: String? = nil, at: Date
    ) {
        self.actorKind = actorKind
        self.actorID = actorID
        self.action = action
        self.targetType = targetType
        self.targetID = targetID
        self.before = before
        self.after = after
        self.requestID = requestID
        self.at = at
    }
}

/// The audit trail's hash chain: each entry's hash covers the previous entry's hash and the entry's own content,
/// so changing, removing or reordering any entry breaks every hash after it.
public enum AuditChain {
    /// The `previous hash` of the first entry.
    public static let genesis = String(repeating: "0", count: 64)

    /// `SHA-256(previousHash ‖ content)`, lowercase hex. Each field is length-prefixed, so no two different
    /// entries serialize to the same bytes.
    public static func hash(
        previousHash: String, sequence: Int64, actorKind: String, actorID: String, action: String,
        targetType: String, targetID: String, before: String, after: String, requestID: String?, atMilliseconds: Int64
    ) -> String {
        var hasher = SHA256()
        func field(_ value: String) {
            let bytes = Array(value.utf8)
            hasher.update(data: Array("\(bytes.count):".utf8))
            hasher.update(data: bytes)
        }
        field(previousHash)
        field(String(sequence))
        field(actorKind)
        field(actorID)
        field(action)
        field(targetType)
        field(targetID)
        field(before)
        field(after)
        field(requestID ?? "")
        field(String(atMilliseconds))
        return Hex.encode(hasher.finalize())
    }
}

extension AuditChain {
    /// The anchor of a chain head: HMAC-SHA256 of `settle-audit-head:<seq>:<hash>` under the audit key, lowercase hex.
    /// Kept beside the head, it lets `settle audit verify` tell a truncated or rewritten trail from an intact one: the
    /// rows can be changed by anyone who can write the database, the anchor only by someone who holds the key.
    public static func anchor(key: Secret, sequence: Int64, hash: String) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Array("settle-audit-head:\(sequence):\(hash)".utf8), using: SymmetricKey(data: Array(key.value.utf8)))
        return Hex.encode(mac)
    }
}

/// Lowercase hexadecimal.
public enum Hex {
    static let digits = Array("0123456789abcdef".utf8)

    public static func encode(_ bytes: some Sequence<UInt8>) -> String {
        var out = [UInt8]()
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
