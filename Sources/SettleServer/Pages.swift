import Hummingbird
import NIOCore
import Settle
import SettleCore

/// The buyer's pages: one layout, escaped text, no scripts or assets from other hosts.
enum Pages {
    /// Paths that answer with HTML (their errors too).
    static func isPage(_ path: String) -> Bool {
        (path.hasPrefix("/sandbox/") && !path.hasPrefix("/sandbox/payments/")) || path.hasPrefix("/checkout/") || path.hasPrefix("/pay/")
    }

    static func html(_ body: String, status: Int = 200) -> Response {
        APIResponse.bytes(Array(body.utf8), status: status, contentType: "text/html; charset=utf-8")
    }

    /// A whole page around `content`; `refreshSeconds` makes the browser reload it (a page that waits), at
    /// `refreshURL` when given (the page's own address without what a provider appended to it).
    static func layout(
        title: String, refreshSeconds: Int? = nil, refreshURL: String? = nil, language: String = "en", extraStyle: String = "", _ content: String
    ) -> String {
        let target = refreshURL.map { ";url=\(HTML.escape($0))" } ?? ""
        let refresh = refreshSeconds.map { #"<meta http-equiv="refresh" content="\#($0)\#(target)">"# } ?? ""
        return """
        <!doctype html>
        <html lang="\(language)"><head><meta charset="utf-8">\(refresh)<meta name="viewport" content="width=device-width, initial-scale=1">
        <title>\(HTML.escape(title))</title>
        <style>
        body{font-family:system-ui,sans-serif;background:#f4f5f7;margin:0;display:flex;justify-content:center;color:#111}
        main{background:#fff;margin:3rem 1rem;padding:2rem;border-radius:12px;max-width:420px;width:100%;box-shadow:0 2px 12px #0001}
        .badge{display:inline-block;background:#fde68a;color:#78350f;border-radius:6px;padding:2px 8px;font-size:.8rem}
        .amount{font-size:2.2rem;font-weight:700;margin:.5rem 0}
        dl{display:grid;grid-template-columns:auto 1fr;gap:.3rem 1rem;color:#444}
        form{display:grid;gap:.6rem;margin-top:1.5rem}
        button{font-size:1rem;padding:.7rem;border-radius:8px;border:1px solid #ccc;cursor:pointer;background:#fff}
        button.approve{background:#16a34a;color:#fff;border:none}
        button.decline{background:#dc2626;color:#fff;border:none}
        .muted{color:#555;font-size:.9rem}
        \(extraStyle)
        </style></head>
        <body><main>
        \(content)
        </main></body></html>
        """
    }

    static func errorPage(_ error: SettleError, requestID: String?) -> String {
        layout(
            title: "Settle",
            """
            <h1>Something is not right</h1>
            <p id="error" data-code="\(HTML.escape(error.code.description))">\(HTML.escape(error.message))</p>
            \(requestID.map { "<p class=\"muted\">Reference: <code>\(HTML.escape($0))</code></p>" } ?? "")
            """
        )
    }
}

/// HTML escaping for text and attribute values.
enum HTML {
    static func escape(_ text: String) -> String { Text.htmlEscaped(text) }
}
