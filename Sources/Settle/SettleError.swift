import SettleCore
import SettleProviders

/// A typed error from a use case, with everything the API needs to render it. Modelled on PostgresNIO's `PSQLError`:
/// a struct with a nested ``Code`` whose base is private, so codes can be added without breaking anyone's `switch`.
/// Messages are written for the merchant's developer and never contain secrets, SQL or stack traces.
public struct SettleError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The error's family, shown as `error.type`.
    public enum Kind: String, Sendable, Hashable {
        case invalidRequest = "invalid_request_error"
        case authentication = "authentication_error"
        case idempotency = "idempotency_error"
        case provider = "provider_error"
        case rateLimit = "rate_limit_error"
        case api = "api_error"
    }

    /// A stable machine-readable code (`parameter_invalid`, `payment_not_found`, …), with its family and HTTP status.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Base: String, Sendable, Hashable {
            case parameterInvalid = "parameter_invalid"
            case parameterMissing = "parameter_missing"
            case parameterUnknown = "parameter_unknown"
            case amountInvalid = "amount_invalid"
            case amountTooLarge = "amount_too_large"
            case currencyInvalid = "currency_invalid"
            case expiresInInvalid = "expires_in_invalid"
            case providerUnknown = "provider_unknown"
            case providerModeUnsupported = "provider_mode_unsupported"
            case invalidJSON = "invalid_json"
            case unsupportedMediaType = "unsupported_media_type"
            case bodyTooLarge = "body_too_large"
            case badRequest = "bad_request"
            case paymentNotFound = "payment_not_found"
            case eventNotFound = "event_not_found"
            case webhookEndpointNotFound = "webhook_endpoint_not_found"
            case providerNotFound = "provider_not_found"
            case routeNotFound = "route_not_found"
            case methodNotAllowed = "method_not_allowed"
            case paymentNotCancelable = "payment_not_cancelable"
            case paymentNotFulfillable = "payment_not_fulfillable"
            case paymentNotPayable = "payment_not_payable"
            case paymentChanged = "payment_changed"
            case csrfTokenInvalid = "csrf_token_invalid"
            case apiKeyMissing = "api_key_missing"
            case apiKeyInvalid = "api_key_invalid"
            case invalidSignature = "invalid_signature"
            case malformedNotification = "malformed_notification"
            case idempotencyKeyReused = "idempotency_key_reused"
            case idempotencyKeyInUse = "idempotency_key_in_use"
            case providerError = "provider_error"
            case providerUnavailable = "provider_unavailable"
            case providerDisabled = "provider_disabled"
            case providerUnsupported = "provider_unsupported"
            case sandboxDeliveryFailed = "sandbox_delivery_failed"
            case rateLimited = "rate_limited"
            case storageUnavailable = "storage_unavailable"
            case settingCorrupt = "setting_corrupt"
            case internalError = "internal_error"
            case configurationRefused = "configuration_refused"
            case settlementFileInvalid = "settlement_file_invalid"
            case settlementImportNotFound = "settlement_import_not_found"
            case paymentNotConfirmable = "payment_not_confirmable"
            case amountMismatch = "amount_mismatch"
            case receiptAlreadyUsed = "receipt_already_used"
            case paymentNotRefundable = "payment_not_refundable"
            case refundNotFound = "refund_not_found"
            case refundNotConfirmable = "refund_not_confirmable"
            case refundNotSupported = "refund_not_supported"
            case paymentNotResolvable = "payment_not_resolvable"
            case reconciliationNotFound = "reconciliation_not_found"
            case reconciliationNotSupported = "reconciliation_not_supported"
            case walletNotFound = "wallet_not_found"
            case transferNotFound = "transfer_not_found"
            case insufficientFunds = "insufficient_funds"
            case walletCurrency = "wallet_currency"
            case sameWallet = "same_wallet"
            case idempotencyKeyRequired = "idempotency_key_required"
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        public static let walletNotFound = Code(.walletNotFound)
        public static let transferNotFound = Code(.transferNotFound)
        /// A wallet that may not go below zero does not hold the amount (402).
        public static let insufficientFunds = Code(.insufficientFunds)
        /// A wallet of another currency than the payment's or the other wallet's.
        public static let walletCurrency = Code(.walletCurrency)
        public static let sameWallet = Code(.sameWallet)
        public static let idempotencyKeyRequired = Code(.idempotencyKeyRequired)
        public static let parameterInvalid = Code(.parameterInvalid)
        public static let parameterMissing = Code(.parameterMissing)
        public static let parameterUnknown = Code(.parameterUnknown)
        public static let amountInvalid = Code(.amountInvalid)
        public static let amountTooLarge = Code(.amountTooLarge)
        public static let currencyInvalid = Code(.currencyInvalid)
        public static let expiresInInvalid = Code(.expiresInInvalid)
        public static let providerUnknown = Code(.providerUnknown)
        public static let providerModeUnsupported = Code(.providerModeUnsupported)
        public static let invalidJSON = Code(.invalidJSON)
        public static let unsupportedMediaType = Code(.unsupportedMediaType)
        public static let bodyTooLarge = Code(.bodyTooLarge)
        public static let badRequest = Code(.badRequest)
        public static let paymentNotFound = Code(.paymentNotFound)
        public static let eventNotFound = Code(.eventNotFound)
        public static let webhookEndpointNotFound = Code(.webhookEndpointNotFound)
        public static let providerNotFound = Code(.providerNotFound)
        public static let routeNotFound = Code(.routeNotFound)
        public static let methodNotAllowed = Code(.methodNotAllowed)
        public static let paymentNotCancelable = Code(.paymentNotCancelable)
        public static let paymentNotFulfillable = Code(.paymentNotFulfillable)
        /// The buyer's page was asked to act on a payment that is already final.
        public static let paymentNotPayable = Code(.paymentNotPayable)
        public static let paymentChanged = Code(.paymentChanged)
        public static let csrfTokenInvalid = Code(.csrfTokenInvalid)
        public static let apiKeyMissing = Code(.apiKeyMissing)
        public static let apiKeyInvalid = Code(.apiKeyInvalid)
        public static let invalidSignature = Code(.invalidSignature)
        public static let malformedNotification = Code(.malformedNotification)
        public static let idempotencyKeyReused = Code(.idempotencyKeyReused)
        public static let idempotencyKeyInUse = Code(.idempotencyKeyInUse)
        /// The provider refused the request (502).
        public static let providerError = Code(.providerError)
        /// The provider could not be reached, or its circuit is open (503).
        public static let providerUnavailable = Code(.providerUnavailable)
        public static let providerDisabled = Code(.providerDisabled)
        public static let providerUnsupported = Code(.providerUnsupported)
        public static let sandboxDeliveryFailed = Code(.sandboxDeliveryFailed)
        public static let rateLimited = Code(.rateLimited)
        public static let storageUnavailable = Code(.storageUnavailable)
        public static let settingCorrupt = Code(.settingCorrupt)
        public static let internalError = Code(.internalError)
        /// Settle will not start with this configuration (a provider's keys of two environments mixed).
        public static let configurationRefused = Code(.configurationRefused)
        /// A settlement file that cannot be read: refused whole, nothing applied.
        public static let settlementFileInvalid = Code(.settlementFileInvalid)
        public static let settlementImportNotFound = Code(.settlementImportNotFound)
        /// A cash confirmation for a payment that is not an open voucher.
        public static let paymentNotConfirmable = Code(.paymentNotConfirmable)
        /// A confirmed amount that is not the payment's.
        public static let amountMismatch = Code(.amountMismatch)
        /// A cash receipt number already recorded for another payment.
        public static let receiptAlreadyUsed = Code(.receiptAlreadyUsed)
        public static let paymentNotRefundable = Code(.paymentNotRefundable)
        public static let refundNotFound = Code(.refundNotFound)
        public static let refundNotConfirmable = Code(.refundNotConfirmable)
        /// The provider refunds this payment only in other ways (Wompi voids card payments in full only).
        public static let refundNotSupported = Code(.refundNotSupported)
        /// A resolution asked for a payment that is not under review.
        public static let paymentNotResolvable = Code(.paymentNotResolvable)
        public static let reconciliationNotFound = Code(.reconciliationNotFound)
        /// The provider's records cannot be read (Efecty's are its settlement files).
        public static let reconciliationNotSupported = Code(.reconciliationNotSupported)

        public var description: String { base.rawValue }

        /// The family shown as `error.type`.
        public var kind: Kind {
            switch base {
            case .apiKeyMissing, .apiKeyInvalid, .invalidSignature: .authentication
            case .idempotencyKeyReused, .idempotencyKeyInUse: .idempotency
            case .providerError, .providerUnavailable, .providerDisabled, .sandboxDeliveryFailed: .provider
            case .rateLimited: .rateLimit
            case .paymentChanged, .storageUnavailable, .settingCorrupt, .internalError, .configurationRefused: .api
            default: .invalidRequest
            }
        }

        /// The HTTP status the error answers with.
        public var status: Int {
            switch base {
            case .unsupportedMediaType: 415
            case .bodyTooLarge: 413
            case .paymentNotFound, .eventNotFound, .webhookEndpointNotFound, .providerNotFound, .routeNotFound, .settlementImportNotFound, .refundNotFound, .reconciliationNotFound, .walletNotFound, .transferNotFound: 404
            case .insufficientFunds: 402
            case .methodNotAllowed: 405
            case .paymentNotCancelable, .paymentNotFulfillable, .paymentNotPayable, .paymentChanged, .idempotencyKeyInUse, .paymentNotConfirmable, .receiptAlreadyUsed, .paymentNotRefundable, .refundNotConfirmable, .paymentNotResolvable: 409
            case .csrfTokenInvalid: 403
            case .apiKeyMissing, .apiKeyInvalid, .invalidSignature: 401
            case .idempotencyKeyReused: 422
            case .providerError, .sandboxDeliveryFailed: 502
            case .providerUnavailable, .providerDisabled, .storageUnavailable: 503
            case .rateLimited: 429
            case .settingCorrupt, .internalError, .configurationRefused: 500
            default: 400
            }
        }
    }

    public let code: Code
    public let message: String
    /// The request parameter at fault, if any.
    public let param: String?
    /// Seconds after which a retry may succeed (`Retry-After`), for rate limits.
    public let retryAfter: Int?
    /// The HTTP status: the code's, unless this use of it says otherwise (a disabled provider is a 400 when a payment
    /// names it, a 503 when its notifications arrive).
    public let httpStatus: Int

    public init(_ code: Code, _ message: String, param: String? = nil, retryAfter: Int? = nil, status: Int? = nil) {
        self.code = code
        self.message = message
        self.param = param
        self.retryAfter = retryAfter
        self.httpStatus = status ?? code.status
    }

    public var kind: Kind { code.kind }
    public var description: String { "\(code): \(message)" }

    public static func invalid(_ param: String, _ message: String, code: Code = .parameterInvalid) -> SettleError {
        SettleError(code, message, param: param)
    }

    /// The objects a `…_not_found` error can name.
    public enum Object: String, Sendable {
        case payment
        case event
        case webhookEndpoint = "webhook_endpoint"
        case provider
        case settlementImport = "settlement_import"
        case refund
        case reconciliation
        case wallet
        case transfer
    }

    public static func notFound(_ object: Object, id: String) -> SettleError {
        let code: Code =
            switch object {
            case .payment: .paymentNotFound
            case .event: .eventNotFound
            case .webhookEndpoint: .webhookEndpointNotFound
            case .provider: .providerNotFound
            case .settlementImport: .settlementImportNotFound
            case .refund: .refundNotFound
            case .reconciliation: .reconciliationNotFound
            case .wallet: .walletNotFound
            case .transfer: .transferNotFound
            }
        return SettleError(code, "No \(object.rawValue) with id \(Text.echo(id, limit: 64)).", param: "id")
    }

    public static let storageUnavailable = SettleError(.storageUnavailable, "Settle's database is unavailable; retry later.")

    /// A provider's failure as the merchant sees it: refused (502), unavailable (503), disabled, or unsupported.
    static func provider(_ error: ProviderError, paymentID: String, action: String = "create") -> SettleError {
        let (code, status): (Code, Int) =
            switch error.code {
            case .rejected: (.providerError, 502)
            case .disabled: (.providerDisabled, 503)
            case .unsupported: (.providerUnsupported, 502)
            default: (.providerUnavailable, 503)
            }
        return SettleError(code, "The provider could not \(action) payment \(paymentID): \(error.message)", status: status)
    }
}
