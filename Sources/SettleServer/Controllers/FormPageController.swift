import Foundation
import Hummingbird
import Settle
import SettleCore
import SettleProviders

/// `GET /pay/{payment_id}/{token}`: the checkout link of a provider whose hosted checkout takes a form POST (PayU's
/// WebCheckout). The page carries the provider's signed form, built from the stored payment, and submits it on load;
/// with scripts off the buyer presses its button. The page's policy lets the form post only to the provider's
/// checkout and runs only its own one-line script. Once the payment is no longer waiting for the buyer, the link
/// leads to the return page instead. For a cash voucher Settle issued itself, the link is the voucher's page
/// (``VoucherPage``).
struct FormPageController {
    let pages: BuyerPages

    func addRoutes(to router: RouterGroup<SettleRequestContext>) {
        router.get("pay/:id/:token", use: { _, context in
            try await page(id: try context.parameters.require("id"), token: context.parameters.get("token"))
        })
    }

    func page(id: String, token: String?) async throws -> Response {
        let view = try await pages.formPage(paymentID: id, token: token)
        if let voucher = view.voucher {
            return Pages.html(
                Pages.layout(title: "Comprobante de pago", language: "es", extraStyle: VoucherPage.style, VoucherPage.render(view.payment, voucher))
            )
        }
        guard let form = view.form, let origin = Self.origin(of: form.action) else {
            return Response(status: .seeOther, headers: [.location: view.returnPage])
        }
        let nonce = Self.nonce()
        let fields = form.fields.map { #"<input type="hidden" name="\#(HTML.escape($0.name))" value="\#(HTML.escape($0.value))">"# }
            .joined(separator: "\n")
        let page = Pages.layout(
            title: "Payment",
            """
            <p class="muted">\(HTML.escape(view.payment.description ?? view.payment.reference))</p>
            <p class="amount">\(HTML.escape(view.payment.amount.formatted()))</p>
            <form id="checkout" method="post" action="\(HTML.escape(form.action))">
            \(fields)
            <button type="submit" class="approve" id="continue">Continue to payment</button>
            </form>
            <p class="muted">You are being taken to the payment page. If nothing happens, press the button.</p>
            <script nonce="\(nonce)">document.getElementById("checkout").submit()</script>
            """
        )
        var response = Pages.html(page)
        response.headers[.contentSecurityPolicy] =
            "default-src 'none'; style-src 'unsafe-inline'; script-src 'nonce-\(nonce)'; form-action \(origin); frame-ancestors 'none'; base-uri 'none'"
        return response
    }

    /// `https://host[:port]` of an absolute http(s) URL, for the page's `form-action`; `nil` for anything else.
    static func origin(of url: String) -> String? {
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(), scheme == "https" || scheme == "http",
            let host = components.host, !host.isEmpty, host.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "." || $0 == "-" })
        else { return nil }
        return "\(scheme)://\(host)\(components.port.map { ":\($0)" } ?? "")"
    }

    /// 16 random bytes in base64, fresh for every page.
    static func nonce() -> String {
        var generator = SystemRandomNumberGenerator()
        return Data((0..<16).map { _ in UInt8.random(in: .min ... .max, using: &generator) }).base64EncodedString()
    }
}
