// One libFuzzer binary for every target; SETTLE_FUZZ_TARGET names the one to run (scripts/fuzz sets it).
import Foundation

private let target = ProcessInfo.processInfo.environment["SETTLE_FUZZ_TARGET"] ?? ""

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    switch target {
    case "json": JSONTarget.run(bytes)
    case "standard-webhooks": StandardWebhooksTarget.run(bytes)
    case "stripe-signature": StripeSignatureTarget.run(bytes)
    case "payme-rpc": PaymeRPCTarget.run(bytes)
    case "form": FormTarget.run(bytes)
    case "wompi-event": WompiEventTarget.run(bytes)
    case "payu-confirmation": PayUConfirmationTarget.run(bytes)
    case "efecty-settlement": EfectySettlementTarget.run(bytes)
    case "omise-event": OmiseEventTarget.run(bytes)
    default: fatalError("SETTLE_FUZZ_TARGET must name a target")
    }
    return 0
}
