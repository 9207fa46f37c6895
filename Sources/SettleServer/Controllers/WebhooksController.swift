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
        // Payme answers a wrong method inside its protocol (-32300); other providers answer 405.
        group.get("webhooks/:provider", use: receive)
        group.put("webhooks/:provider", use: receive)
        group.patch("webhooks/:provider", use: receive)
        group.delete("webhooks/:provider", use: receive)
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
