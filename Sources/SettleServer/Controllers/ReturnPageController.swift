import Hummingbird
import NIOCore
import Settle
import SettleCore
import SettleProviders

/// `GET /checkout/return/{payment_id}/{token}` (and `?token=…`, the form of links handed out earlier): where a
/// provider sends the buyer back, and Settle's own waiting page. It shows only the status, and only with the token
/// bound to the payment. The outcome comes from the provider (its notification, or its API asked about the
/// transaction it names in the query), never from the query itself. Once there is an outcome and the merchant gave a
/// `return_url`, the buyer is sent there; while the payment is open the page refreshes itself.
struct ReturnPageController {
    let pages: BuyerPages

    func addRoutes(to router: RouterGroup<SettleRequestContext>) {
        router.get("checkout/return/:id", use: { request, context in
            try await page(request, context: context, id: try context.parameters.require("id"), token: request.uri.queryParameters.get("token"))
        })
        router.get("checkout/return/:id/:token", use: { request, context in
            try await page(request, context: context, id: try context.parameters.require("id"), token: context.parameters.get("token"))
        })
        // The provider's image for the waiting page (PromptPay's QR), served from Settle's own origin.
        router.get("checkout/return/:id/:token/qr", use: { _, context in
            let image = try await pages.buyerImage(paymentID: try context.parameters.require("id"), token: context.parameters.get("token"))
            var response = Response(
                status: .ok, headers: [.contentType: image.contentType, .cacheControl: "no-store"],
                body: .init(byteBuffer: ByteBuffer(bytes: image.bytes))
            )
            // An SVG from the provider is shown as an image only: no script of its own may run.
            response.headers[.contentSecurityPolicy] = "default-src 'none'; style-src 'unsafe-inline'; sandbox"
            return response
        })
    }

    func page(_ request: Request, context: SettleRequestContext, id: String, token: String?) async throws -> Response {
        var query: [String: String] = [:]
        // What the provider appended, bounded: PayU's response page alone carries some thirty parameters.
        for (name, value) in request.uri.queryParameters where name != "token" && query.count < 64 && name.utf8.count <= 64 && value.utf8.count <= 512 {
            query[String(name)] = String(value)
        }
        let view = try await pages.returnPage(paymentID: id, token: token, query: query)
        if view.unverified {
            return Pages.html(
                Pages.layout(
                    title: "Payment",
                    """
                    <h1>We could not verify this page</h1>
                    <p id="error" data-code="provider_response_unverified">The details the payment page sent back do not match its \
                    signature, so nothing was changed. If you paid, the payment is confirmed directly with the provider and the \
                    shop is told.</p>
                    """
                ),
                status: 400
            )
        }
        if let next = view.continueTo {
            return Response(status: .seeOther, headers: [.location: next])
        }
        let payment = view.payment
        let message: String =
            switch payment.status {
            case .succeeded: "Payment received. You can close this window."
            case .processing: "Your payment is being processed. This page updates by itself."
            case .requiresAction: "We are waiting for confirmation from the payment provider. This page updates by itself."
            default: "This payment was not completed."
            }
        let instructions = view.instructions.map { #"<p id="instructions">\#(HTML.escape($0))</p>"# } ?? ""
        let image =
            view.showsImage && context.parameters.get("token") != nil
            ? #"<p><img id="qr" src="\#(HTML.escape(request.uri.path))/qr" alt="QR code to scan" width="240" height="240"></p>"# : ""
        return Pages.html(
            Pages.layout(
                title: "Payment", refreshSeconds: payment.status.isFinal ? nil : 5,
                // The refresh drops the provider's query: the provider is asked once per return, not on every reload.
                refreshURL: request.uri.path + (context.parameters.get("token") == nil ? "?token=\(token ?? "")" : ""),
                """
                <h1>\(HTML.escape(payment.amount.formatted()))</h1><p id="status">\(HTML.escape(message))</p>\(instructions)\(image)
                """
            )
        )
    }
}
