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
            throw .invalid("amount", "amount must be a positive integer in the currency's minor units.", code: "amount_invalid")
        }
        guard request.amount <= limits.maximumAmount else {
            throw .invalid("amount", "amount must be at most \(limits.maximumAmount) minor units.", code: "amount_too_large")
        }
        guard let currency = Currency.lookup(request.currency) else {
            throw .invalid("currency", "\(request.currency.prefix(16)) is not an active ISO 4217 currency code.", code: "currency_invalid")
        }
        guard let provider = providers.provider(named: request.provider) else {
            throw .invalid("provider", "Unknown provider \(request.provider.prefix(32)).", code: "provider_unknown")
        }
        guard case .enabled = provider.availability else {
            throw .invalid("provider", "Provider \(provider.name) is disabled: its credentials are not configured.", code: "provider_disabled")
        }
        guard provider.modes.contains(caller.mode) else {
            throw .invalid("provider", "Provider \(provider.name) does not take \(caller.mode.rawValue)-mode payments.", code: "provider_mode_unsupported")
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
        guard request.metadata.count <= Self.maxMetadataKeys else {
            throw .invalid("metadata", "metadata may have at most \(Self.maxMetadataKeys) keys.")
        }
        for (key, value) in request.metadata {
            guard !key.isEmpty, key.count <= Self.maxMetadataKeyLength else {
                throw .invalid("metadata", "metadata keys must be 1 to \(Self.maxMetadataKeyLength) characters.")
            }
            guard value.count <= Self.maxMetadataValueLength else {
                throw .invalid("metadata[\(key)]", "metadata values must be at most \(Self.maxMetadataValueLength) characters.")
            }
        }
        let expiresIn = request.expiresIn ?? limits.defaultExpiry
        guard limits.expiryRange.contains(expiresIn) else {
            throw .invalid(
                "expires_in",
                "expires_in must be between \(limits.expiryRange.lowerBound) and \(limits.expiryRange.upperBound) seconds."
            )
        }
        let at = now()
        let payment = Payment(
            id: Identifier.make("pay"), mode: caller.mode, status: .requiresAction,
            amount: Money(minorUnits: request.amount, currency: currency), provider: provider.name,
            reference: request.reference, description: request.description, customer: request.customer,
            returnURL: request.returnURL, cancelURL: request.cancelURL, metadata: request.metadata,
            expiresAt: at.addingTimeInterval(TimeInterval(expiresIn)), createdAt: at, updatedAt: at
        )
        do {
            try provider.validate(options: request.providerOptions)
        } catch {
            throw .invalid(error.providerCode ?? "provider", error.message, code: "parameter_invalid")
        }
        do {
            try provider.validate(payment)
        } catch {
            throw .invalid(error.providerCode ?? "amount", error.message, code: "provider_unsupported")
        }
        return (payment, provider)
    }

    static func text(_ value: String?, param: String, max: Int, required: Bool = false) throws(SettleError) {
        guard let value else {
            if required { throw .invalid(param, "\(param) is required.", code: "parameter_missing") }
            return
        }
        if required && value.trimmingCharacters(in: .whitespaces).isEmpty {
            throw .invalid(param, "\(param) must not be empty.", code: "parameter_missing")
        }
        guard value.count <= max else { throw .invalid(param, "\(param) must be at most \(max) characters.") }
        guard !value.unicodeScalars.contains(where: { $0.value < 0x20 }) else {
            throw .invalid(param, "\(param) must not contain control characters.")
        }
    }

    static func url(_ value: String?, param: String) throws(SettleError) {
        guard let value else { return }
        guard value.count <= 2048, let url = URL(string: value), let scheme = url.scheme?.lowercased(),
            scheme == "https" || scheme == "http", url.host != nil
        else { throw .invalid(param, "\(param) must be an absolute http or https URL.") }
    }

    static func looksLikeEmail(_ value: String) -> Bool {
        let parts = value.split(separator: "@", omittingEmptySubsequences: false)
        return parts.count == 2 && !parts[0].isEmpty && parts[1].contains(".") && !value.contains(" ")
    }
}
