import Operations
import Storage
import XCTest

/// `check` and `sync` explain a refusal from its structured fields, never its text.
final class S3TroubleTests: XCTestCase {
    func explain(_ failure: StoreFailure, endpoint: String? = nil) -> String {
        S3Trouble.explain(StorageError.unavailable(failure), bucket: "recs", region: "eu-west-1", endpoint: endpoint, keyID: "AKIDEXAMPLE")
    }

    func testS3ErrorCodesBecomeWordsFollowedByS3sOwn() {
        let wrongSecret = explain(StoreFailure(.refused, "403 SignatureDoesNotMatch", operation: "ListObjectsV2", status: 403, code: "SignatureDoesNotMatch"))
        XCTAssertEqual(wrongSecret, "the secret access key is wrong: S3 does not accept signatures made with it for access key ID AKIDEXAMPLE (S3: 403 SignatureDoesNotMatch)")
        XCTAssertEqual(explain(StoreFailure(.refused, "r", code: "NoSuchBucket")), "the bucket recs does not exist (S3: r)")
        XCTAssertEqual(explain(StoreFailure(.refused, "r", code: "PermanentRedirect")), "the bucket recs is not in region eu-west-1 (AWS_REGION) (S3: r)")
        XCTAssertEqual(explain(StoreFailure(.refused, "r", code: "InvalidAccessKeyId")), "the access key ID AKIDEXAMPLE is not known to S3 (S3: r)")
    }

    func testTheCodeDecidesNotTheMessageText() {
        // A reason that mentions a code is not that code.
        XCTAssertEqual(explain(StoreFailure(.refused, "NoSuchBucket in the text only")), "NoSuchBucket in the text only")
    }

    func testKindsWithoutACodeSayWhereS3Was() {
        XCTAssertEqual(explain(StoreFailure(.unreachable, "connection refused"), endpoint: "http://127.0.0.1:9"),
                       "cannot reach S3 at http://127.0.0.1:9 (S3: connection refused)")
        XCTAssertEqual(explain(StoreFailure(.deadline, "timed out")), "cannot reach S3 at AWS (region eu-west-1) (S3: timed out)")
        XCTAssertEqual(explain(StoreFailure(.breakerOpen, "open")), "S3 was failing, so it was not asked (S3: open)")
    }

    func testOtherErrorsAreShownAsTheyAre() {
        XCTAssertEqual(S3Trouble.explain(StorageError.notFound("k"), bucket: "b", region: "r", endpoint: nil, keyID: "k"),
                       "\(StorageError.notFound("k"))")
    }
}
