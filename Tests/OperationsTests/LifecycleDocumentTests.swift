import API
import Foundation
import Operations
import XCTest

final class LifecycleDocumentTests: XCTestCase {
    func testTheDocumentExpiresRecordingsAndAbortsIncompleteUploads() throws {
        let data = Data(LifecycleDocument.json(days: 45).utf8)
        let document = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let rules = try XCTUnwrap(document["Rules"] as? [[String: Any]])
        XCTAssertEqual(rules.count, 2)

        let expire = rules[0]
        XCTAssertEqual((expire["Filter"] as? [String: String])?["Prefix"], Layout.recordingsArea)
        XCTAssertEqual((expire["Expiration"] as? [String: Int])?["Days"], 45)
        XCTAssertEqual(expire["Status"] as? String, "Enabled")

        let abort = rules[1]
        XCTAssertEqual((abort["Filter"] as? [String: String])?["Prefix"], "")
        XCTAssertEqual((abort["AbortIncompleteMultipartUpload"] as? [String: Int])?["DaysAfterInitiation"], 1)
    }

    func testWholeDaysTakesOnly1To36500() throws {
        XCTAssertEqual(try LifecycleDocument.wholeDays(" 30 ", "--days"), 30)
        XCTAssertEqual(try LifecycleDocument.wholeDays("36500", "--days"), 36_500)
        for bad in ["0", "36501", "-3", "1.5", "ten", ""] {
            XCTAssertThrowsError(try LifecycleDocument.wholeDays(bad, "PRUNE_OLDER_THAN_DAYS")) {
                XCTAssertEqual("\($0)", "PRUNE_OLDER_THAN_DAYS must be a whole number of days in 1...36500, got \"\(bad)\"")
            }
        }
    }
}
