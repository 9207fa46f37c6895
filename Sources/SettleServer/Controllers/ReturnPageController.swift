import Hummingbird
import Settle
import SettleCore
import SettleStore

/// `GET /checkout/return/{payment_id}`: where a provider sends the buyer back when the merchant gave no
/// `return_url`. It shows only the status; the payment's outcome comes from the provider's notification.
struct ReturnPageController {
    let store: Store

    func addRoutes(to router: Router<SettleRequestContext>) {
        router.get("checkout/return/:id", use: page)
    }

    @Sendable func page(_ request: Request, context: SettleRequestContext) async throws -> Response {
        let id = try context.parameters.require("id")
        var payment: Payment?
        for mode in Mode.allCases where payment == nil {
            payment = try? await store.payment(id: id, mode: mode)
        }
        guard let payment else { throw SettleError.notFound("payment", id: id) }
        let message: String =
            switch payment.status {
            case .succeeded: "Payment received. You can close this window."
            case .processing: "Your payment is being processed. You can close this window."
            case .requiresAction: "We are waiting for confirmation from the payment provider."
            default: "This payment was not completed."
            }
        let html = """
            <!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
            <title>Payment</title><style>body{font-family:system-ui,sans-serif;max-width:420px;margin:4rem auto;padding:0 1rem}</style></head>
            <body><h1>\(HTML.escape(payment.amount.formatted()))</h1><p id="status">\(HTML.escape(message))</p></body></html>
            """
        return APIResponse.bytes(Array(html.utf8), status: 200, contentType: "text/html; charset=utf-8")
    }
}
