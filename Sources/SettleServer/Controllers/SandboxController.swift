import Hummingbird
import Settle
import SettleCore
import SettleProviders

/// The sandbox's hosted checkout: `GET /sandbox/checkout/{payment_id}` shows the amount and four choices; `POST`
/// (with the form's token) sends the matching signed notification to `POST /v1/webhooks/sandbox` over HTTP, like a
/// real provider, then redirects the buyer to the payment's `return_url`.
struct SandboxController {
    let pages: BuyerPages

    func addRoutes(to router: RouterGroup<SettleRequestContext>) {
        router.get("sandbox/checkout/:id", use: page)
        router.post("sandbox/checkout/:id", use: choose)
        router.get("sandbox/refunds/:id", use: refundPage)
        router.post("sandbox/refunds/:id", use: refundChoose)
    }

    /// A refund the sandbox left pending (its payment's metadata said `"sandbox_refunds": "pending"`): succeed or fail it.
    @Sendable func refundPage(_ request: Request, context: SettleRequestContext) async throws -> Response {
        let (refund, token) = try await pages.sandboxRefund(refundID: try context.parameters.require("id"))
        let buttons =
            refund.status != .pending
            ? "<p>This refund is <strong id=\"status\">\(HTML.escape(refund.status.rawValue))</strong>; nothing left to do.</p>"
            : """
            <form method="post">
            <input type="hidden" name="token" value="\(HTML.escape(token))">
            <button name="action" value="succeed" class="approve" id="succeed">Refund succeeded</button>
            <button name="action" value="fail" class="decline" id="fail">Refund failed</button>
            </form>
            """
        return Pages.html(
            Pages.layout(
                title: "Settle sandbox refund",
                """
                <span class="badge">Sandbox · test mode</span>
                <h1>Refund of \(HTML.escape(refund.paymentID))</h1>
                <div class="amount" id="amount">\(HTML.escape(refund.amount.formatted()))</div>
                \(buttons)
                """
            )
        )
    }

    @Sendable func refundChoose(_ request: Request, context: SettleRequestContext) async throws -> Response {
        let id = try context.parameters.require("id")
        let form = FormURLEncoded.parse(Array(buffer: try await request.body.collect(upTo: 4096)))
        guard let action = form["action"], action == "succeed" || action == "fail" else {
            throw SettleError.invalid("action", "action must be succeed or fail.")
        }
        try await pages.sandboxRefundChoose(refundID: id, succeeded: action == "succeed", formToken: form["token"])
        return Response(status: .seeOther, headers: [.location: "/sandbox/refunds/\(id)"])
    }

    @Sendable func page(_ request: Request, context: SettleRequestContext) async throws -> Response {
        let (payment, token) = try await pages.sandboxCheckout(paymentID: try context.parameters.require("id"))
        let buttons =
            payment.status.isFinal
            ? "<p>This payment is <strong>\(HTML.escape(payment.status.rawValue))</strong>; nothing left to do.</p>"
            : """
            <form method="post">
            <input type="hidden" name="token" value="\(HTML.escape(token))">
            \(SandboxAction.allCases.map { action in
                #"<button name="action" value="\#(action.rawValue)" class="\#(action.rawValue)">\#(Self.label(action))</button>"#
            }.joined(separator: "\n"))
            </form>
            """
        return Pages.html(
            Pages.layout(
                title: "Settle sandbox checkout",
                """
                <span class="badge">Sandbox · test mode</span>
                <h1>Pay \(HTML.escape(payment.reference))</h1>
                <div class="amount" id="amount">\(HTML.escape(payment.amount.formatted()))</div>
                <dl>
                <dt>Payment</dt><dd><code>\(HTML.escape(payment.id))</code></dd>
                <dt>Status</dt><dd id="status">\(HTML.escape(payment.status.rawValue))</dd>
                \(payment.description.map { "<dt>For</dt><dd>\(HTML.escape($0))</dd>" } ?? "")
                </dl>
                \(buttons)
                """
            )
        )
    }

    @Sendable func choose(_ request: Request, context: SettleRequestContext) async throws -> Response {
        let id = try context.parameters.require("id")
        let body = try await request.body.collect(upTo: 4096)
        let form = FormURLEncoded.parse(Array(buffer: body))
        let destination = try await pages.sandboxChoose(paymentID: id, action: form["action"], formToken: form["token"])
        return Response(status: .seeOther, headers: [.location: destination])
    }

    static func label(_ action: SandboxAction) -> String {
        switch action {
        case .approve: "Approve"
        case .decline: "Decline"
        case .pending: "Leave pending"
        case .expire: "Expire"
        }
    }
}
