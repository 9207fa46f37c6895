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
        router.post("pay/:id/:token", use: { request, context in
            let form = FormURLEncoded.parse(Array(buffer: try await request.body.collect(upTo: 4096)))
            let next = try await pages.submitCard(
                paymentID: try context.parameters.require("id"), pageToken: context.parameters.get("token"), cardToken: form["card_token"]
            )
            guard next.leavesSettle else { return Response(status: .seeOther, headers: [.location: next.url]) }
            return Self.onward(next.url)
        })
    }

    func page(id: String, token: String?) async throws -> Response {
        let view = try await pages.formPage(paymentID: id, token: token)
        if let voucher = view.voucher {
            return Pages.html(
                Pages.layout(title: "Comprobante de pago", language: "es", extraStyle: VoucherPage.style, VoucherPage.render(view.payment, voucher))
            )
        }
        if let card = view.card, let vault = Self.origin(of: card.tokenURL) {
            return cardPage(view, card, vault: vault)
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

    /// Settle's card page: the card's fields have no names, so they are never posted to Settle; the page's one script
    /// sends them to the provider's vault (the only host it may connect to) and posts back the token alone.
    func cardPage(_ view: BuyerPages.FormView, _ card: ProviderCardPage, vault: String) -> Response {
        let nonce = Self.nonce()
        let page = Pages.layout(
            title: "Card payment",
            """
            <p class="muted">\(HTML.escape(view.payment.description ?? view.payment.reference))</p>
            <p class="amount" id="amount">\(HTML.escape(view.payment.amount.formatted()))</p>
            <form id="card" method="post" data-vault="\(HTML.escape(card.tokenURL))" data-key="\(HTML.escape(card.publicKey))">
            <input type="hidden" name="card_token" id="card_token">
            <p><label>Name on the card<br><input id="name" autocomplete="cc-name" required maxlength="100"></label></p>
            <p><label>Card number<br><input id="number" inputmode="numeric" autocomplete="cc-number" required maxlength="23"></label></p>
            <p><label>Expiry (MM / YYYY)<br><input id="month" inputmode="numeric" autocomplete="cc-exp-month" required maxlength="2" size="2"> /
            <input id="year" inputmode="numeric" autocomplete="cc-exp-year" required maxlength="4" size="4"></label></p>
            <p><label>Security code<br><input id="cvc" inputmode="numeric" autocomplete="cc-csc" required maxlength="4" size="4"></label></p>
            <button type="submit" class="approve" id="pay">Pay</button>
            <p id="error" role="alert"></p>
            </form>
            <p class="muted">The card goes straight to \(HTML.escape(card.providerName)), never through this shop's servers.</p>
            <noscript><p>This page needs JavaScript to send the card to \(HTML.escape(card.providerName)).</p></noscript>
            <script nonce="\(nonce)">
            document.getElementById("card").addEventListener("submit", async function (event) {
              var form = event.target;
              if (form.card_token.value) { return; }
              event.preventDefault();
              var value = function (id) { return document.getElementById(id).value.trim(); };
              var error = document.getElementById("error");
              error.textContent = "";
              try {
                var response = await fetch(form.dataset.vault, {
                  method: "POST",
                  headers: { "Authorization": "Basic " + btoa(form.dataset.key + ":"), "Content-Type": "application/json" },
                  body: JSON.stringify({ card: { name: value("name"), number: value("number").replace(/[^0-9]/g, ""),
                    expiration_month: parseInt(value("month"), 10), expiration_year: parseInt(value("year"), 10), security_code: value("cvc") } })
                });
                var token = await response.json();
                if (!response.ok || token.object !== "token") { error.textContent = token.message || "The card was refused."; return; }
                form.card_token.value = token.id;
                form.submit();
              } catch (e) {
                error.textContent = "The card could not be sent; try again.";
              }
            });
            </script>
            """
        )
        var response = Pages.html(page)
        response.headers[.contentSecurityPolicy] =
            "default-src 'none'; style-src 'unsafe-inline'; script-src 'nonce-\(nonce)'; connect-src \(vault); form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
        return response
    }

    /// The card's 3-D Secure page is on the provider's origin: a redirect after the form's POST would be blocked by the
    /// card page's `form-action 'self'`, so a page of Settle's takes the buyer there (its link, or its one script).
    static func onward(_ url: String) -> Response {
        let nonce = nonce()
        var response = Pages.html(
            Pages.layout(
                title: "Card check",
                #"<p>Your bank checks the card next.</p><p><a id="continue" class="approve" href="\#(HTML.escape(url))">Continue to your bank's check</a></p>"#
                    + #"<script nonce="\#(nonce)">location.replace(document.getElementById("continue").href)</script>"#
            )
        )
        response.headers[.contentSecurityPolicy] =
            "default-src 'none'; style-src 'unsafe-inline'; script-src 'nonce-\(nonce)'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
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
