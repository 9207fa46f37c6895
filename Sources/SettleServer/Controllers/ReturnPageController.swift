import Hummingbird
import Settle
import SettleCore

/// `GET /checkout/return/{payment_id}?token=…`: where a provider sends the buyer back when the merchant gave no
/// `return_url`. It shows only the status, and only with the token bound to the payment; the payment's outcome comes
/// from the provider's notification, never from this page.
struct ReturnPageController {
    let pages: BuyerPages

    func addRoutes(to router: RouterGroup<SettleRequestContext>) {
        router.get("checkout/return/:id", use: page)
    }

    @Sendable func page(_ request: Request, context: SettleRequestContext) async throws -> Response {
        let id = try context.parameters.require("id")
        let payment = try await pages.returnPage(paymentID: id, token: request.uri.queryParameters.get("token"))
        let message: String =
            switch payment.status {
            case .succeeded: "Payment received. You can close this window."
            case .processing: "Your payment is being processed. You can close this window."
            case .requiresAction: "We are waiting for confirmation from the payment provider."
            default: "This payment was not completed."
            }
        return Pages.html(
            Pages.layout(
                title: "Payment",
                """
                <h1>\(HTML.escape(payment.amount.formatted()))</h1><p id="status">\(HTML.escape(message))</p>
                """
            )
        )
    }
}
