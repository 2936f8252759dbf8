import HTTP

/// The responder around the routes: browser origins, slow-request logging and who
/// may read the operations pages.
public struct ServerSettings: Sendable {
    /// The browser origins allowed to call /api/v1 (see CORSOrigins); none by default.
    public var corsAllowOrigins: [String] = []
    /// A request slower than this is logged at warning with where its time went.
    public var slowRequestSeconds: Double = 5
    /// Addresses (`a.b.c.d`, IPv6, or CIDR blocks) allowed to read /metrics and
    /// /status; REMOTE_ADDR outside every one is refused even if nginx let it through.
    public var operationsAllowFrom: [String] = ["127.0.0.0/8", "::1"]

    public init() {}

    public init(_ reader: EnvironmentReader) throws(ConfigurationError) {
        if let (_, v) = reader.value("CORS_ALLOW_ORIGINS") { corsAllowOrigins = try CORSOrigins.parse(v) }
        if let n = try reader.seconds("SLOW_REQUEST_SECONDS", maximum: 86_400) { slowRequestSeconds = n }
        if let entries = reader.list("OPERATIONS_ALLOW_FROM") {
            for entry in entries where AddressBlock(entry) == nil {
                throw ConfigurationError("OPERATIONS_ALLOW_FROM", "must list IP addresses or CIDR blocks, got \"\(entry)\"")
            }
            operationsAllowFrom = entries
        }
    }

    /// `operationsAllowFrom` parsed (every entry was checked at load).
    public var operationsAllowBlocks: [AddressBlock] { operationsAllowFrom.compactMap(AddressBlock.init) }
}
