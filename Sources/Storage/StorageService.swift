import Foundation
import Diagnostics
import JSON

/// An object and the store that holds it (an index into `StorageService.stores`).
public struct StoredObject: Sendable {
    public let store: Int
    public let kind: StoreKind
    public let info: ObjectInfo
}

/// A new object for `StorageService.create`.
public struct NewObject: Sendable {
    public enum Content: Sendable {
        case file(StagedFile)
        case bytes([UInt8])
        /// An object already in the store being written (a completed resumable
        /// upload), copied there server-side; a store that cannot copy refuses it.
        case copy(StoredCopySource)
    }

    public let key: String
    public let content: Content
    public let contentType: String

    public init(key: String, content: Content, contentType: String) {
        self.key = key
        self.content = content
        self.contentType = contentType
    }
}

/// "Two stores, one view": writes go to the active store (or, when it is
/// unavailable, to the fallback store), reads see every configured store, the
/// active one first. Handlers talk to this, never to a particular backend.
///
/// - A listing that cannot reach one of its stores throws `.unavailable`: never a partial list.
/// - A single object found in a reachable store is served even if another store is down.
/// - Deletion removes from every store that holds something.
/// - Create-only groups (a recording) look in every store before writing (the 409 rule).
public final class StorageService: Sendable {
    public let active: any ObjectStore
    /// Every store reads look in, the active one first, each once.
    public let stores: [any ObjectStore]
    /// Index in `stores` of the store saves fall back to, if any.
    public let fallbackIndex: Int?
    let documents: DocumentCache
    /// Names this service's data for `HostLock` (the local root and bucket), so two
    /// stacks on one host never wait for each other.
    public let lockScope: String
    /// A prefix with no commit object whose objects are all older than this is
    /// leftovers of a save that died (kill -9 between audio and metadata): a new
    /// save replaces them, the sweep removes them. Younger, it may be a save in progress.
    public let orphanAge: Double

    /// `others` are read (in that order) but written only as `fallback`. The
    /// fallback store is read too, whether or not it is also listed in `others`.
    public init(active: any ObjectStore, others: [any ObjectStore] = [], fallback: (any ObjectStore)? = nil,
                documentCacheCapacity: Int = 4096, lockScope: String = "", orphanAge: Double = 300) {
        var stores: [any ObjectStore] = [active]
        for store in others where !stores.contains(where: { Self.same($0, store) }) { stores.append(store) }
        var fallbackIndex: Int?
        if let fallback {
            if let i = stores.firstIndex(where: { Self.same($0, fallback) }) {
                fallbackIndex = i
            } else {
                stores.append(fallback)
                fallbackIndex = stores.count - 1
            }
            if fallbackIndex == 0 { fallbackIndex = nil }
        }
        self.active = active
        self.stores = stores
        self.fallbackIndex = fallbackIndex
        self.documents = DocumentCache(capacity: documentCacheCapacity)
        self.lockScope = lockScope
        self.orphanAge = orphanAge
    }

    private static func same(_ a: any ObjectStore, _ b: any ObjectStore) -> Bool {
        guard type(of: a) is AnyClass, type(of: b) is AnyClass else { return false }
        return (a as AnyObject) === (b as AnyObject)
    }

    public var fallback: (any ObjectStore)? { fallbackIndex.map { stores[$0] } }

    // MARK: Reads

    /// Every object under `prefix` in every store. Throws `.unavailable` if any
    /// store cannot be listed.
    public func list(prefix: String, fileName: String? = nil) throws -> [StoredObject] {
        let span = RequestContext.span(.storage)
        defer { span.end() }
        var all: [StoredObject] = []
        for (i, store) in stores.enumerated() {
            let infos = try fileName.map { try store.list(prefix: prefix, fileName: $0) } ?? store.list(prefix: prefix)
            for info in infos {
                all.append(StoredObject(store: i, kind: store.kind, info: info))
            }
        }
        return all
    }

