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

    func handle(_ request: Request) throws -> Response {
        let user = try context.userID(request)
        let limit = try Self.limit(request.query["limit"])
        let prefix = Layout.userRecordingsPrefix(user)
        let oldest = context.now().addingTimeInterval(-Double(context.configuration.retentionDays) * 86_400)

        // The active store's copy wins when two stores hold the same session.
        var seen = Set<String>()
        var entries: [ListingCache.Entry] = []
        var misses: [StoredObject] = []
        for object in try context.storage.list(prefix: prefix, fileName: Layout.metadataName) {
            guard let session = Layout.sessionID(ofMetadataKey: object.info.key, user: user),
                  object.info.lastModified >= oldest, seen.insert(session).inserted else { continue }
            if let entry = context.listings.get(Self.cacheKey(object)) {
                entries.append(entry)
            } else {
                misses.append(object)
            }
        }
        if !misses.isEmpty {
            // A cold listing fetches every metadata document: the read budget grows by
            // 20 ms per document (1,000 sessions: 20 s more), not a fixed few seconds.
            let budget = (Deadline.current?.remaining ?? Double(context.configuration.s3ReadBudgetSeconds))
                + Double(misses.count) * 0.02
            let documents = try Deadline.replacing(Deadline(secondsFromNow: budget)) { try context.storage.documents(misses) }
            for (object, document) in documents {
                guard let session = Layout.sessionID(ofMetadataKey: object.info.key, user: user),
                      let info = RecordingInfo(user: user, session: session, document: document, storage: object.kind,
                                               lastModified: object.info.lastModified, key: object.info.key) else { continue }
                let entry = ListingCache.Entry(date: info.date, sessionID: info.sessionID, json: info.json.bytes)
                context.listings.put(Self.cacheKey(object), entry)
                entries.append(entry)
            }
        }
        entries.sort { a, b in a.date != b.date ? a.date > b.date : a.sessionID > b.sessionID }
        var body: [UInt8] = [UInt8(ascii: "[")]
        body.reserveCapacity(entries.count * 600 + 2)
        for (i, entry) in entries.prefix(limit ?? entries.count).enumerated() {
            if i > 0 { body.append(UInt8(ascii: ",")) }
            body.append(contentsOf: entry.json)
        }
        body.append(UInt8(ascii: "]"))
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
