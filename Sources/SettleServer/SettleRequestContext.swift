import Hummingbird
import Logging
import NIOCore
import Settle
import SettleCore

/// Per-request state: the request id every response carries, and who is calling once authenticated.
public struct SettleRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public var requestID: String
    public var caller: Caller?
    /// The peer's IP address (a proxy's, behind one).
    public var remoteAddress: String?

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.requestID = Identifier.make("req", length: 20)
        self.caller = nil
        self.remoteAddress = source.channel.remoteAddress?.ipAddress
    }

    /// Request bodies above 1 MiB are refused with 413.
    public var maxUploadSize: Int { SettleRequestContext.maxBody }
    public static let maxBody = 1 << 20

    /// The authenticated caller; the authentication middleware guarantees it on API routes.
    func requireCaller() throws(SettleError) -> Caller {
        guard var caller else {
            throw SettleError(.apiKeyMissing, "Send your secret key as Authorization: Bearer sk_….")
        }
        caller.requestID = requestID
        return caller
    }
}