    /// The first store (active first) holding `key`, with its bytes. Nil when no
    /// store holds it; `.unavailable` when none that could be asked holds it but
    /// some store could not be asked. With `requireActive`, an unreachable active
    /// store is `.unavailable` at once: for data whose current version lives only
    /// there (settings), an older copy elsewhere must not stand in for it.
    public func get(key: String, requireActive: Bool = false) throws -> (object: StoredObject, bytes: [UInt8])? {
        let span = RequestContext.span(.storage)
        defer { span.end() }
        return try first(key: key, requireActive: requireActive) { store, i in
            do {
                let (bytes, info) = try store.get(key: key)
                return (StoredObject(store: i, kind: store.kind, info: info), bytes)
            } catch StorageError.notFound {
                return nil
            }
        }
    }

    /// Like `get`, without reading the content.
    public func head(key: String, requireActive: Bool = false) throws -> StoredObject? {
        let span = RequestContext.span(.storage)
        defer { span.end() }
        return try first(key: key, requireActive: requireActive) { store, i in
            try store.head(key: key).map { StoredObject(store: i, kind: store.kind, info: $0) }
        }
    }

    /// The first store's answer (active first) that is not nil; an unreachable store
    /// is passed over, but reported when no other store had the key.
    private func first<T>(key: String, requireActive: Bool, _ ask: (any ObjectStore, Int) throws -> T?) throws -> T? {
        var unreachable: StorageError?
        for (i, store) in stores.enumerated() {
            do {
                if let answer = try ask(store, i) { return answer }
            } catch let error as StorageError {
                guard case .unavailable = error, !(requireActive && i == 0) else { throw error }
                Log.warning("store unavailable while reading", ["store": store.kind.rawValue, "key": key, "error": error.description])
                unreachable = unreachable ?? error
            }
        }
        if let unreachable { throw unreachable }
        return nil
    }

    /// Parses small JSON documents (e.g. session metadata) found by `list`, through
    /// the per-process cache, so a listing that saw no change reads nothing. Misses
    /// are fetched with each store's `getMany` (concurrent in S3). Objects deleted
    /// meanwhile are left out; `.unavailable` from any store is thrown.
    public func documents(_ objects: [StoredObject]) throws -> [(object: StoredObject, document: Document)] {
        let span = RequestContext.span(.storage)
        defer { span.end() }
        var results: [String: Document] = [:]
        var missing: [Int: [StoredObject]] = [:]
        for object in objects {
            let cacheKey = DocumentCache.key(store: object.store, object.info)
            if let hit = documents.get(cacheKey) {
                results[cacheKey] = hit
            } else {
                missing[object.store, default: []].append(object)
            }
        }
        for (store, wanted) in missing.sorted(by: { $0.key < $1.key }) {
            let fetched = stores[store].getMany(keys: wanted.map(\.info.key))
            for object in wanted {
                let cacheKey = DocumentCache.key(store: store, object.info)
                switch fetched[object.info.key] {
                case .success(let bytes):
                    let document = Self.parse(bytes)
                    documents.put(cacheKey, document)
                    results[cacheKey] = document
                case .failure(.notFound), nil:
                    continue
                case .failure(let error):
                    if case .unavailable = error { throw error }
                    results[cacheKey] = .corrupt(error.description)
                }
            }
        }
        return objects.compactMap { object in
            results[DocumentCache.key(store: object.store, object.info)].map { (object, $0) }
        }
    }

    static func parse(_ bytes: [UInt8]) -> Document {
        do {
            return .json(try JSON.parse(bytes))
        } catch {
            return .corrupt(error.description)
        }
    }

    // MARK: Writes

