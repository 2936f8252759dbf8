import XCTest
@testable import RecstoreConfiguration

/// The one way a setting is read: blanks are unset, the first alias wins, and a bad
/// value is refused naming its variable in the same words for every group.
final class EnvironmentReaderTests: XCTestCase {
    func message(_ body: () throws -> Void) -> String? {
        do {
            try body()
            return nil
        } catch {
            return (error as? ConfigurationError)?.description ?? "not a ConfigurationError: \(error)"
        }
    }

    func testBlankIsUnsetAndTheFirstNameWins() {
        let reader = EnvironmentReader(["A": "  ", "B": " two ", "C": "three"])
        XCTAssertNil(reader.value("A"))
        XCTAssertNil(reader.value("MISSING"))
        XCTAssertEqual(reader.value("A", "B", "C")?.name, "B")
        XCTAssertEqual(reader.value("A", "B", "C")?.value, "two")
        XCTAssertEqual(reader.value("C", "B")?.value, "three")
    }

    func testIntegers() throws {
        let reader = EnvironmentReader(["N": "42", "LOW": "0", "WORD": "ten", "BIG": "99999999999999999999"])
        XCTAssertEqual(try reader.integer("N", 1...100), 42)
        XCTAssertEqual(try reader.int("N", 1...100), 42)
        XCTAssertNil(try reader.integer("UNSET", 1...100))
        XCTAssertEqual(message { _ = try reader.integer("LOW", 1...100) }, "LOW: must be an integer in 1...100, got \"0\"")
        XCTAssertEqual(message { _ = try reader.int("WORD", 1...100) }, "WORD: must be an integer in 1...100, got \"ten\"")
        XCTAssertEqual(message { _ = try reader.integer("BIG", 0...5) }, "BIG: must be an integer in 0...5, got \"99999999999999999999\"")
    }

    func testBooleans() throws {
        let reader = EnvironmentReader(["Y": "Yes", "N": "off", "ONE": "1", "BAD": "maybe"])
        XCTAssertEqual(try reader.boolean("Y"), true)
        XCTAssertEqual(try reader.boolean("N"), false)
        XCTAssertEqual(try reader.boolean("ONE"), true)
        XCTAssertNil(try reader.boolean("UNSET"))
        XCTAssertEqual(message { _ = try reader.boolean("BAD") }, "BAD: must be true or false, got \"maybe\"")
    }

    func testSecondsAndLists() throws {
        let reader = EnvironmentReader(["S": "0.25", "ZERO": "0", "NAN": "nan", "L": " a, ,b ,"])
        XCTAssertEqual(try reader.seconds("S", maximum: 10), 0.25)
        XCTAssertEqual(message { _ = try reader.seconds("ZERO", maximum: 10) }, "ZERO: must be a number of seconds above 0, got \"0\"")
        XCTAssertNotNil(message { _ = try reader.seconds("NAN", maximum: 10) })
        XCTAssertEqual(reader.list("L"), ["a", "b"])
        XCTAssertNil(reader.list("UNSET"))
    }
}

/// One group read on its own, without the rest of the configuration.
final class StorageSettingsTests: XCTestCase {
    func refusal(_ env: [String: String]) -> String? {
        do {
            _ = try StorageSettings(EnvironmentReader(env))
            return nil
        } catch {
            return error.description
        }
    }

    func testDefaults() throws {
        let s = try StorageSettings(EnvironmentReader([:]))
        XCTAssertEqual(s.mode, .local)
        XCTAssertEqual(s.localDirectory, "./uploads")
        XCTAssertNil(s.bucket)
        XCTAssertEqual(s.region, "us-east-1")
        XCTAssertNil(s.endpoint)
        XCTAssertTrue(s.fallbackToLocal)
        let r = try RetentionSettings(EnvironmentReader([:]))
        XCTAssertEqual(r.days, 15)
        XCTAssertEqual(r.orphanAgeSeconds, 300)
        XCTAssertEqual(r.sweepIntervalSeconds, 600)
    }

    func testAliasesInOrderOfPrecedence() throws {
        let both = try StorageSettings(EnvironmentReader(["AWS_S3_BUCKET_NAME": "first", "STUDY_BUDDY_BUCKET_NAME": "second",
                                                          "AWS_REGION": "us-west-2", "AWS_DEFAULT_REGION": "eu-west-1"]))
        XCTAssertEqual(both.bucket, "first")
        XCTAssertEqual(both.region, "us-west-2")
        let older = try StorageSettings(EnvironmentReader(["AWS_S3_BUCKET_NAME": " ", "STUDY_BUDDY_BUCKET_NAME": "second",
                                                           "AWS_ENDPOINT_URL": "http://127.0.0.1:9000/"]))
        XCTAssertEqual(older.bucket, "second", "a blank first name falls through to the next")
        XCTAssertEqual(older.endpoint, "http://127.0.0.1:9000")
        // The refusal names the alias that was read.
        XCTAssertEqual(refusal(["STUDY_BUDDY_BUCKET_NAME": "ab"]), "STUDY_BUDDY_BUCKET_NAME: is not a valid S3 bucket name: \"ab\"")
    }

    func testBadValuesAreRefusedWithTheSameWords() {
        XCTAssertEqual(refusal(["STORAGE": "disk"]), "STORAGE: must be LOCAL or S3, got \"disk\"")
        XCTAssertEqual(refusal(["S3_FALLBACK_TO_LOCAL": "sometimes"]), "S3_FALLBACK_TO_LOCAL: must be true or false, got \"sometimes\"")
        XCTAssertEqual(refusal(["STORAGE": "s3"]), "AWS_S3_BUCKET_NAME: is required when STORAGE=S3")
        XCTAssertEqual(refusal(["AWS_REGION": "EU"]), "AWS_REGION: is not a region name: \"EU\"")
        XCTAssertThrowsError(try RetentionSettings(EnvironmentReader(["RETENTION_DAYS": "zero"]))) { error in
            XCTAssertEqual("\(error)", "RETENTION_DAYS: must be an integer in 1...36500, got \"zero\"")
        }
    }

    /// The groups are read storage first, then identity: a bad storage value is
    /// reported before a missing issuer, as before the split.
    func testStorageIsCheckedBeforeIdentity() {
        XCTAssertThrowsError(try Configuration.load(["STORAGE": "disk"])) { error in
            XCTAssertEqual((error as? ConfigurationError)?.variable, "STORAGE")
        }
        XCTAssertThrowsError(try Configuration.load(["RETENTION_DAYS": "zero"])) { error in
            XCTAssertEqual((error as? ConfigurationError)?.variable, "AUTH0_DOMAIN")
        }
    }
}
