import Foundation
import Synchronization

/// Each listed recording, already serialized, per stored version of its metadata
/// (store, key, ETag). `session_metadata.json` is never rewritten (409 rule), so a
/// steady-state listing is a list call, a sort and a concatenation: no metadata
/// reads, no JSON building. Bounded; when full it starts over.
final class ListingCache: Sendable {
    struct Entry: Sendable {
        let date: Date
        let sessionID: String
        let json: [UInt8]
    }

    private let entries = Mutex<[String: Entry]>([:])
    private let capacity: Int

    init(capacity: Int = 50_000) { self.capacity = capacity }

    func get(_ key: String) -> Entry? { entries.withLock { $0[key] } }

    func put(_ key: String, _ entry: Entry) {
        entries.withLock { table in
            if table.count >= capacity { table.removeAll(keepingCapacity: true) }
            table[key] = entry
        }
    }
}
