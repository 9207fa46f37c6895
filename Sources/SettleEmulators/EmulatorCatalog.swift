import ArgumentParser
import Logging
import SettleProviders

/// A catalog provider with an emulator: `settle emulate <name>` runs its command. The conformance lives in the
/// emulator's folder (`Sources/SettleEmulators/<Name>/`), so a new provider adds no line outside its folders here.
public protocol EmulatedProvider: ProviderModule {
    /// The `settle emulate <name>` subcommand (its `commandName` is the provider's name).
    static var emulatorCommand: any AsyncParsableCommand.Type { get }
}

/// The emulators of ``ProviderCatalog``'s providers.
public enum EmulatorCatalog {
    /// One command per catalog provider that has an emulator, in the catalog's order.
    public static var commands: [any ParsableCommand.Type] {
        ProviderCatalog.all.compactMap { ($0 as? any EmulatedProvider.Type)?.emulatorCommand }
    }

    /// The subcommands' names, in the catalog's order.
    public static var commandNames: [String] { commands.compactMap { $0.configuration.commandName } }

    /// Whether `settle emulate <module.name>` exists.
    public static func hasEmulator(_ module: any ProviderModule.Type) -> Bool {
        guard let emulated = module as? any EmulatedProvider.Type else { return false }
        return emulated.emulatorCommand.configuration.commandName == module.name
    }
}

/// The emulator commands' logger: standard error, at info.
enum EmulatorLogging {
    static func bootstrap() -> Logger {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .info
            return handler
        }
        return Logger(label: "settle.emulator")
    }
}
