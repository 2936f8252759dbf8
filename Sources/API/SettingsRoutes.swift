import Diagnostics
import HTTP
import JSON
import Storage
import Synchronization

/// GET /api/v1/user_settings/{user_id} and POST /api/v1/user_settings.
///
/// Settings live in the active store only and never fall back: when it cannot be
/// read or written the answer is 503, never the defaults (a client that saved the
/// defaults back would wipe the real settings). A copy found only in another
/// configured store (from before a mode switch) is shown until the first save.
struct SettingsRoutes {
    let context: APIContext

    static let maxSettingsBytes = 256 * 1024
    /// The settings plus the envelope and whitespace around them.
    static let maxBodyBytes = maxSettingsBytes + 16 * 1024
    /// The ETag of "nothing stored yet": `If-Match` with it means create-only.
    static let absentETag = "none"

    static var defaults: JSONObject {
        JSONObject([("macro_phrases", .array([])), ("custom_vocabulary", .array([])), ("transcription_profiles", .array([]))])
    }

    func get(_ request: Request, _ route: RouteContext) throws -> Response {
        let user = try context.userID(request, route)
        let key = Layout.settingsKey(user)
        guard let (object, bytes) = try context.storage.get(key: key, requireActive: true) else {
            return Self.response(Self.defaults, etag: Self.absentETag)
        }
        guard Self.validObjects.contains(key: key, bytes: bytes) || Self.isObject(bytes, key: key) else {
            // Its ETag still goes out, so that a save with If-Match replaces it.
            Log.warning("stored settings are not a JSON object; answering the defaults", ["key": key, "store": object.kind.rawValue])
            return Self.response(Self.defaults, etag: Self.normalized(object.info.etag))
        }
        return Self.response(bytes, etag: Self.normalized(object.info.etag))
    }

    func save(_ request: Request, _ route: RouteContext) throws -> Response {
        let caller = try context.caller(request)
        let body = try RequestContext.measure(.body) { try request.body.readAll(limit: Self.maxBodyBytes) }
        let parsed: JSON
        do {
            parsed = try JSON.parse(body)
        } catch {
            throw HTTPError.badRequest("The body is not valid JSON (\(error)).")
        }
        guard case .object(let fields) = parsed else {
            throw HTTPError.unprocessable("The body must be a JSON object with \"settings\" and optionally \"user_id\".")
        }
        let given: String?
        switch fields["user_id"] {
        case nil, .null?: given = nil
        case .string(let s)?: given = s
        default: throw HTTPError.unprocessable("user_id must be a string.")
        }
        let user = try context.user(given, caller: caller)
        try context.requireOwner(user, caller: caller)
        guard case .object(let settings)? = fields["settings"] else {
            throw HTTPError.unprocessable("settings must be a JSON object.")
        }
        try Self.validate(settings)
        let bytes = JSON.object(settings).bytes
        guard bytes.count <= Self.maxSettingsBytes else {
            throw HTTPError.tooLarge("settings are larger than \(Self.maxSettingsBytes / 1024) KiB.")
        }

        let key = Layout.settingsKey(user)
        let condition = try self.condition(request.headers["If-Match"], key: key)
        let info: ObjectInfo
        do {
            info = try context.storage.active.put(key: key, bytes: bytes, contentType: "application/json", condition: condition)
        } catch StorageError.preconditionFailed, StorageError.alreadyExists {
            throw Self.changed
        }
        return Self.response(bytes, etag: Self.normalized(info.etag))
    }

    /// Settings bytes already parsed once and found to be a JSON object. Compared
    /// byte for byte, so a hit is exactly what was checked; it spares the parse
    /// (~19,000 instructions of a ~280,000-instruction GET, bench/results.md).
    static let validObjects = ValidatedDocuments(capacity: 4096)

    static func isObject(_ bytes: [UInt8], key: String) -> Bool {
        guard case .object? = try? JSON.parse(bytes) else { return false }
        validObjects.insert(key: key, bytes: bytes)
        return true
    }