    /// Stores a group of objects that belong together under `prefix` (one
    /// recording), in the given order, each create-only, all in one store: the
    /// active one, or the fallback when the active one is unavailable. `build`
    /// gets the kind of the store being written, for content that records it.
    /// The last object is the commit: only its presence says the group exists.
    ///
    /// Throws `.alreadyExists` when any reachable store already holds a committed
    /// group under `prefix`, or objects of one younger than `orphanAge` (a save in
    /// progress); older objects without a commit (`commitName`) are leftovers of a
    /// save that died, and are replaced. Removes what it wrote whenever it fails,
    /// unless the commit may have landed (then the group is left as it is).
    /// Returns the kind of the store that now holds the group.
    ///
    /// Saves of one prefix on this host take turns (`HostLock`): the store's
    /// conditional writes decide between hosts, and some S3-compatible servers'
    /// are check-then-put, which lets two saves both "win" the same key.
    @discardableResult
    public func create(prefix: String, commitName: String? = nil, _ build: (StoreKind) throws -> [NewObject]) throws -> StoreKind {
        let wait = Deadline.current ?? Deadline(secondsFromNow: 60)
        guard let turn = HostLock.acquire(name: Self.saveLockName(scope: lockScope, prefix: prefix), until: wait) else {
            // Another save of this very prefix is still running: it has taken it.
            throw StorageError.alreadyExists(prefix)
        }
        defer { withExtendedLifetime(turn) {} }
        let span = RequestContext.span(.storage)
        defer { span.end() }
        var activeUnreachable = false
        for (i, store) in stores.enumerated() {
            do {
                try checkFree(prefix: prefix, commitName: commitName, in: store)
            } catch let error as StorageError {
                guard case .unavailable = error else { throw error }
                // A store that cannot be reached cannot be checked; the write decides.
                Log.warning("store unavailable for the existence check", ["store": store.kind.rawValue, "prefix": prefix, "error": error.description])
                if i == 0 { activeUnreachable = true }
            }
        }
        var targets: [any ObjectStore] = activeUnreachable && fallback != nil ? [] : [active]
        if let fallback { targets.append(fallback) }
        if activeUnreachable, fallback != nil { Metrics.storageFallback() }
        var lastError: Error = StorageError.unavailable("no store to write to")
        for (n, store) in targets.enumerated() {
            do {
                try write(try build(store.kind), to: store)
                return store.kind
            } catch let error as StorageError {
                guard case .unavailable(let failure) = error, failure.kind != .ambiguousCommit, n < targets.count - 1 else { throw error }
                Log.warning("active store unavailable, saving to the fallback store",
                            ["store": store.kind.rawValue, "prefix": prefix, "error": error.description])
                Metrics.storageFallback()
                lastError = error
            }
        }
        throw lastError
    }

    /// The host-wide lock saves of `prefix` take turns on (and the sweep respects).
    static func saveLockName(scope: String, prefix: String) -> String { "save|" + scope + "|" + prefix }

    /// Throws `.alreadyExists` unless `prefix` is free in `store`; removes the
    /// leftovers of a save that died long enough ago (see `create`).
    func checkFree(prefix: String, commitName: String?, in store: any ObjectStore) throws {
        let existing = try store.list(prefix: prefix)
        guard !existing.isEmpty else { return }
        guard let commitName, Self.leftovers(existing, commitName: commitName, olderThan: orphanAge, now: Date()) else {
            throw StorageError.alreadyExists(prefix)
        }
        Log.warning("replacing the leftovers of an unfinished save", ["store": store.kind.rawValue, "prefix": prefix, "objects": existing.count])
        try Deadline.replacing(Deadline(secondsFromNow: Self.cleanupSeconds)) {
            for object in existing { _ = try store.delete(prefix: object.key) }
        }
    }

    /// True when `objects` (one group's) hold no commit and none is younger than `age`.
    public static func leftovers(_ objects: [ObjectInfo], commitName: String, olderThan age: Double, now: Date) -> Bool {
        !objects.contains { $0.key.hasSuffix("/" + commitName) || now.timeIntervalSince($0.lastModified) < age }
    }

    /// Seconds granted to clean up after a failed save and to read back an
    /// ambiguous commit, even when the request's own budget is spent.
    static let cleanupSeconds = 5.0

