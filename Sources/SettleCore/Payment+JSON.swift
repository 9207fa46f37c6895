import Foundation

extension Payment {
    /// The payment as the merchant API shows it. Events carry this same object.
    public var apiObject: JSONValue {
        .object([
            ("id", .string(id)),
            ("object", .string("payment")),
            ("status", .string(status.rawValue)),
            ("amount", .int(amount.minorUnits)),
            ("currency", .string(amount.currency.code)),
            ("provider", .string(provider)),
            ("reference", .string(reference)),
            ("description", .string(description)),
            ("customer", customer.map { c in
                .object([("email", .string(c.email)), ("name", .string(c.name)), ("phone", .string(c.phone))])
            } ?? .null),
            ("payment_method", (paymentMethod ?? PaymentMethod(type: PaymentMethod.checkoutType)).apiObject),
            ("checkout_url", .string(checkoutURL)),
            ("voucher", voucher?.apiObject ?? .null),
            ("return_url", .string(returnURL)),
            ("cancel_url", .string(cancelURL)),
            ("provider_payment_id", .string(providerPaymentID)),
            ("amount_refunded", .int(amountRefunded)),
            ("refunded", .bool(amountRefunded > 0 && amountRefunded == amount.minorUnits)),
            ("fulfilled_at", .int(fulfilledAt.map(UnixTime.seconds))),
            ("failure", failure.map { .object([("code", .string($0.code)), ("message", .string($0.message))]) } ?? .null),
            ("expires_at", .int(expiresAt.map(UnixTime.seconds))),
            ("created_at", .int(UnixTime.seconds(createdAt))),
            ("updated_at", .int(UnixTime.seconds(updatedAt))),
            ("metadata", .stringMap(metadata)),
            ("wallet", .string(walletID)),
            ("livemode", .bool(mode.isLive)),
        ])
    }
}

/// Conversions between `Date` and integer Unix time. Settle stores milliseconds and shows seconds. Dates outside
/// what `Int64` can hold saturate instead of trapping (callers validate the ranges they accept).
public enum UnixTime {
    public static func seconds(_ date: Date) -> Int64 { saturating(date.timeIntervalSince1970) }
    public static func milliseconds(_ date: Date) -> Int64 { saturating(date.timeIntervalSince1970 * 1000) }
    public static func date(milliseconds: Int64) -> Date { Date(timeIntervalSince1970: TimeInterval(milliseconds) / 1000) }

    /// The latest instant Settle accepts from outside: 9999-12-31T23:59:59Z, in seconds.
    public static let maximumSeconds: Int64 = 253_402_300_799

    private static func saturating(_ value: TimeInterval) -> Int64 {
        guard !value.isNaN else { return 0 }
        let floor = value.rounded(.down)
        if floor >= 9.223_372_036_854_775e18 { return .max }
        if floor <= -9.223_372_036_854_775e18 { return .min }
        return Int64(floor)
    }
}
