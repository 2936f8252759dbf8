import Foundation
import Storage
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

    /// The last listing of a user, as computed from exactly `objects` (what the
    /// stores listed): while a new list call answers the same objects, the sorted
    /// entries and the body are reused instead of rebuilt (bench/results.md).
    struct Snapshot: Sendable {
        let objects: [StoredObject]
        /// Newest first, each with its metadata's lastModified for the retention cut.
        let sorted: [(lastModified: Date, entry: Entry)]
        /// The retention cut it was computed with: later cuts only remove more (a
        /// clock set back makes it unusable).
        let cut: Date
        /// The oldest lastModified among them: while it is inside the retention
        /// window, nothing is cut and `body` is the whole answer.
        let oldest: Date
        let body: [UInt8]
    }

    private let snapshots = Mutex<[String: Snapshot]>([:])
    let snapshotCapacity: Int

    init(capacity: Int = 50_000, snapshotCapacity: Int = 256) {
        self.capacity = capacity
        self.snapshotCapacity = max(1, snapshotCapacity)
    }

    /// The user's snapshot when it was computed from the same objects.
    func snapshot(_ user: String, for objects: [StoredObject]) -> Snapshot? {
        guard let snapshot = snapshots.withLock({ $0[user] }), snapshot.objects.count == objects.count else { return nil }
        for (a, b) in zip(snapshot.objects, objects) where a.store != b.store || a.kind != b.kind || a.info != b.info {
            return nil
        }
        return snapshot
    }

    func keep(_ user: String, _ snapshot: Snapshot) {
        snapshots.withLock { table in
            if table.count >= snapshotCapacity, table[user] == nil { table.removeAll(keepingCapacity: true) }
            table[user] = snapshot
        }
    }

    func get(_ key: String) -> Entry? { entries.withLock { $0[key] } }

    func put(_ key: String, _ entry: Entry) {
        entries.withLock { table in
            if table.count >= capacity { table.removeAll(keepingCapacity: true) }
            table[key] = entry
        }
    }
}
