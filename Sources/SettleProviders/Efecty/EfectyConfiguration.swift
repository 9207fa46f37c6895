import Foundation
import SettleCore

/// Settings for Efecty under the merchant's own collection agreement, read from `SETTLE_EFECTY_*` (see
/// ``EfectyProvider/settings``). Without an agreement number the provider is disabled.
public struct EfectyConfiguration: Sendable {
    public static let defaultVoucherHours = 72
    public static let voucherHoursRange = 1...720
    /// Efecty's usual limits per voucher, in COP minor units: 20.000 to 6.000.000 pesos.
    public static let defaultMinimum: Int64 = 20_000_00
    public static let defaultMaximum: Int64 = 6_000_000_00
    public static let defaultImportInterval = 1800

    public var agreement: String?
    public var referencePrefix: String
    var voucherHoursSetting: String?
    var minimumSetting: String?
    var maximumSetting: String?
    /// A folder Settle watches for settlement files; `nil`, imports only by command or API.
    public var inbox: String?
    var importIntervalSetting: String?
    var inboxModeSetting: String?

    public init(
        agreement: String? = nil, referencePrefix: String? = nil, voucherHours: String? = nil, minimumAmount: String? = nil,
        maximumAmount: String? = nil, inbox: String? = nil, importInterval: String? = nil, inboxMode: String? = nil
    ) {
        self.inboxModeSetting = inboxMode
        self.agreement = agreement
        self.referencePrefix = referencePrefix ?? ""
        self.voucherHoursSetting = voucherHours
        self.minimumSetting = minimumAmount
        self.maximumSetting = maximumAmount
        self.inbox = inbox.flatMap { $0.isEmpty ? nil : $0 }
        self.importIntervalSetting = importInterval
    }

    static func variable(_ key: String) -> String { ProviderSetting.environmentName(provider: "efecty", key: key) }

    static func isDigits(_ text: String) -> Bool { text.utf8.allSatisfy { (0x30...0x39).contains($0) } }

    public var voucherHours: Int { voucherHoursSetting.flatMap(Int.init) ?? Self.defaultVoucherHours }
    public var minimumAmount: Int64 { minimumSetting.flatMap { Int64($0) } ?? Self.defaultMinimum }
    public var maximumAmount: Int64 { maximumSetting.flatMap { Int64($0) } ?? Self.defaultMaximum }
    public var importInterval: Int { importIntervalSetting.flatMap(Int.init) ?? Self.defaultImportInterval }
    /// The payments the inbox's files settle: live, unless set to `test` (the counter emulator's files).
    public var inboxMode: Mode { inboxModeSetting == "test" ? .test : .live }

    /// Why the provider cannot be used, naming the variable; `nil` when it can.
    var problem: String? {
        guard let agreement, !agreement.isEmpty else { return "\(Self.variable("agreement")) is not set" }
        guard agreement.utf8.count <= 12, Self.isDigits(agreement) else { return "\(Self.variable("agreement")) must be the agreement's number (digits)" }
        guard referencePrefix.utf8.count <= EfectyReference.maximumPrefixLength, Self.isDigits(referencePrefix) else {
            return "\(Self.variable("reference_prefix")) must be at most \(EfectyReference.maximumPrefixLength) digits"
        }
        if let text = voucherHoursSetting, Int(text).map(Self.voucherHoursRange.contains) != true {
            return "\(Self.variable("voucher_hours")) must be a whole number of hours from 1 to 720"
        }
        for (key, text) in [("min_amount", minimumSetting), ("max_amount", maximumSetting)] {
            if let text, Int64(text).map({ $0 > 0 && $0 % 100 == 0 }) != true {
                return "\(Self.variable(key)) must be COP minor units in whole pesos (a multiple of 100)"
            }
        }
        guard minimumAmount <= maximumAmount else { return "\(Self.variable("min_amount")) is above \(Self.variable("max_amount"))" }
        if let text = inboxModeSetting, text != "test", text != "live" { return "\(Self.variable("inbox_mode")) must be test or live" }
        if let text = importIntervalSetting, Int(text).map({ (10...86_400).contains($0) }) != true {
            return "\(Self.variable("import_interval")) must be seconds from 10 to 86400"
        }
        return nil
    }
}
