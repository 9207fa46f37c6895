import AsyncHTTPClient
import NIOCore

/// Reading an answer's body without letting the other side decide how long it takes or how much it costs. A client's
/// deadline covers the head only; a body that trickles would otherwise hold the caller for as long as the sender likes.
public enum BoundedBody {
    public struct Failure: Error, Sendable, CustomStringConvertible {
        public let description: String
    }

    /// Reads the body until it ends, `deadline` passes, or more than `limit` bytes arrive. With `keep`, only the first
    /// `keep` bytes are read and kept and the rest of the body is not waited for.
    public static func read(_ response: HTTPClientResponse, limit: Int, keep: Int? = nil, until deadline: ContinuousClock.Instant)
        async throws(Failure) -> [UInt8]
    {
        do {
            return try await withThrowingTaskGroup(of: [UInt8]?.self) { group in
                group.addTask {
                    var kept: [UInt8] = []
                    for try await chunk in response.body {
                        if let keep {
                            kept.append(contentsOf: chunk.readableBytesView.prefix(keep - kept.count))
                            if kept.count >= keep { break }
                        } else {
                            guard kept.count + chunk.readableBytes <= limit else { throw Failure(description: "answer larger than \(limit) bytes") }
                            kept.append(contentsOf: chunk.readableBytesView)
                        }
                    }
                    return kept
                }
                group.addTask {
                    try await Task.sleep(until: deadline, clock: .continuous)
                    return nil
                }
                defer { group.cancelAll() }
                guard let first = try await group.next(), let body = first else { throw Failure(description: "timeout") }
                return body
            }
        } catch let failure as Failure {
            throw failure
        } catch {
            throw Failure(description: "network error")
        }
    }
}
