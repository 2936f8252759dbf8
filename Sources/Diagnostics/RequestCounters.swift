import Foundation

/// Per-thread tallies of the work one request caused (e.g. `s3_requests`), added
/// by the layers that do the work and written into the request's access-log line
/// by the transport. A request runs on one thread, so a thread-local is enough;
/// work handed to helper threads (multipart parts) is not counted.
public enum RequestCounters {
    private static let key = "recstore.request-counters"

    public static func add(_ name: String, _ amount: Int = 1) {
        let dictionary = Thread.current.threadDictionary
        var counters = dictionary[key] as? [String: Int] ?? [:]
        counters[name, default: 0] += amount
        dictionary[key] = counters
    }

    /// The tallies since the last call, sorted by name; resets them.
    public static func take() -> [(String, Int)] {
        let dictionary = Thread.current.threadDictionary
        guard let counters = dictionary[key] as? [String: Int], !counters.isEmpty else { return [] }
        dictionary[key] = [String: Int]()
        return counters.sorted { $0.key < $1.key }
    }
}
