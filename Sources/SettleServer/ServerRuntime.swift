import Synchronization

/// What the server learns only once it runs: its public URL (configured, or from the bound port).
public final class ServerRuntime: Sendable {
    private struct State {
        var publicURL: String?
        var boundPort: Int?
        var draining = false
    }

    private let state: Mutex<State>
    let host: String

    init(publicURL: String?, host: String) {
        self.state = Mutex(State(publicURL: publicURL.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 }))
        self.host = host
    }

    /// The base for every URL Settle hands out.
    public var publicURL: String {
        state.withLock { $0.publicURL } ?? "http://\(host):8080"
    }

    /// The port the server bound, once it runs.
    public var boundPort: Int? { state.withLock { $0.boundPort } }

    func serverBound(port: Int) {
        state.withLock { state in
            state.boundPort = port
            if state.publicURL == nil {
                let visibleHost = host == "0.0.0.0" || host == "::" ? "127.0.0.1" : host
                state.publicURL = "http://\(visibleHost):\(port)"
            }
        }
    }

    /// Whether the instance is shutting down: readiness answers 503 so load balancers stop sending, while requests in
    /// flight (and those still arriving) are served until the server stops.
    public var isDraining: Bool { state.withLock { $0.draining } }

    func startDraining() { state.withLock { $0.draining = true } }
}
