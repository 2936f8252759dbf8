/// The non-HTTP parameters the front end passed with a request (FastCGI params such
/// as `REMOTE_ADDR` or `RECSTORE_ACCEL_PREFIX`), in arrival order; the first of a
/// repeated name wins. A list scanned on lookup: a request carries a dozen, and
/// handlers read one or two, so hashing each name into a dictionary cost more than
/// every lookup together (bench/results.md).
public struct ServerParameters: Sendable, ExpressibleByDictionaryLiteral {
    public private(set) var pairs: [(name: String, value: String)]

    public init(_ pairs: [(name: String, value: String)] = []) { self.pairs = pairs }

    public init(dictionaryLiteral elements: (String, String)...) {
        pairs = elements.map { (name: $0.0, value: $0.1) }
    }

    public subscript(name: String) -> String? {
        let length = name.utf8.count
        for pair in pairs where pair.name.utf8.count == length && pair.name == name { return pair.value }
        return nil
    }
}
