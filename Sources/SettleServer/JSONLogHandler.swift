import Foundation
import Logging
import SettleCore
import Synchronization

/// How logs are written: `text` (swift-log's stream handler) or `json`.
public enum LogFormat: String, Sendable, Hashable {
    case text
    case json
}

/// `SETTLE_LOG_FORMAT=json`: one JSON object per line — `time` (RFC 3339, milliseconds, UTC), `level`, `label`,
/// `message`, then the entry's metadata (`request_id`, `route`, `provider`, `payment`, … as the code logs them) as
/// strings. Nothing is added that the text format would not show: secrets never reach a log in either.
public struct JSONLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    public var metadataProvider: Logger.MetadataProvider?
    let label: String
    let write: @Sendable (String) -> Void

    /// Lines to standard error, or to `write` (tests).
    public init(label: String, level: Logger.Level, write: (@Sendable (String) -> Void)? = nil) {
        self.label = label
        self.logLevel = level
        self.write = write ?? { line in FileHandle.standardError.write(Data(line.utf8)) }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { current, _ in current } }
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        var members: [(String, JSONValue)] = [
            ("time", .string(Self.timestamp(Date()))), ("level", .string(event.level.rawValue)), ("label", .string(label)),
            ("message", .string(event.message.description)),
        ]
        for key in merged.keys.sorted() where !["time", "level", "label", "message"].contains(key) {
            members.append((key, .string(merged[key].map { "\($0)" } ?? "")))
        }
        write(JSONValue.object(members).serialized() + "\n")
    }

    static func timestamp(_ date: Date) -> String {
        let milliseconds = UnixTime.milliseconds(date)
        let seconds = Date(timeIntervalSince1970: TimeInterval(milliseconds / 1000))
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        formatter.timeZone = TimeZone(identifier: "UTC")
        let text = formatter.string(from: seconds)
        return text.dropLast() + String(format: ".%03dZ", Int(milliseconds % 1000))
    }
}
