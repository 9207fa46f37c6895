/// Test or live. Test keys see only test-mode data; live keys only live-mode data.
public enum Mode: String, Sendable, Hashable, Codable, CaseIterable {
    case test
    case live

    public var isLive: Bool { self == .live }
}
