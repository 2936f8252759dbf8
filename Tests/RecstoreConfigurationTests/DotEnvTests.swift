import Foundation
import XCTest
@testable import RecstoreConfiguration

final class DotEnvTests: XCTestCase {
    func testParsesTheUsualForms() {
        let env = DotEnv.parse("""
            # a comment
            STORAGE=S3
            export AWS_REGION = eu-west-1
            QUOTED="a value # not a comment"
            SINGLE='it''s'
            ESCAPED="line\\nbreak \\"q\\""
            INLINE=value # a comment
            EQUALS=a=b=c
            EMPTY=
            not a line
            =novalue
            """)
        XCTAssertEqual(env["STORAGE"], "S3")
        XCTAssertEqual(env["AWS_REGION"], "eu-west-1")
        XCTAssertEqual(env["QUOTED"], "a value # not a comment")
        XCTAssertEqual(env["ESCAPED"], "line\nbreak \"q\"")
        XCTAssertEqual(env["INLINE"], "value")
        XCTAssertEqual(env["EQUALS"], "a=b=c")
        XCTAssertEqual(env["EMPTY"], "")
        XCTAssertEqual(env.count, 8)
    }

    func testWindowsLineEndings() {
        XCTAssertEqual(DotEnv.parse("A=1\r\nB=2\r\n"), ["A": "1", "B": "2"])
    }

    func testTheProcessEnvironmentWinsOverTheFile() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("dotenv-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try "STORAGE=S3\nRETENTION_DAYS=3\n".write(toFile: directory + "/.env", atomically: true, encoding: .utf8)
        let env = DotEnv.environment(directory: directory, process: ["STORAGE": "LOCAL", "OTHER": "x"])
        XCTAssertEqual(env["STORAGE"], "LOCAL")
        XCTAssertEqual(env["RETENTION_DAYS"], "3")
        XCTAssertEqual(env["OTHER"], "x")
        XCTAssertEqual(DotEnv.environment(directory: directory + "/missing", process: ["A": "1"]), ["A": "1"])
    }
}
