import Hummingbird
import Settle
import SettleCore
import SettleProviders
import SettleStore

/// `GET /v1/providers`: every provider, enabled or disabled and why. `GET /health`: the database answers.
struct ProvidersController {
    let providers: ProviderRegistry

    func addRoutes(to group: RouterGroup<SettleRequestContext>) {
        group.get("providers", use: list)
    }

    @Sendable func list(_ request: Request, context: SettleRequestContext) async throws -> Response {
        _ = try context.requireCaller()
        return APIResponse.list(
            providers.all.map { provider in
                let reason: String? =
                    if case .disabled(let reason) = provider.availability { reason } else { nil }
                return .object([
                    ("name", .string(provider.name)), ("object", .string("provider")),
                    ("enabled", .bool(provider.availability.isEnabled)), ("disabled_reason", .string(reason)),
                    ("modes", .array(provider.modes.map(\.rawValue).sorted().map(JSONValue.string))),
                ])
            },
            hasMore: false
        )
    }
}

struct HealthController {
    let store: Store

    func addRoutes(to router: Router<SettleRequestContext>) {
        router.get("health", use: health)
    }

    @Sendable func health(_ request: Request, context: SettleRequestContext) async throws -> Response {
        do {
            _ = try await store.read { connection in try await connection.query("SELECT 1 AS one") }
            return APIResponse.json(.object([("status", .string("ok")), ("database", .string("ok"))]))
        } catch {
            return APIResponse.json(.object([("status", .string("unavailable")), ("database", .string("unreachable"))]), status: 503)
        }
    }
}
