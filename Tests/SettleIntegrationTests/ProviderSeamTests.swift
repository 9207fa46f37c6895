import AsyncHTTPClient
import Configuration
import Foundation
import Logging
import NIOHTTP1
import Settle
import SettleCore
import SettleEmulators
import SettleProviders
import SettleServer
import SettleStore
import Testing

/// The provider seam: the catalog is complete for every provider, and drives configuration and the API.
@Suite struct ProviderCatalogTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Words that make a setting a credential: it must be marked secret.
    static let credentialWords = ["key", "secret", "password", "token", "login", "signature"]

    @Test(arguments: ProviderCatalog.all.map { $0.name })
    func everyProviderIsComplete(_ name: String) throws {
        let module = try #require(ProviderCatalog.module(named: name))
        let page = Self.root.appendingPathComponent("docs/providers/\(name).md")
        #expect(FileManager.default.fileExists(atPath: page.path), "docs/providers/\(name).md is missing")
        #expect(EmulatorCatalog.hasEmulator(module), "settle emulate \(name) does not exist")
        for setting in module.settings {
            let words = setting.key.split(separator: "_").map(String.init)
            // A `public_…` key is published by design (Wompi's is in every checkout link a buyer sees); PayU's
            // `signature` names the hash its account signs with, not a secret.
            if words.contains(where: Self.credentialWords.contains) && !["base", "field", "mode"].contains(words.last!)
                && words.first != "public" && !(name == "payu" && setting.key == "signature")
            {
                #expect(setting.isSecret, "\(name).\(setting.key) is a credential but not marked secret")
            }
            #expect(ProviderSetting.environmentName(provider: name, key: setting.key).hasPrefix("SETTLE_\(name.uppercased())_"))
        }
        #expect(Set(module.settings.map(\.key)).count == module.settings.count, "\(name) declares a setting twice")
        #expect(!module.paymentMethods.isEmpty, "\(name) declares no payment method")
        #expect(Set(module.paymentMethods.map(\.type)).count == module.paymentMethods.count)
        // Every documented setting name appears on the provider's page.
        let text = (try? String(contentsOf: page, encoding: .utf8)) ?? ""
        for setting in module.settings {
            let variable = ProviderSetting.environmentName(provider: name, key: setting.key)
            #expect(text.contains(variable), "docs/providers/\(name).md does not mention \(variable)")
        }
    }

    @Test func catalogNamesAreUniqueAndEveryEmulatorIsReachable() {
        let names = ProviderCatalog.all.map { $0.name }
        #expect(Set(names).count == names.count)
        #expect(EmulatorCatalog.commandNames == names)
    }

    /// Configuration reads each provider's settings from what it declares, and printing it shows no secret.
    @Test func configurationIsDrivenByTheCatalog() {
        let values: [AbsoluteConfigKey: ConfigValue] = [
            "settle.stripe.secret.key": .init(.string("sk_test_catalog_secret_1"), isSecret: true),
            "settle.stripe.webhook.secret": .init(.string("whsec_catalog_secret_2"), isSecret: true),
            "settle.payme.merchant.id": .init(.string("5e730e8e0b852a417aa49ceb"), isSecret: false),
            "settle.payme.key": .init(.string("payme_catalog_secret_3"), isSecret: true),
            "settle.database.url": .init(.string("postgres://settle:db_password_4@db.example:5432/settle"), isSecret: true),
        ]
        let configuration = SettleConfiguration(reader: ConfigReader(provider: InMemoryProvider(values: values)))
        #expect(configuration.settings(for: "stripe")["secret_key"] == "sk_test_catalog_secret_1")
        #expect(configuration.settings(for: "stripe")["webhook_secret"] == "whsec_catalog_secret_2")
        #expect(configuration.settings(for: "payme")["merchant_id"] == "5e730e8e0b852a417aa49ceb")
        #expect(configuration.settings(for: "payme")["key"] == "payme_catalog_secret_3")
        var printed = "\(configuration) \(String(reflecting: configuration))"
        dump(configuration, to: &printed)
        dump(configuration.providers, to: &printed)
        printed += "\(Mirror(reflecting: configuration).children.map { "\($0.value)" })"
        for secret in ["sk_test_catalog_secret_1", "whsec_catalog_secret_2", "payme_catalog_secret_3", "db_password_4"] {
            #expect(!printed.contains(secret), "\(secret) printed")
        }
        #expect(printed.contains("db.example"))
    }

    /// `settle providers` names every setting and masks the secrets.
    @Test func providersReportMasksSecrets() async throws {
        let settings: [String: ProviderSettings] = [
            "stripe": ["secret_key": "sk_test_report_secret", "webhook_secret": "whsec_report_secret"],
            "payme": ["merchant_id": "m-1", "key": "payme_report_secret"],
        ]
        let registry = try await Store.withStore(
            try DatabaseLocation(url: try await Engine.sqlite.makeDatabaseURL()), logger: Engine.logger
        ) { store in
            ProviderRegistry(settings: settings, store: store, httpClient: testHTTPClient, logger: Engine.logger)
        }
        let report = registry.settingsReport()
        #expect(report.contains("stripe: enabled (test)"), "\(report)")
        #expect(report.contains("SETTLE_STRIPE_SECRET_KEY"))
        #expect(report.contains("SETTLE_PAYME_MERCHANT_ID           m-1"), "\(report)")
        #expect(report.contains("set, hidden"))
        for secret in ["sk_test_report_secret", "whsec_report_secret", "payme_report_secret"] {
            #expect(!report.contains(secret))
        }
    }
}

