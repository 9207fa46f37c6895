import Foundation
import SettleCore
import SettleProviders

extension ProviderRegistry {
    /// What `settle providers` prints: each provider, enabled (and for which modes) or why not, its payment methods,
    /// and every setting with its environment name and value, a secret shown only as set or not.
    public func settingsReport() -> String {
        var lines: [String] = []
        for entry in allEntries {
            let module = entry.module
            let provider = entry.provider
            switch provider.availability {
            case .enabled:
                lines.append("\(module.name): enabled (\(provider.modes.map(\.rawValue).sorted().joined(separator: ", ")))")
            case .disabled(let reason):
                lines.append("\(module.name): DISABLED — \(reason)")
            }
            lines.append("  \(module.summary)")
            lines.append("  payment methods: \(module.paymentMethods.map(\.type).joined(separator: ", "))")
            for setting in module.settings {
                let name = ProviderSetting.environmentName(provider: module.name, key: setting.key)
                let value: String
                if let current = entry.settings[setting.key] {
                    let source = entry.settings.isConfigured(setting.key) ? "" : " (generated, stored in the database)"
                    value = setting.isSecret ? "set, hidden (\(current.utf8.count) characters)\(source)" : "\(current)\(source)"
                } else {
                    value = setting.defaultValue.map { "unset (default: \($0))" } ?? "unset"
                }
                lines.append("  \(name.padding(toLength: 34, withPad: " ", startingAt: 0)) \(value)")
            }
            lines.append("")
        }
        return lines.joined(separator: "\n")
    }
}
