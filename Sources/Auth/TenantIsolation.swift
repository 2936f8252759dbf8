import HTTP

/// A caller acts only for themself: a `user_id` in a path, form field or body
/// that names someone else is 403, checked before any storage access.
public enum TenantIsolation {
    /// The user a request acts for: `requested` when given (empty counts as
    /// omitted), else the caller.
    public static func userID(requested: String?, caller: String) throws(HTTPError) -> String {
        guard let requested, !requested.isEmpty else { return caller }
        guard requested == caller else {
            throw HTTPError.forbidden("Not allowed: the token's subject is not this user_id")
        }
        return requested
    }
}

extension Request {
    /// `TenantIsolation.userID` for the authenticated caller. Never open: a request
    /// that was not authenticated gets 401.
    public func actingUserID(_ requested: String?) throws(HTTPError) -> String {
        guard let caller, !caller.isEmpty else {
            throw JWTAuthenticator.unauthorized("Not authenticated", error: nil)
        }
        return try TenantIsolation.userID(requested: requested, caller: caller)
    }
}
