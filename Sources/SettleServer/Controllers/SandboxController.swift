import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Settle
import SettleCore
import SettleProviders
import SettleStore

/// The sandbox's hosted checkout: `GET /sandbox/checkout/{payment_id}` shows the amount and four choices;
/// `POST` sends the matching signed notification to `POST /v1/webhooks/sandbox` over HTTP, like a real
/// provider, then redirects the buyer to the payment's `return_url`.
struct SandboxController {
    let store: Store
    let runtime: ServerRuntime

    func addRoutes(to router: Router<SettleRequestContext>) {
        router.get("sandbox/checkout/:id", use: page)
        router.post("sandbox/checkout/:id", use: choose)
    }

    private func sandboxPayment(_ context: SettleRequestContext) async throws -> Payment {
        let id = try context.parameters.require("id")
        let payment: Payment?
        do {
            payment = try await store.payment(id: id, mode: .test)
        } catch {
            throw SettleError.storageUnavailable
        }
        guard let payment, payment.provider == "sandbox" else { throw SettleError.notFound("payment", id: id) }
        return payment
    }

    @Sendable func page(_ request: Request, context: SettleRequestContext) async throws -> Response {
        let payment = try await sandboxPayment(context)
        let open = !payment.status.isFinal
        let buttons =
            open
            ? SandboxAction.allCases.map { action in
                #"<button name="action" value="\#(action.rawValue)" class="\#(action.rawValue)">\#(Self.label(action))</button>"#
            }.joined(separator: "\n")
            : "<p>This payment is <strong>\(HTML.escape(payment.status.rawValue))</strong>; nothing left to do.</p>"
        let html = """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
            <title>Settle sandbox checkout</title>
            <style>
            body{font-family:system-ui,sans-serif;background:#f4f5f7;margin:0;display:flex;justify-content:center}
            main{background:#fff;margin:3rem 1rem;padding:2rem;border-radius:12px;max-width:420px;width:100%;box-shadow:0 2px 12px #0001}
            .badge{display:inline-block;background:#fde68a;color:#78350f;border-radius:6px;padding:2px 8px;font-size:.8rem}
            .amount{font-size:2.2rem;font-weight:700;margin:.5rem 0}
            dl{display:grid;grid-template-columns:auto 1fr;gap:.3rem 1rem;color:#444}
            form{display:grid;gap:.6rem;margin-top:1.5rem}
            button{font-size:1rem;padding:.7rem;border-radius:8px;border:1px solid #ccc;cursor:pointer;background:#fff}
            button.approve{background:#16a34a;color:#fff;border:none}
            button.decline{background:#dc2626;color:#fff;border:none}
            </style></head>
            <body><main>
            <span class="badge">Sandbox · test mode</span>
            <h1>Pay \(HTML.escape(payment.reference))</h1>
            <div class="amount" id="amount">\(HTML.escape(payment.amount.formatted()))</div>
            <dl>
            <dt>Payment</dt><dd><code>\(HTML.escape(payment.id))</code></dd>
            <dt>Status</dt><dd id="status">\(HTML.escape(payment.status.rawValue))</dd>
            \(payment.description.map { "<dt>For</dt><dd>\(HTML.escape($0))</dd>" } ?? "")
            </dl>
            <form method="post">
            \(buttons)
            </form>
            </main></body></html>
            """
        return APIResponse.bytes(Array(html.utf8), status: 200, contentType: "text/html; charset=utf-8")
    }

    @Sendable func choose(_ request: Request, context: SettleRequestContext) async throws -> Response {
        let payment = try await sandboxPayment(context)
        let body = try await request.body.collect(upTo: 4096)
        let form = FormBody.parse(String(buffer: body))
        guard let choice = form["action"], let action = SandboxAction(rawValue: choice) else {
            throw SettleError.invalid("action", "action must be one of approve, decline, pending, expire.")
        }
        guard let secret = runtime.sandboxSecret else {
            throw SettleError(.provider, status: 503, code: "provider_disabled", "The sandbox provider is disabled.")
        }
        let notifier = SandboxNotifier(
            secret: secret, webhookURL: "\(runtime.publicURL)/v1/webhooks/sandbox", httpClient: runtime.httpClient
        )
        let status: Int
        do {
            status = try await notifier.send(notifier.message(for: action, paymentID: payment.id, amount: payment.amount))
        } catch {
            throw SettleError(.provider, status: 502, code: "sandbox_delivery_failed", "The sandbox could not reach Settle's webhook endpoint.")
        }
        guard (200..<300).contains(status) else {
            throw SettleError(.provider, status: 502, code: "sandbox_delivery_failed", "Settle answered the sandbox's notification with \(status).")
        }
        let destination = (action == .decline ? payment.cancelURL ?? payment.returnURL : payment.returnURL)
            ?? "/sandbox/checkout/\(payment.id)"
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

/// Minimal HTML escaping for text and attribute values.
enum HTML {
    static func escape(_ text: String) -> String {
        var out = ""
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(character)
            }
        }
        return out
    }
}

/// `application/x-www-form-urlencoded` bodies.
enum FormBody {
    static func parse(_ text: String) -> [String: String] {
        var fields: [String: String] = [:]
        for pair in text.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1).map {
                String($0).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? ""
            }
            if let key = parts.first, fields[key] == nil { fields[key] = parts.count > 1 ? parts[1] : "" }
        }
        return fields
    }
}