    /// Writes every object create-only, the last one (the metadata) as the commit.
    /// On failure it removes what it wrote, and only that: an object is removed only
    /// while it still has the ETag our write got back. Before the commit it checks
    /// that every object it wrote is still its own (defence in depth against stores
    /// whose conditional writes are not atomic, beyond what `HostLock` covers on
    /// one host); such a save is refused as taken (409) rather than committed over
    /// another save's audio.
    ///
    /// A commit whose outcome is unknown (a timeout, a reset after the request was
    /// sent) is read back: landed with our bytes is success, absent is failure, and
    /// still unknown leaves everything in place (`.ambiguousCommit`, never a
    /// fallback copy): if it landed the recording exists; if not, the leftovers are
    /// replaced by the next save or removed by the sweep.
    func write(_ objects: [NewObject], to store: any ObjectStore) throws {
        var written: [ObjectInfo] = []
        do {
            for (n, object) in objects.enumerated() {
                let isCommit = n == objects.count - 1
                if isCommit {
                    for mine in written where try store.head(key: mine.key)?.etag != mine.etag {
                        throw StorageError.alreadyExists(mine.key)
                    }
                }
                do {
                    switch object.content {
                    case .file(let file):
                        written.append(try store.put(key: object.key, file: file, contentType: object.contentType, condition: .createOnly))
                    case .bytes(let bytes):
                        written.append(try store.put(key: object.key, bytes: bytes, contentType: object.contentType, condition: .createOnly))
                    case .copy(let source):
                        written.append(try store.copy(source, to: object.key, contentType: object.contentType, condition: .createOnly))
                    }
                } catch StorageError.unavailable(let failure) where isCommit {
                    guard case .bytes(let bytes) = object.content else { throw StorageError.unavailable(failure) }
                    switch Self.readBack(object.key, bytes, in: store) {
                    case .landed(let info):
                        Log.warning("an uncertain commit had landed", ["store": store.kind.rawValue, "key": object.key, "error": failure.reason])
                        written.append(info)
                    case .absent:
                        throw StorageError.unavailable(failure)
                    case .taken:
                        throw StorageError.alreadyExists(object.key)
                    case .unknown(let why):
                        var ambiguous = failure
                        ambiguous.kind = .ambiguousCommit
                        ambiguous.reason += "; reading it back: \(why)"
                        Log.error("a commit's outcome is unknown; its objects are left for the sweep",
                                  ["store": store.kind.rawValue, "key": object.key, "error": ambiguous.reason])
                        written.removeAll()  // nothing is removed: it may be a stored recording
                        throw StorageError.unavailable(ambiguous)
                    }
                }
            }
        } catch {
            Deadline.replacing(Deadline(secondsFromNow: Self.cleanupSeconds)) {
                for mine in written.reversed() {
                    do {
                        guard try store.head(key: mine.key)?.etag == mine.etag else { continue }
                        _ = try store.delete(prefix: mine.key)
                    } catch {
                        Log.warning("could not remove a partly saved object", ["store": store.kind.rawValue, "key": mine.key, "error": String(describing: error)])
                    }
                }
            }
            throw error
        }
    }

    enum ReadBack {
        case landed(ObjectInfo)
        case absent
        /// Another save's commit is there.
        case taken
        case unknown(String)
    }

    /// Whether `key` now holds exactly `bytes` (compared whole: the commit is a small
    /// document, and equal bytes are what equal SHA-256 digests would say).
    static func readBack(_ key: String, _ bytes: [UInt8], in store: any ObjectStore) -> ReadBack {
        Deadline.replacing(Deadline(secondsFromNow: cleanupSeconds)) {
            do {
                let (stored, info) = try store.get(key: key)
                // Someone else's commit there is not ours: the write failed, and the 409 rule holds.
                return stored == bytes ? .landed(info) : .taken
            } catch StorageError.notFound {
                return .absent
            } catch {
                return .unknown(String(describing: error))
            }
        }
    }

    /// Deletes everything under `prefix` in every store; returns how many objects
    /// there were. If a store cannot be reached the others are still cleaned and
    /// `.unavailable` is thrown, so the caller retries rather than believing it done.
    public func delete(prefix: String) throws -> Int {
        let span = RequestContext.span(.storage)
        defer { span.end() }
        var total = 0
        var unreachable: StorageError?
        for store in stores {
            do {
                total += try store.delete(prefix: prefix)
            } catch let error as StorageError {
                guard case .unavailable = error else { throw error }
                Log.warning("store unavailable while deleting", ["store": store.kind.rawValue, "prefix": prefix, "error": error.description])
                unreachable = unreachable ?? error
            }
        }
        if let unreachable { throw unreachable }
        return total
    }
}
