import AsyncHTTPClient
import NIOCore
import NIOHTTP1

/// One HTTP exchange with a provider's API, shared by the adapters' retry loops.
enum ProviderHTTP {
    struct Reply: Sendable {
        let status: UInt
        let body: [UInt8]
    }

    /// Sends `request` and reads up to `maxBody` bytes of the answer; on failure, says why in words safe to show
    /// (`timeout`, `network error`), never the request.
    static func send(_ request: HTTPClientRequest, http: HTTPClient, timeout: TimeAmount, maxBody: Int) async
        -> Result<Reply, Failure>
    {
        do {
            let response = try await http.execute(request, timeout: timeout)
            return .success(Reply(status: response.status.code, body: Array(buffer: try await response.body.collect(upTo: maxBody))))
        } catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout {
            return .failure(Failure(description: "timeout"))
        } catch {
            return .failure(Failure(description: "network error"))
        }
    }

    struct Failure: Error, Sendable, CustomStringConvertible {
        let description: String
    }
}