    static let changed = HTTPError(.preconditionFailed, "The settings changed since they were read (If-Match does not match the current ETag); read them again and retry.")

    /// `If-Match` as a write condition against what a GET would show now.
    func condition(_ header: String?, key: String) throws -> WriteCondition {
        guard let header else { return .none }
        let wanted = Self.entityTags(header)
        guard let current = try context.storage.head(key: key, requireActive: true) else {
            guard wanted.contains(Self.absentETag) else { throw Self.changed }
            return .createOnly
        }
        guard wanted.contains("*") || wanted.contains(Self.normalized(current.info.etag)) else { throw Self.changed }
        // A copy from another store is replaced by a first copy in the active one.
        return current.store == 0 ? .ifMatch(current.info.etag) : .createOnly
    }

    /// The tags of an `If-Match` list, without quotes or `W/`.
    static func entityTags(_ header: String) -> [String] {
        header.split(separator: ",").map { normalized(String($0).trimmingSpaces) }.filter { !$0.isEmpty }
    }

    static func normalized(_ tag: String) -> String {
        // On UTF-8 bytes (Character-wise `count` and affixes were ~2,800 instructions
        // per GET); a tag with neither affix, as the local store's, is returned as is.
        let u = tag.utf8
        var start = u.startIndex, end = u.endIndex
        if u.starts(with: "W/".utf8) { start = u.index(start, offsetBy: 2) }
        if u.distance(from: start, to: end) >= 2, u[start] == UInt8(ascii: "\""), u[u.index(before: end)] == UInt8(ascii: "\"") {
            start = u.index(after: start)
            end = u.index(before: end)
        }
        if start == u.startIndex && end == u.endIndex { return tag }
        return String(Substring(u[start..<end]))
    }

    /// API.md's shape: the three known lists are arrays, vocabulary of strings;
    /// every other key is kept as given.
    static func validate(_ settings: JSONObject) throws {
        for name in ["macro_phrases", "custom_vocabulary", "transcription_profiles"] {
            guard let value = settings[name] else { continue }
            guard case .array(let items) = value else { throw HTTPError.unprocessable("settings.\(name) must be an array.") }
            if name == "custom_vocabulary", !items.allSatisfy({ $0.stringValue != nil }) {
                throw HTTPError.unprocessable("settings.custom_vocabulary must hold only strings.")
            }
        }
    }

    static func response(_ settings: JSONObject, etag: String) -> Response {
        response(JSON.object(settings).bytes, etag: etag)
    }

    static func response(_ bytes: [UInt8], etag: String) -> Response {
        var headers = Headers()
        headers.add("Content-Type", "application/json")
        headers.add("ETag", "\"" + etag + "\"")
        headers.add("Cache-Control", "no-cache")
        return Response(status: .ok, headers: headers, body: .bytes(bytes))
    }
}

/// Documents known to have passed a check, by key, with their bytes: a hit needs the
/// same bytes (an O(1) comparison when they share storage, as the local store's
/// small-file cache hands out; otherwise byte by byte), so whatever changed is
/// checked again. Bounded: a full table starts over.
final class ValidatedDocuments: Sendable {
    private struct Table {
        var documents: [String: [UInt8]] = [:]
        var bytes = 0
    }

    private let table = Mutex(Table())
    let capacity: Int
    let maxBytes: Int

    init(capacity: Int, maxBytes: Int = 16 << 20) {
        self.capacity = max(1, capacity)
        self.maxBytes = maxBytes
    }

    func contains(key: String, bytes: [UInt8]) -> Bool {
        table.withLock { $0.documents[key] } == bytes
    }

    func insert(key: String, bytes: [UInt8]) {
        table.withLock { t in
            if let old = t.documents.removeValue(forKey: key) { t.bytes -= old.count }
            if t.documents.count >= capacity || t.bytes + bytes.count > maxBytes {
                t.documents.removeAll(keepingCapacity: true)
                t.bytes = 0
            }
            t.documents[key] = bytes
            t.bytes += bytes.count
        }
    }
}
