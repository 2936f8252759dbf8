/// The fixed label values of the host metrics. Every label value is one of these
/// (or a route template the router registered), so a metric's series stay
/// bounded whatever clients send, and each series has a fixed slot in the
/// shared counters.
public enum MetricCatalog {
    public static let methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "OTHER"]

    /// The statuses the service can answer with; anything else counts as "other".
    public static let statuses: [Int] = [200, 201, 204, 206, 301, 302, 304, 307, 308,
                                         400, 401, 403, 404, 405, 406, 408, 409, 410, 411, 412, 413, 414, 415, 416,
                                         422, 428, 429, 431, 499, 500, 501, 502, 503, 504]
    static let statusSlots = statuses.count + 1

    /// Route templates get the first `routeCapacity - 1` indices in registration
    /// order; the last one is every path no route matched.
    public static let routeCapacity = 48
    public static let unmatchedRoute = routeCapacity - 1
    public static let unmatchedRouteLabel = "unmatched"

    /// Upper bounds (seconds) of the request duration histogram.
    public static let durationBuckets: [Double] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]

    public static let s3Operations = ["AbortMultipartUpload", "CompleteMultipartUpload", "CreateMultipartUpload",
                                      "DeleteObject", "DeleteObjects", "GetObject", "HeadBucket", "HeadObject",
                                      "ListObjectsV2", "PutObject", "UploadPart", "other"]
    /// One S3 attempt's outcome: an answer the operation expects (2xx, 3xx, 404,
    /// 409, 412), another 4xx, a refusal (403), a 5xx/throttle, or no answer at all.
    public enum S3Outcome: Int, CaseIterable, Sendable {
        case success, clientError, refused, serverError, networkError
        public static func answered(status: Int) -> S3Outcome {
            if status < 400 || status == 404 || status == 409 || status == 412 { return .success }
            return status == 403 ? .refused : .clientError
        }
        public var label: String {
            switch self {
            case .success: "success"
            case .clientError: "client_error"
            case .refused: "refused"
            case .serverError: "server_error"
            case .networkError: "network_error"
            }
        }
    }
    public enum JWKSOutcome: Int, CaseIterable, Sendable {
        case success, failure
        public var label: String { self == .success ? "success" : "failure" }
    }

    static func methodIndex(_ method: String) -> Int {
        switch method {
        case "GET": 0
        case "HEAD": 1
        case "POST": 2
        case "PUT": 3
        case "PATCH": 4
        case "DELETE": 5
        case "OPTIONS": 6
        default: 7
        }
    }

    static func statusIndex(_ status: Int) -> Int {
        // Binary search: the list is sorted.
        var low = 0, high = statuses.count - 1
        while low <= high {
            let mid = (low + high) / 2
            if statuses[mid] == status { return mid }
            if statuses[mid] < status { low = mid + 1 } else { high = mid - 1 }
        }
        return statuses.count
    }

    static func s3OperationIndex(_ operation: String) -> Int {
        s3Operations.firstIndex(of: operation) ?? s3Operations.count - 1
    }
}
