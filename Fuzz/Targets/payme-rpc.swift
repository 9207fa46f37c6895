// Payme's JSON-RPC calls as Settle reads them before authenticating (PaymeCall), and every parameter accessor the
// Merchant API uses after. Nothing may crash; times that pass are small enough for the 12-hour arithmetic.

enum PaymeRPCTarget {
    static func run(_ bytes: [UInt8]) {
        guard let call = try? PaymeCall(body: bytes) else { return }
        _ = call.eventType
        _ = try? call.validMethod()
        let params = call.params
        _ = try? params.string("id")
        _ = try? params.amount()
        _ = try? params.account()
        _ = try? params.object("fiscal_data")
        _ = try? params.integer("reason")
        for name in ["time", "from", "to"] {
            if let time = try? params.time(name) {
                let now: Int64 = 1_800_000_000_000
                precondition(now - time > -300_000_000_000_000 && time + PaymeTimeout.milliseconds > time, "time out of range")
            }
        }
        _ = PaymeRPC.error(.invalidRequest("id"), id: call.id)
    }
}

enum PaymeTimeout {
    static let milliseconds: Int64 = 43_200_000
}
