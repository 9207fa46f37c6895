import HTTPTypes
import Hummingbird
import NIOCore
import Settle
import SettleCore

/// JSON responses built from ``JSONValue`` so the bytes are deterministic.
enum APIResponse {
    static func json(_ value: JSONValue, status: Int = 200) -> Response {
        bytes(value.bytes(), status: status)
    }

    static func bytes(_ body: [UInt8], status: Int, contentType: String = "application/json") -> Response {
        Response(
            status: .init(code: status), headers: [.contentType: contentType],
            body: .init(byteBuffer: ByteBuffer(bytes: body))
        )
    }

    /// `{"object":"list","data":[…],"has_more":…}`.
    static func list(_ items: [JSONValue], hasMore: Bool) -> Response {
        json(.object([("object", .string("list")), ("data", .array(items)), ("has_more", .bool(hasMore))]))
    }
}
