import Foundation
import HTTP
import JSON
import Storage

/// GET /api/v1/user_recordings/{user_id}: every session whose metadata was last
/// modified within the retention window, newest `date` first, ties by session id
/// descending. One list call per store; metadata bodies come from the cache, and
/// only new ones are fetched (concurrently, in S3).
struct ListRecordings {
    let context: APIContext

    func handle(_ request: Request, _ route: RouteContext) throws -> Response {
        let user = try context.userID(request, route)
        let limit = try Self.limit(request.query["limit"])
        let prefix = Layout.userRecordingsPrefix(user)
        let oldest = context.now().addingTimeInterval(-Double(context.options.retentionDays) * 86_400)

        let objects = try context.storage.list(prefix: prefix, fileName: Layout.metadataName)
        if let snapshot = context.listings.snapshot(user, for: objects), snapshot.cut <= oldest {
            return Self.response(snapshot, oldest: oldest, limit: limit)
        }

        // The active store's copy wins when two stores hold the same session.
        var seen = Set<String>()
        var candidates = 0, duplicates = 0
        var dated: [(lastModified: Date, entry: ListingCache.Entry)] = []
        var entries: [ListingCache.Entry] = []
        var misses: [StoredObject] = []
        for object in objects {
            guard let session = Layout.sessionID(ofMetadataKey: object.info.key, user: user),
                  object.info.lastModified >= oldest else { continue }
            guard seen.insert(session).inserted else { duplicates += 1; continue }
            candidates += 1
            if let entry = context.listings.get(Self.cacheKey(object)) {
                entries.append(entry)
                dated.append((object.info.lastModified, entry))
            } else {
                misses.append(object)
            }
        }
        if !misses.isEmpty {
            // A cold listing fetches every metadata document: the read budget grows by
            // 20 ms per document (1,000 sessions: 20 s more), not a fixed few seconds.
            let budget = (Deadline.current?.remaining ?? Double(context.options.readBudgetSeconds))
                + Double(misses.count) * 0.02
            let documents = try Deadline.replacing(Deadline(secondsFromNow: budget)) { try context.storage.documents(misses) }
            for (object, document) in documents {
                guard let session = Layout.sessionID(ofMetadataKey: object.info.key, user: user),
                      let info = RecordingInfo(user: user, session: session, document: document, storage: object.kind,
                                               lastModified: object.info.lastModified, key: object.info.key) else { continue }
                let entry = ListingCache.Entry(date: info.date, sessionID: info.sessionID, json: info.json.bytes)
                context.listings.put(Self.cacheKey(object), entry)
                entries.append(entry)
                dated.append((object.info.lastModified, entry))
            }
        }
        entries.sort { a, b in a.date != b.date ? a.date > b.date : a.sessionID > b.sessionID }
        // Kept for the next identical list only when every session in the window has
        // its entry (a metadata file that could not be read or used is tried again)
        // and no store's copy stood behind another's (which one shows can change as
        // copies age out). What is outside the window now stays outside.
        if candidates == entries.count, duplicates == 0 {
            dated.sort { a, b in a.entry.date != b.entry.date ? a.entry.date > b.entry.date : a.entry.sessionID > b.entry.sessionID }
            let snapshot = ListingCache.Snapshot(objects: objects, sorted: dated, cut: oldest,
                                                 oldest: dated.map(\.lastModified).min() ?? .distantFuture,
                                                 body: Self.body(entries, limit: nil))
            context.listings.keep(user, snapshot)
        }
        return Self.response(Self.body(entries, limit: limit))
    }

    /// An answer from a snapshot: its body when nothing has aged out of the window
    /// and no limit cuts it, else the same concatenation from its sorted entries.
    static func response(_ snapshot: ListingCache.Snapshot, oldest: Date, limit: Int?) -> Response {
        if snapshot.oldest >= oldest && (limit ?? Int.max) >= snapshot.sorted.count {
            return response(snapshot.body)
        }
        let kept = snapshot.sorted.lazy.filter { $0.lastModified >= oldest }.map(\.entry)
        return response(body(Array(kept), limit: limit))
    }

    static func body(_ entries: [ListingCache.Entry], limit: Int?) -> [UInt8] {
        var body: [UInt8] = [UInt8(ascii: "[")]
        let shown = entries.prefix(limit ?? entries.count)
        body.reserveCapacity(shown.reduce(2) { $0 + $1.json.count + 1 })
        for (i, entry) in shown.enumerated() {
            if i > 0 { body.append(UInt8(ascii: ",")) }
            body.append(contentsOf: entry.json)
        }
        body.append(UInt8(ascii: "]"))
        return body
    }

    static func response(_ body: [UInt8]) -> Response {
        var headers = Headers()
        headers.set("Content-Type", "application/json")
        return Response(status: .ok, headers: headers, body: .bytes(body))
    }

    /// One stored version of one metadata file: its ETag changes with its content
    /// (and, in the local store, with its inode and mtime).
    static func cacheKey(_ object: StoredObject) -> String {
        String(object.store) + "|" + object.info.etag + "|" + object.info.key
    }

    /// `?limit=N`, 1–1000.
    static func limit(_ text: String?) throws -> Int? {
        guard let text else { return nil }
        guard let n = Int(text), (1...1000).contains(n) else {
            throw HTTPError.unprocessable("limit must be an integer from 1 to 1000.")
        }
        return n
    }
}
