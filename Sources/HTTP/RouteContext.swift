/// What the router learned about one request, handed to its handler beside the
/// request itself, which nobody writes once it is built. Per-thread facts that every
/// layer needs without being passed them (the request id on log lines, the phase
/// timings, the storage deadline) live in `Diagnostics.RequestContext` and
/// `Storage.Deadline` instead.
public struct RouteContext: Sendable {
    /// The matched template, e.g. `/api/v1/recordings/{user_id}/{session_id}`.
    public let template: String
    /// The template's `{name}` parameters, each percent-decoded once.
    public let parameters: [String: String]

    public init(template: String, parameters: [String: String] = [:]) {
        self.template = template
        self.parameters = parameters
    }

    /// A template parameter, or "" when the template has none of that name (id
    /// validation then refuses it).
    public func parameter(_ name: String) -> String { parameters[name] ?? "" }
}
