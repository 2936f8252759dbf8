import Foundation
import XCTest
@testable import API
@testable import Storage

/// A user's kept listing is reused only for exactly the objects it was computed from.
final class ListingCacheTests: XCTestCase {
    func object(_ i: Int, store: Int = 0, kind: StoreKind = .local, size: Int64 = 10,
                modified: Double = 1_000, etag: String? = nil) -> StoredObject {
        StoredObject(store: store, kind: kind,
                     info: ObjectInfo(key: "user_recordings/u/s\(i)/session_metadata.json", size: size,
                                      lastModified: Date(timeIntervalSince1970: modified), etag: etag ?? "e\(i)"))
    }

    func testTheSnapshotIsReusedOnlyForTheSameObjects() {
        let cache = ListingCache()
        let objects = (0..<200).map { object($0) }
        cache.keep("u", ListingCache.Snapshot(objects: objects, sorted: [], cut: Date(), oldest: Date(), body: [1]))
        XCTAssertEqual(cache.snapshot("u", for: (0..<200).map { object($0) })?.body, [1], "equal, separately built")
        XCTAssertNil(cache.snapshot("other", for: objects))
        XCTAssertNil(cache.snapshot("u", for: Array(objects.dropLast())))
        XCTAssertNil(cache.snapshot("u", for: []))
        let changes: [StoredObject] = [object(7, store: 1), object(7, kind: .s3), object(7, size: 11),
                                       object(7, modified: 1_000.5), object(7, etag: "other"), object(700)]
        for changed in changes {
            var list = objects
            list[7] = changed
            XCTAssertNil(cache.snapshot("u", for: list), "\(changed)")
        }
    }
}
