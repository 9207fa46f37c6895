import Foundation
import Hummingbird
import Settle
import SettleCore
import SettleProviders

/// `GET /v1/providers`: every catalog provider, enabled or disabled and why, with its modes, payment methods and
/// resources; `GET /v1/providers/{name}/{resource}`: one of those lists (Wompi's `pse_banks`) for the key's mode.
struct ProvidersController {
    let providers: ProviderRegistry

    func addRoutes(to group: RouterGroup<SettleRequestContext>) {
        group.get("providers", use: list)
        group.get("providers/:name/:resource", use: resource)
    }

    @Sendable func resource(_ request: Request, context: SettleRequestContext) async throws -> Response {
        let caller = try context.requireCaller()
        let name = try context.parameters.require("name")
        let resource = try context.parameters.require("resource")
        let found = try await providers.resource(resource, provider: name, mode: caller.mode)
        return APIResponse.json(
            .object([
                ("object", .string("list")), ("url", .string("/v1/providers/\(name)/\(resource)")), ("data", .array(found.items)),
                ("fetched_at", .string(ISO8601DateFormatter().string(from: found.fetchedAt))),
                ("age_seconds", .int(max(0, Int64(Date().timeIntervalSince(found.fetchedAt))))), ("stale", .bool(found.stale)),
                ("has_more", .bool(false)),
            ])
        )
    }

    @Sendable func list(_ request: Request, context: SettleRequestContext) async throws -> Response {
        _ = try context.requireCaller()
        return APIResponse.list(
            providers.allEntries.map { entry in
                let provider = entry.provider
                let reason: String? =
                    if case .disabled(let reason) = provider.availability { reason } else { nil }
                return .object([
                    ("name", .string(provider.name)), ("object", .string("provider")),
                    ("enabled", .bool(provider.availability.isEnabled)), ("disabled_reason", .string(reason)),
                    ("modes", .array(provider.modes.map(\.rawValue).sorted().map(JSONValue.string))),
                    ("payment_methods", .array(entry.module.paymentMethods.map { .string($0.type) })),
                    ("resources", .array(entry.module.resources.map(JSONValue.string))),
                ])
            },
            hasMore: false
        )
    }
}

/// `GET /health`: `200` when the database answers within two seconds, else `503`.
struct HealthController {
    let health: HealthService
    let runtime: ServerRuntime

    func addRoutes(to router: RouterGroup<SettleRequestContext>) {
        router.get("health", use: check)
        router.get("health/live", use: live)
        router.get("health/ready", use: ready)
    }

    @Sendable func check(_ request: Request, context: SettleRequestContext) async throws -> Response {
        if await health.databaseIsReachable() {
            return APIResponse.json(.object([("status", .string("ok")), ("database", .string("ok"))]))
        }
        return APIResponse.json(.object([("status", .string("unavailable")), ("database", .string("unreachable"))]), status: 503)
    }

    /// `GET /health/live`: the process answers (a restart is what helps otherwise).
    @Sendable func live(_ request: Request, context: SettleRequestContext) async throws -> Response {
        APIResponse.json(.object([("status", .string("ok"))]))
    }

    /// `GET /health/ready`: the database answers, this process applied its migrations, and it is not shutting down;
    /// `503` naming what is not.
    @Sendable func ready(_ request: Request, context: SettleRequestContext) async throws -> Response {
        let draining = runtime.isDraining
        let migrated = health.migrationsApplied
        let reachable = draining ? true : await health.databaseIsReachable()
        let ok = reachable && migrated && !draining
        return APIResponse.json(
            .object([
                ("status", .string(ok ? "ok" : "unavailable")), ("database", .string(reachable ? "ok" : "unreachable")),
                ("migrations", .string(migrated ? "applied" : "pending")), ("draining", .bool(draining)),
            ]),
            status: ok ? 200 : 503
        )
    }
}
