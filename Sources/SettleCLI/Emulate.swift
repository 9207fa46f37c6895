import ArgumentParser
import SettleEmulators

/// `settle emulate <provider>`: one subcommand per catalog provider, each declared in its emulator's folder.
struct Emulate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a provider emulator that speaks the provider's real wire protocol.", subcommands: EmulatorCatalog.commands
    )
}
