import Foundation
import Hummingbird
import SettleCore

/// The merchant API's description: `openapi.json` beside this file, an OpenAPI 3.1 document written by hand and
/// embedded in the binary at build time (so a copied binary serves it too), and the reference page drawn from it.
/// Tests hold it to the router (every route documented, nothing documented that is not routed) and to the server's
/// answers (each one validates against its schema); schemathesis checks it against a live server in CI.
enum APIDocument {
    static let json: [UInt8] = PackageResources.openapi_json

    /// The document, parsed once; a document that does not parse is a build defect the tests catch.
    static let parsed: JSONValue = (try? JSONValue.parse(json)) ?? .object([])

    /// `/docs/api`: the document as one HTML page, drawn once.
    static let referencePage: [UInt8] = Array(APIReference(document: parsed).render().utf8)
}

/// `GET /openapi.json` and `GET /docs/api`: public, like the API's documentation.
struct APIDocumentController {
    func addRoutes(to router: RouterGroup<SettleRequestContext>) {
        router.get("openapi.json") { _, _ in
            APIResponse.bytes(APIDocument.json, status: 200, contentType: "application/json")
        }
        router.get("docs/api") { _, _ in
            APIResponse.bytes(APIDocument.referencePage, status: 200, contentType: "text/html; charset=utf-8")
        }
    }
}

/// Draws an OpenAPI document as a page: operations grouped by tag, each with its parameters, body and answers; then
/// the schemas and the outbound webhooks. Everything is escaped; no script, no asset from another host.
struct APIReference {
    let document: JSONValue

    static let methods = ["get", "post", "put", "patch", "delete"]

    func render() -> String {
        let info = document["info"]
        let title = info?["title"]?.stringValue ?? "API"
        var operations: [(tag: String, method: String, path: String, operation: JSONValue)] = []
        if case .object(let paths)? = document["paths"] {
            for (path, item) in paths {
                for method in Self.methods {
                    guard let operation = item[method] else { continue }
                    let tag = operation["tags"].flatMap { if case .array(let tags) = $0 { tags.first?.stringValue } else { nil } } ?? "Other"
                    operations.append((tag, method, path, operation))
                }
            }
        }
        var tags: [String] = []
        for operation in operations where !tags.contains(operation.tag) { tags.append(operation.tag) }
        var html = ""
        html += "<header><h1>\(HTML.escape(title)) API <small>\(HTML.escape(info?["version"]?.stringValue ?? ""))</small></h1>"
        html += "<p>\(Self.prose(info?["summary"]?.stringValue ?? ""))</p>"
        html += "<p>\(Self.prose(info?["description"]?.stringValue ?? ""))</p>"
        html += #"<p>The machine-readable document: <a href="/openapi.json">/openapi.json</a> (OpenAPI 3.1).</p></header>"#
        html += "<nav><h2>Contents</h2><ul>"
        for tag in tags {
            html += "<li>\(HTML.escape(tag))<ul>"
            for operation in operations where operation.tag == tag {
                let id = operation.operation["operationId"]?.stringValue ?? "\(operation.method)-\(operation.path)"
                html += ##"<li><a href="#\##(HTML.escape(id))"><code>\##(operation.method.uppercased()) \##(HTML.escape(operation.path))</code></a></li>"##
            }
            html += "</ul></li>"
        }
        html += ##"<li><a href="#schemas">Schemas</a></li><li><a href="#webhooks">Outbound webhooks</a></li></ul></nav><main>"##
        for tag in tags {
            html += "<section><h2>\(HTML.escape(tag))</h2>"
            for operation in operations where operation.tag == tag {
                html += renderOperation(method: operation.method, path: operation.path, operation.operation)
            }
            html += "</section>"
        }
        html += #"<section id="schemas"><h2>Schemas</h2>"#
        if case .object(let schemas)? = document["components"]?["schemas"] {
            for (name, schema) in schemas { html += renderSchema(name: name, schema) }
        }
        html += "</section>"
        html += #"<section id="webhooks"><h2>Outbound webhooks</h2>"#
        if case .object(let hooks)? = document["webhooks"] {
            for (name, item) in hooks {
                guard let operation = item["post"] else { continue }
                html += renderOperation(method: "post", path: name, operation, anchor: "webhook-\(name)")
            }
        }
        html += "</section></main>"
        return Self.layout(title: "\(title) API reference", html)
    }

    func renderOperation(method: String, path: String, _ operation: JSONValue, anchor: String? = nil) -> String {
        let id = anchor ?? operation["operationId"]?.stringValue ?? "\(method)-\(path)"
        var html = #"<article id="\#(HTML.escape(id))"><h3><span class="method \#(method)">\#(method.uppercased())</span> <code>\#(HTML.escape(path))</code></h3>"#
        if let summary = operation["summary"]?.stringValue { html += "<p><strong>\(Self.prose(summary))</strong></p>" }
        if let description = operation["description"]?.stringValue { html += "<p>\(Self.prose(description))</p>" }
        if case .array(let parameters)? = operation["parameters"], !parameters.isEmpty {
            html += "<h4>Parameters</h4><table><tr><th>name</th><th>in</th><th>type</th><th></th></tr>"
            for reference in parameters {
                let parameter = resolve(reference)
                let required = parameter["required"]?.boolValue == true ? " <em>required</em>" : ""
                html += "<tr><td><code>\(HTML.escape(parameter["name"]?.stringValue ?? ""))</code>\(required)</td>"
                html += "<td>\(HTML.escape(parameter["in"]?.stringValue ?? ""))</td>"
                html += "<td>\(typeName(parameter["schema"]))</td><td>\(Self.prose(parameter["description"]?.stringValue ?? ""))</td></tr>"
            }
            html += "</table>"
        }
        if let body = operation["requestBody"].map(resolve), case .object(let contents)? = body["content"] {
            html += "<h4>Request body</h4>"
            for (type, content) in contents { html += "<p><code>\(HTML.escape(type))</code>: \(typeName(content["schema"]))</p>" }
        }
        if case .object(let responses)? = operation["responses"] {
            html += "<h4>Responses</h4><table>"
            for (status, reference) in responses {
                let response = resolve(reference)
                var types: [String] = []
                if case .object(let contents)? = response["content"] {
                    for (type, content) in contents { types.append("<code>\(HTML.escape(type))</code> \(typeName(content["schema"]))") }
                }
                html += "<tr><td><code>\(HTML.escape(status))</code></td><td>\(Self.prose(response["description"]?.stringValue ?? ""))</td>"
                html += "<td>\(types.joined(separator: "<br>"))</td></tr>"
            }
            html += "</table>"
        }
        return html + "</article>"
    }

