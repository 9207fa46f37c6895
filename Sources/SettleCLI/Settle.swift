import ArgumentParser

@main
struct SettleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "settle",
        abstract: "Settle: a self-hosted payment switch.",
        subcommands: [Serve.self, Migrate.self, Keys.self, Providers.self, Webhooks.self, Refunds.self, Reconcile.self, Efecty.self, Audit.self, Ledger.self, Emulate.self, Bench.self],
        defaultSubcommand: Serve.self
    )
}
