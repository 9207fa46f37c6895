import AsyncHTTPClient
import Foundation
import Hummingbird
import ServiceLifecycle
import SettleServer
import Logging
import NIOCore
import NIOHTTP1
import Settle
import SettleCore
import SettleProviders
import SettleServer
import SettleStore
import Synchronization
import Testing

/// The database engines every integration test runs against. PostgreSQL comes from `POSTGRES_HOSTNAME`,
/// `POSTGRES_PORT`, `POSTGRES_USER`, `POSTGRES_PASSWORD`, `POSTGRES_DB` (local defaults); each test gets a fresh
/// database. `SETTLE_TEST_POSTGRES=off` leaves PostgreSQL out (CI never sets it).
enum Engine: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case sqlite
    case postgres

    var testDescription: String { rawValue }

    static var enabled: [Engine] {
        ProcessInfo.processInfo.environment["SETTLE_TEST_POSTGRES"] == "off" ? [.sqlite] : allCases
    }

    static let logger: Logger = {
        var logger = Logger(label: "settle.tests")
        // SETTLE_TEST_LOG_LEVEL=debug shows what the servers under test do.
        logger.logLevel = ProcessInfo.processInfo.environment["SETTLE_TEST_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .critical
        return logger
    }()

    /// A new, empty database of this engine.
    func makeDatabaseURL() async throws -> String {
        switch self {
        case .sqlite:
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("settle-tests-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            return directory.appendingPathComponent("settle.sqlite").path
        case .postgres:
            let env = ProcessInfo.processInfo.environment
            let host = env["POSTGRES_HOSTNAME"] ?? "127.0.0.1"
            let port = env["POSTGRES_PORT"] ?? "5432"
            let user = env["POSTGRES_USER"] ?? "postgres"
            let password = env["POSTGRES_PASSWORD"].map { ":\($0)" } ?? ""
            let admin = env["POSTGRES_DB"] ?? "postgres"
            let name = "settle_test_\(Identifier.randomToken(length: 12).lowercased())"
            try await Store.withStore(try DatabaseLocation(url: "postgres://\(user)\(password)@\(host):\(port)/\(admin)"), logger: Self.logger) { store in
                _ = try await store.read { connection in try await connection.query("CREATE DATABASE \(raw: name)") }
            }
            return "postgres://\(user)\(password)@\(host):\(port)/\(name)"
        }
    }
}

/// A Settle server running on a loopback port for the duration of a test, with a test-mode key.
struct RunningSettle: Sendable {
    let settle: SettleApplication
    let baseURL: String
    let apiKey: String
    let client: HTTPClient

    var store: Store { settle.store }

    struct HTTPResult: Sendable {
        let status: Int
        let headers: HTTPHeaders
        let body: [UInt8]

        var json: [String: Any] {
            ((try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any]) ?? [:]
        }
        var text: String { String(decoding: body, as: UTF8.self) }
        var errorCode: String? { (json["error"] as? [String: Any])?["code"] as? String }
    }

    func request(
        _ method: HTTPMethod, _ path: String, json: String? = nil, headers: [(String, String)] = [], auth: Bool = true,
        contentType: String? = nil, rawBody: [UInt8]? = nil
    ) async throws -> HTTPResult {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = method
        if auth { request.headers.add(name: "authorization", value: "Bearer \(apiKey)") }
        if let json {
            request.headers.add(name: "content-type", value: contentType ?? "application/json")
            request.body = .bytes(ByteBuffer(string: json))
        } else if let rawBody {
            if let contentType { request.headers.add(name: "content-type", value: contentType) }
            request.body = .bytes(ByteBuffer(bytes: rawBody))
        }
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        let response = try await client.execute(request, timeout: .seconds(30))
        let body = try await response.body.collect(upTo: 4 << 20)
        return HTTPResult(status: Int(response.status.code), headers: response.headers, body: Array(buffer: body))
    }

    /// Creates a sandbox payment through the API; returns its id.
    func createPayment(amount: Int64 = 150_000, currency: String = "COP", extra: String = "") async throws -> String {
        let result = try await request(
            .POST, "/v1/payments",
            json: #"{"amount":\#(amount),"currency":"\#(currency)","provider":"sandbox","reference":"order-\#(Identifier.randomToken(length: 6))"\#(extra)}"#
        )
        #expect(result.status == 201, "create answered \(result.status): \(result.text)")
        return try #require(result.json["id"] as? String)
    }

    func paymentStatus(_ id: String) async throws -> String? {
        try await request(.GET, "/v1/payments/\(id)").json["status"] as? String
    }

    /// Plays the sandbox provider against this server.
    var notifier: SandboxNotifier {
        SandboxNotifier(secret: settle.sandboxSecret!, webhookURL: "\(baseURL)/v1/webhooks/sandbox", httpClient: client)
    }
}

/// The HTTP client all tests share; sized for the concurrency tests.
let testHTTPClient: HTTPClient = {
    var configuration = HTTPClient.Configuration()
    configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 64
    configuration.redirectConfiguration = .disallow
    return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
}()

/// Runs Settle against `databaseURL` on a free loopback port while `body` runs.
func withSettle<T: Sendable>(
    databaseURL: String, logger: Logger = Engine.logger, configure: (inout SettleConfiguration) -> Void = { _ in },
    _ body: @Sendable (RunningSettle) async throws -> T
) async throws -> T {
    var configuration = SettleConfiguration()
    configuration.databaseURL = databaseURL
    configuration.port = 0
    configuration.sweepInterval = 3600
    // Tests fire from one address and one key far faster than any merchant; the limits have tests of their own.
    configuration.limits = .unlimitedRates
    configure(&configuration)
    let settle = try await buildApplication(configuration, logger: logger, httpClient: testHTTPClient)
    // Stop the way `serve` stops on SIGTERM: graceful shutdown, services in reverse order (the store last).
    let services = ServiceGroup(configuration: .init(services: [settle.app], gracefulShutdownSignals: [], logger: logger))
    let startFailure = StartFailure()
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask {
            do {
                try await services.run()
            } catch {
                startFailure.error.withLock { $0 = error }
                throw error
            }
        }
        do {
            let deadline = ContinuousClock.now + .seconds(30)
            while settle.runtime.boundPort == nil {
                if let failure = startFailure.error.withLock({ $0 }) { throw failure }
                guard ContinuousClock.now < deadline else { throw TestFailure("server did not start") }
                try await Task.sleep(for: .milliseconds(10))
            }
            let (secret, key) = APIKeys.generate(mode: .test, name: "tests", at: Date())
            try await settle.store.write { tx in try await tx.insertAPIKey(key, secret: secret) }
            let running = RunningSettle(settle: settle, baseURL: settle.runtime.publicURL, apiKey: secret, client: testHTTPClient)
            let result = try await body(running)
            await services.triggerGracefulShutdown()
            try await group.waitForAll()
            return result
        } catch {
            await services.triggerGracefulShutdown()
            try? await group.waitForAll()
            throw error
        }
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Reading the sandbox checkout page.
enum SandboxPage {
    /// The hidden `token` field of the page's form (its CSRF token).
    static func formToken(_ html: String) -> String? {
        guard let range = html.range(of: #"name="token" value=""#) else { return nil }
        return String(html[range.upperBound...].prefix { $0 != "\"" })
    }
}

/// The error a test server stopped with before it started serving.
final class StartFailure: Sendable {
    let error = Mutex<(any Error)?>(nil)
}

/// What a browser got for one request.
struct BrowserPage {
    let status: Int
    let location: String?
    let headers: HTTPHeaders
    let text: String
}

/// What a browser does: a GET, or a form POST (unreserved characters kept, the rest percent-encoded), without
/// following redirects.
func browse(_ url: String, form: [(String, String)]? = nil) async throws -> BrowserPage {
    var request = HTTPClientRequest(url: url)
    if let form {
        request.method = .POST
        request.headers.add(name: "content-type", value: "application/x-www-form-urlencoded")
        let allowed = CharacterSet.alphanumerics.union(.init(charactersIn: "-._~"))
        let encoded = form.map { "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: allowed) ?? "")" }.joined(separator: "&")
        request.body = .bytes(ByteBuffer(string: encoded))
    }
    let response = try await testHTTPClient.execute(request, timeout: .seconds(10))
    let body = try await response.body.collect(upTo: 1 << 20)
    return BrowserPage(
        status: Int(response.status.code), location: response.headers.first(name: "location"), headers: response.headers, text: String(buffer: body)
    )
}

/// Runs an emulator's server on a loopback port for the length of `body`, waiting until it is listening, then shuts it
/// down.
func withRunning<T: Sendable>(
    _ server: any Service, isRunning: @escaping @Sendable () -> Bool, _ body: @Sendable () async throws -> T
) async throws -> T {
    let services = ServiceGroup(configuration: .init(services: [server], gracefulShutdownSignals: [], logger: Engine.logger))
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await services.run() }
        defer { group.cancelAll() }
        while !isRunning() { try await Task.sleep(for: .milliseconds(10)) }
        let result = try await body()
        await services.triggerGracefulShutdown()
        return result
    }
}

/// Runs one of `Tests/SDK/`'s Python scripts (a provider's official SDK against its emulator); answers its exit status
/// and what it printed. The output is read off Swift's own threads: the emulator answers the script on them meanwhile.
func runSDKScript(_ name: String, arguments: [String]) async throws -> (status: Int32, output: String) {
    let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("SDK/\(name)").path
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["python3", script] + arguments
    let output = Pipe()
    process.standardOutput = output
    process.standardError = output
    try process.run()
    let text: String = await withCheckedContinuation { continuation in
        DispatchQueue.global().async {
            let data = output.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            continuation.resume(returning: String(decoding: data, as: UTF8.self))
        }
    }
    return (process.terminationStatus, text)
}