/// `payment_method`: validated against what the provider declared, stored, and shown back.
@Suite(.serialized) struct PaymentMethodTests {
    @Test(arguments: Engine.enabled)
    func validatedAgainstTheProviderAndShownBack(_ engine: Engine) async throws {
        try await withSettle(databaseURL: try await engine.makeDatabaseURL()) { settle in
            let plain = try await settle.request(.GET, "/v1/payments/\(try await settle.createPayment())").json
            #expect((plain["payment_method"] as? [String: Any])?["type"] as? String == "checkout")
            let explicit = try await settle.request(
                .POST, "/v1/payments",
                json: #"{"amount":100,"currency":"COP","provider":"sandbox","reference":"r","payment_method":{"type":"checkout"}}"#
            )
            #expect(explicit.status == 201 && (explicit.json["payment_method"] as? [String: Any])?["type"] as? String == "checkout")
            let before = try await settle.store.counts()
            let cases: [(String, String, String)] = [
                (#""payment_method":{"type":"pse","bank":"1007"}"#, "payment_method.type", "parameter_invalid"),
                (#""payment_method":{"bank":"1007"}"#, "payment_method.type", "parameter_missing"),
                (#""payment_method":{"type":"checkout","phone":"3991111111"}"#, "payment_method.phone", "parameter_invalid"),
                (#""payment_method":{"type":"checkout","phone":3991111111}"#, "payment_method.phone", "parameter_invalid"),
                (#""payment_method":"checkout""#, "payment_method", "parameter_invalid"),
                (#""payme_mode":"receipt""#, "payme_mode", "parameter_invalid"),
            ]
            for (extra, param, code) in cases {
                let reply = try await settle.request(
                    .POST, "/v1/payments", json: #"{"amount":100,"currency":"COP","provider":"sandbox","reference":"r",\#(extra)}"#
                )
                #expect(reply.status == 400, "\(extra): \(reply.text)")
                #expect((reply.json["error"] as? [String: Any])?["param"] as? String == param, "\(extra): \(reply.text)")
                #expect(reply.errorCode == code, "\(extra): \(reply.text)")
            }
            #expect(try await settle.store.counts() == before)
            let providers = try await settle.request(.GET, "/v1/providers").json["data"] as? [[String: Any]] ?? []
            let payme = providers.first { $0["name"] as? String == "payme" }
            #expect(payme?["payment_methods"] as? [String] == ["checkout", "receipt"])
        }
    }
}
