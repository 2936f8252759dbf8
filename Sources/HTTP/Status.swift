public struct Status: RawRepresentable, Hashable, Sendable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }
    public init(_ code: Int) { self.rawValue = code }

    public static let ok = Status(200), created = Status(201), partialContent = Status(206)
    public static let found = Status(302), notModified = Status(304)
    public static let badRequest = Status(400), unauthorized = Status(401), forbidden = Status(403)
    public static let notFound = Status(404), methodNotAllowed = Status(405), requestTimeout = Status(408)
    public static let conflict = Status(409)
    public static let lengthRequired = Status(411), preconditionFailed = Status(412)
    public static let payloadTooLarge = Status(413), unsupportedMediaType = Status(415)
    public static let rangeNotSatisfiable = Status(416), unprocessable = Status(422)
    public static let internalServerError = Status(500), serviceUnavailable = Status(503)

    public var reason: String {
        switch rawValue {
        case 200: "OK"; case 201: "Created"; case 204: "No Content"; case 206: "Partial Content"
        case 302: "Found"; case 304: "Not Modified"
        case 400: "Bad Request"; case 401: "Unauthorized"; case 403: "Forbidden"; case 404: "Not Found"
        case 405: "Method Not Allowed"; case 408: "Request Timeout"; case 409: "Conflict"; case 411: "Length Required"
        case 412: "Precondition Failed"; case 413: "Content Too Large"; case 415: "Unsupported Media Type"
        case 416: "Range Not Satisfiable"; case 422: "Unprocessable Content"
        case 500: "Internal Server Error"; case 502: "Bad Gateway"; case 503: "Service Unavailable"
        default: "Status \(rawValue)"
        }
    }
}
