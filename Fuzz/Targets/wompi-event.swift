// Wompi's event checksum on an outside body: parsed strictly, the listed properties walked under `data`, the
// checksum compared. Nothing may crash or hang, whatever the paths, depths, types and lengths.
import Foundation

enum WompiEventTarget {
    static func run(_ bytes: [UInt8]) {
        guard let event = try? JSONValue.parse(bytes) else { return }
        _ = try? WompiSignature.verify(event: event, header: nil, secret: "test_events_AbCdEf0123456789")
        _ = try? WompiSignature.verify(
            event: event, header: "a0de57471027cd903ad3dcf9528ac4b7e9f978e72abed309a3474dfb405fa309", secret: "test_events_AbCdEf0123456789"
        )
    }
}
