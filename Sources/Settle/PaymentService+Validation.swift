import Foundation
import SettleCore
import SettleProviders

extension PaymentService {
    static let maxMetadataKeys = 50
    static let maxMetadataKeyLength = 40
    static let maxMetadataValueLength = 500

    /// Checks a request completely before anything is written; the first problem is reported with its parameter.
    func validate(_ request: CreatePaymentRequest, caller: Caller) throws(SettleError) -> (Payment, any PaymentProvider) {
        guard request.amount > 0 else {
            throw .invalid("amount", "amount must be a positive integer in the currency's minor units.", code: .amountInvalid)
        }
        guard request.amount <= limits.maximumAmount else {
            throw .invalid("amount", "amount must be at most \(limits.maximumAmount) minor units.", code: .amountTooLarge)
        }
        guard let currency = Currency.lookup(request.currency) else {
            throw .invalid("currency", "\(Text.echo(request.currency, limit: 16)) is not an active ISO 4217 currency code.", code: .currencyInvalid)
        }
        guard let entry = providers.entry(named: request.provider) else {
            throw .invalid("provider", "Unknown provider \(Text.echo(request.provider)).", code: .providerUnknown)
        }
        let provider = entry.provider
        guard case .enabled = provider.availability else {
            throw SettleError(
                .providerDisabled, "Provider \(provider.name) is disabled: its credentials are not configured.", param: "provider", status: 400
            )
        }
        guard provider.modes.contains(caller.mode) else {
            throw .invalid("provider", "Provider \(provider.name) does not take \(caller.mode.rawValue)-mode payments.", code: .providerModeUnsupported)
        }
        try Self.text(request.reference, param: "reference", max: 200, required: true)
        try Self.text(request.description, param: "description", max: 1000)
        if let customer = request.customer {
            try Self.text(customer.email, param: "customer.email", max: 254)
            if let email = customer.email, !Self.looksLikeEmail(email) {
                throw .invalid("customer.email", "customer.email is not an email address.")
            }
            try Self.text(customer.name, param: "customer.name", max: 200)
            try Self.text(customer.phone, param: "customer.phone", max: 32)
        }
        try Self.url(request.returnURL, param: "return_url")
        try Self.url(request.cancelURL, param: "cancel_url")
        try Self.validate(metadata: request.metadata)
        let expiresIn = request.expiresIn ?? limits.defaultExpiry
        guard limits.expiryRange.contains(expiresIn) else {
            throw .invalid(
                "expires_in",
                "expires_in must be between \(limits.expiryRange.lowerBound) and \(limits.expiryRange.upperBound) seconds."
            )
        }
        if let wallet = request.wallet {
            guard wallet.hasPrefix("wal_"), wallet.utf8.count <= 64, !Text.hasControlCharacters(wallet) else {
                throw .invalid("wallet", "wallet must be a wallet id (wal_…).")
            }
        }
        let method = try Self.paymentMethod(request, module: entry.module)
        let at = now()
        let payment = Payment(
            id: Identifier.make("pay"), mode: caller.mode, status: .requiresAction,
            amount: Money(minorUnits: request.amount, currency: currency), provider: provider.name,
            reference: request.reference, description: request.description, customer: request.customer,
            returnURL: request.returnURL, cancelURL: request.cancelURL, metadata: request.metadata, paymentMethod: method,
            expiresAt: at.addingTimeInterval(TimeInterval(expiresIn)), createdAt: at, updatedAt: at, walletID: request.wallet
        )
        do {
            try provider.validate(payment)
        } catch {
            throw .invalid(error.providerCode ?? "amount", error.message, code: .providerUnsupported)
        }
        return (payment, provider)
    }

