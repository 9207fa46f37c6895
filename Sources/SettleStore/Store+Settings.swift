import Foundation
import SettleCore

extension StoreTransaction {
    /// Stores `value` under `name` unless a value exists; returns the value in force.
    public func settingInsertIfAbsent(_ name: String, value: String, at: Date) async throws -> String {
        try await query(
            """
            INSERT INTO settings (name, value, updated_at) VALUES (\(name), \(value), \(UnixTime.milliseconds(at)))
            ON CONFLICT (name) DO NOTHING
            """
        )
        return try await query("SELECT value FROM settings WHERE name = \(name)").first?.string("value") ?? value
    }
}

extension Store {
    public func setting(_ name: String) async throws -> String? {
        try await read { connection in
            try await connection.query("SELECT value FROM settings WHERE name = \(name)").first?.string("value")
        }
    }
}
