import Foundation
import Hummingbird
import NIOCore
import Settle
import SettleProviders

/// `POST /v1/webhooks/{provider}`: provider notifications in. Answers 2xx only after the raw message is stored.
struct WebhooksController {
    let ingestor: NotificationIngestor

    func addRoutes(to group: RouterGroup<SettleRequestContext>) {
        group.post("webhooks/:provider", use: receive)
    }

    @Sendable func receive(_ request: Request, context: SettleRequestContext) async throws -> Response {
        let provider = try context.parameters.require("provider")
        let receivedAt = Date()
        let body = try await request.body.collect(upTo: context.maxUploadSize)
        var headers: [String: String] = [:]
        for field in request.headers { headers[field.name.canonicalName] = field.value }
        let notification = InboundNotification(
            provider: provider, method: request.method.rawValue, contentType: request.headers[.contentType], headers: headers,
            query: request.uri.query, body: Array(buffer: body), receivedAt: receivedAt
        )
        let (answer, _) = try await ingestor.ingest(notification, requestID: context.requestID)
        return APIResponse.bytes(answer.body, status: answer.status, contentType: answer.contentType)
    }
}