    /// The payment method the request asks for, checked against what the provider declared: `payment_method`, or a
    /// provider's alias of it (`payme_mode`), or the provider's default type.
    static func paymentMethod(_ request: CreatePaymentRequest, module: any ProviderModule.Type) throws(SettleError) -> PaymentMethod {
        var method = request.paymentMethod
        for name in request.aliases.keys.sorted() {
            let value = request.aliases[name]!
            guard let alias = module.parameterAliases.first(where: { $0.name == name }) else {
                throw .invalid(name, "\(name) does not apply to provider \(module.name).")
            }
            guard let type = alias.types[value] else {
                throw .invalid(name, "\(name) must be one of \(alias.types.keys.sorted().joined(separator: ", ")).")
            }
            if let method, method.type != type {
                throw .invalid("payment_method.type", "\(name) and payment_method.type ask for different payment methods.")
            }
            method = method ?? PaymentMethod(type: type)
        }
        let chosen = method ?? PaymentMethod(type: module.paymentMethods.first?.type ?? PaymentMethod.checkoutType)
        guard let spec = module.paymentMethods.first(where: { $0.type == chosen.type }) else {
            throw .invalid(
                "payment_method.type",
                "Provider \(module.name) takes payment_method.type \(module.paymentMethods.map(\.type).joined(separator: ", ")); not \(Text.echo(chosen.type))."
            )
        }
        do {
            try spec.validate(chosen)
        } catch {
            throw .invalid(error.providerCode ?? "payment_method", error.message)
        }
        return chosen
    }

    /// Text from the merchant: at most `max` characters and `4 × max` UTF-8 bytes, no control characters (line
    /// breaks and tabs only where `allowLineBreaks`).
    /// At most ``maxMetadataKeys`` pairs of short keys and bounded values, without control characters.
    static func validate(metadata: [String: String]) throws(SettleError) {
        guard metadata.count <= Self.maxMetadataKeys else {
            throw .invalid("metadata", "metadata may have at most \(Self.maxMetadataKeys) keys.")
        }
        for key in metadata.keys.sorted() {
            guard !key.isEmpty, Text.fits(key, characters: Self.maxMetadataKeyLength, bytes: Self.maxMetadataKeyLength * 4),
                !Text.hasControlCharacters(key)
            else {
                throw .invalid("metadata", "metadata keys must be 1 to \(Self.maxMetadataKeyLength) characters, without control characters.")
            }
            try Self.text(metadata[key], param: "metadata[\(Text.echo(key, limit: 40))]", max: Self.maxMetadataValueLength, allowLineBreaks: true)
        }
    }

    static func text(_ value: String?, param: String, max: Int, required: Bool = false, allowLineBreaks: Bool = false) throws(SettleError) {
        guard let value else {
            if required { throw .invalid(param, "\(param) is required.", code: .parameterMissing) }
            return
        }
        if required && value.trimmingCharacters(in: .whitespaces).isEmpty {
            throw .invalid(param, "\(param) must not be empty.", code: .parameterMissing)
        }
        guard Text.fits(value, characters: max, bytes: max * 4) else {
            throw .invalid(param, "\(param) must be at most \(max) characters (and \(max * 4) bytes).")
        }
        let stripped = allowLineBreaks ? value.filter { $0 != "\n" && $0 != "\r\n" && $0 != "\t" } : value
        guard !Text.hasControlCharacters(stripped) else {
            throw .invalid(param, "\(param) must not contain control characters.")
        }
    }

    /// An absolute http(s) URL of printable ASCII (no spaces or control characters), at most 2048 bytes.
    static func url(_ value: String?, param: String) throws(SettleError) {
        guard let value else { return }
        guard value.utf8.count <= 2048, value.utf8.allSatisfy({ (0x21...0x7E).contains($0) }), let url = URL(string: value),
            let scheme = url.scheme?.lowercased(), scheme == "https" || scheme == "http", let host = url.host, !host.isEmpty
        else { throw .invalid(param, "\(param) must be an absolute http or https URL of printable ASCII characters.") }
    }

    static func looksLikeEmail(_ value: String) -> Bool {
        let parts = value.split(separator: "@", omittingEmptySubsequences: false)
        return parts.count == 2 && !parts[0].isEmpty && parts[1].contains(".") && !value.contains(" ")
    }
}
