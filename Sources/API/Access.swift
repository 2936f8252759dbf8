import Auth
import HTTP

/// The order every /api/v1 route follows: the token (401), then the ids' shape
/// (422), then ownership (403), and only then storage.
extension APIContext {
    /// The caller's subject, or a 401 from the authenticator: the one place a
    /// route learns who calls (handlers pass it on as a value).
    func caller(_ request: Request) throws -> String {
        try authenticator.authenticate(request).subject
    }

    /// A user id from a form or body: empty or absent means the caller, whose
    /// subject must then be a valid id too (a subject such as `victim/x` would
    /// otherwise write into another user's prefix).
    func user(_ given: String?, caller: String) throws -> String {
        guard let given, !given.isEmpty else { return try Identifiers.checkUserID(caller) }
        return try Identifiers.checkUserID(given)
    }

    func requireOwner(_ user: String, caller: String) throws {
        guard user == caller else {
            throw HTTPError.forbidden("The token's subject does not match the user_id: you can only access your own data.")
        }
    }

    /// `{user_id}` and `{session_id}` of a recording route, checked in that order.
    func recordingIDs(_ request: Request, _ route: RouteContext) throws -> (user: String, session: String) {
        let caller = try caller(request)
        let user = try Identifiers.checkUserID(route.parameter("user_id"))
        let session = try Identifiers.checkSessionID(route.parameter("session_id"))
        try requireOwner(user, caller: caller)
        return (user, session)
    }

    /// `{user_id}` of a user route.
    func userID(_ request: Request, _ route: RouteContext) throws -> String {
        let caller = try caller(request)
        let user = try Identifiers.checkUserID(route.parameter("user_id"))
        try requireOwner(user, caller: caller)
        return user
    }
}