    func renderSchema(name: String, _ schema: JSONValue) -> String {
        var html = #"<article id="schema-\#(HTML.escape(name))"><h3>\#(HTML.escape(name))</h3>"#
        if let description = schema["description"]?.stringValue { html += "<p>\(Self.prose(description))</p>" }
        if case .array(let values)? = schema["enum"] {
            html += "<p>One of: " + values.compactMap { $0.stringValue }.map { "<code>\(HTML.escape($0))</code>" }.joined(separator: ", ") + "</p>"
        }
        if case .object(let properties)? = schema["properties"] {
            var required: [String] = []
            if case .array(let names)? = schema["required"] { required = names.compactMap(\.stringValue) }
            html += "<table><tr><th>field</th><th>type</th><th></th></tr>"
            for (field, property) in properties {
                let mark = required.contains(field) ? " <em>always</em>" : ""
                html += "<tr><td><code>\(HTML.escape(field))</code>\(mark)</td><td>\(typeName(property))</td>"
                html += "<td>\(Self.prose(property["description"]?.stringValue ?? ""))</td></tr>"
            }
            html += "</table>"
        }
        return html + "</article>"
    }

    /// A parameter, body or response given by `$ref`, looked up in the components.
    func resolve(_ value: JSONValue) -> JSONValue {
        guard let reference = value["$ref"]?.stringValue, reference.hasPrefix("#/") else { return value }
        var current: JSONValue? = document
        for part in reference.dropFirst(2).split(separator: "/") { current = current?[String(part)] }
        return current ?? value
    }

    /// A schema in a few words: a link to a named schema, a type (with its nulls and items), or its alternatives.
    func typeName(_ schema: JSONValue?) -> String {
        guard let schema else { return "" }
        if let reference = schema["$ref"]?.stringValue {
            let name = String(reference.split(separator: "/").last ?? "")
            return ##"<a href="#schema-\##(HTML.escape(name))">\##(HTML.escape(name))</a>"##
        }
        for key in ["oneOf", "anyOf"] {
            if case .array(let choices)? = schema[key] { return choices.map { typeName($0) }.joined(separator: " or ") }
        }
        var names: [String] = []
        switch schema["type"] {
        case .string(let type)?: names = [type]
        case .array(let types)?: names = types.compactMap(\.stringValue)
        default: break
        }
        if let index = names.firstIndex(of: "array") { names[index] = "array of " + typeName(schema["items"]) }
        if let constant = schema["const"]?.stringValue { return "<code>\"\(HTML.escape(constant))\"</code>" }
        if case .array(let values)? = schema["enum"], values.count <= 8 {
            return values.compactMap(\.stringValue).map { "<code>\(HTML.escape($0))</code>" }.joined(separator: " | ")
        }
        return names.map { HTML.escape($0) }.joined(separator: " or ")
    }

    /// Escaped text with `code` spans kept as code.
    static func prose(_ text: String) -> String {
        var html = ""
        for (index, part) in text.split(separator: "`", omittingEmptySubsequences: false).enumerated() {
            html += index % 2 == 1 ? "<code>\(HTML.escape(String(part)))</code>" : HTML.escape(String(part))
        }
        return html.replacingOccurrences(of: "\n\n", with: "</p><p>")
    }

    static func layout(title: String, _ content: String) -> String {
        """
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
        <title>\(HTML.escape(title))</title>
        <style>
        body{font-family:system-ui,sans-serif;margin:0;color:#111;display:grid;grid-template-columns:18rem 1fr}
        header{grid-column:1/3;padding:1.5rem 2rem;border-bottom:1px solid #ddd}
        nav{padding:1rem;border-right:1px solid #ddd;font-size:.85rem;position:sticky;top:0;align-self:start;max-height:100vh;overflow:auto}
        nav ul{list-style:none;padding-left:.6rem}
        main{padding:1rem 2rem;max-width:70rem}
        article{border-top:1px solid #eee;padding:.5rem 0 1rem}
        table{border-collapse:collapse;width:100%;font-size:.9rem}
        td,th{border:1px solid #e5e5e5;padding:.3rem .5rem;text-align:left;vertical-align:top}
        code{background:#f4f4f5;padding:0 .2rem;border-radius:3px}
        .method{font-size:.8rem;padding:.1rem .4rem;border-radius:4px;color:#fff;background:#555}
        .method.get{background:#2563eb}.method.post{background:#16a34a}.method.delete{background:#dc2626}
        em{color:#92400e;font-style:normal;font-size:.8rem}
        </style></head>
        <body>
        \(content)
        </body></html>
        """
    }
}
