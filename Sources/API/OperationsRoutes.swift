import Diagnostics
import HTTP
import JSON

/// GET /metrics and GET /status: the host's numbers, for monitoring only. nginx
/// passes them only from its allow-list; the responder checks REMOTE_ADDR against
/// `OPERATIONS_ALLOW_FROM` as well, so a front end that forgets costs nothing.
struct OperationsRoutes {
    let allowed: [AddressBlock]
    /// The router's templates, read when a page is asked for (every route is registered by then).
    let templates: @Sendable () -> [String]


    func metrics(_ request: Request, _ route: RouteContext) throws -> Response {
        let exposition = try page(request)
        var response = Response.text(exposition.prometheusText(), contentType: MetricsExposition.contentType)
        response.headers.set("Cache-Control", "no-store")
        return response
    }

    /// `?full` adds one entry per worker process.
    func status(_ request: Request, _ route: RouteContext) throws -> Response {
        let exposition = try page(request)
        let full = request.rawQuery.split(separator: "&").contains { $0 == "full" || $0.hasPrefix("full=") }
        var response = Response.json(exposition.status(full: full))
        response.headers.set("Cache-Control", "no-store")
        return response
    }

    private func page(_ request: Request) throws -> MetricsExposition {
        let peer = request.serverParameters["REMOTE_ADDR"] ?? ""
        guard allowed.contains(where: { $0.contains(peer) }) else {
            throw HTTPError.forbidden("Operations pages are only served to the monitoring addresses (OPERATIONS_ALLOW_FROM).")
        }
        guard let host = Metrics.host else {
            throw HTTPError.unavailable("Host metrics are not available in this process (it was not started by `recstore serve`).")
        }
        return MetricsExposition(host: host, routes: templates())
    }
}
