import Foundation
import XCTest
import HTTP
@testable import Uploads

/// Seeded random mutations of well-formed bodies. The parser must never crash or read
/// outside its input (debug builds check every buffer access), must fail only with 400
/// or 413, and must reach the same outcome however the body is cut into reads.
final class MultipartFuzzTests: XCTestCase {
    static let boundaries = ["XyZ-b0und", "a", "=_Part 1.2+'()"]

    static func seedBodies(boundary b: String) -> [[UInt8]] {
        [
            multipartBody(boundary: b, [
                (["Content-Disposition: form-data; name=\"audio\"; filename=\"a \\\"b\\\".wav\"", "Content-Type: audio/wav"],
                 Array("RIFF\0\0\0\0WAVEfmt \r\n--\(b.prefix(3))".utf8)),
                field("metadata", "{\"name\": \"x\"}"),
                field("transcript", "line\r\nline"),
            ], preamble: "preamble", epilogue: "\r\nepilogue"),
            multipartBody(boundary: b, [field("", ""), field("a", "\r"), field("b", "\r\n-")]),
            multipartBody(boundary: b, []),
        ]
    }

    static let fragments: [[UInt8]] = ["\r\n", "\r", "\n", "-", "--", "\r\n\r\n", " ", "\t", ":", ";", "\"", "\\", "=",
                                       "Content-Disposition: form-data; name=\"", "; filename=\"", "Content-Type: x\r\n",
                                       "\0", "\u{7F}", "é"].map { Array($0.utf8) }

    static func mutate(_ input: [UInt8], boundary: String, using rng: inout SeededGenerator) -> [UInt8] {
        var out = input
        let delimiter = Array("\r\n--\(boundary)".utf8)
        for _ in 0..<Int.random(in: 1...4, using: &rng) {
            let at = Int.random(in: 0...out.count, using: &rng)
            switch Int.random(in: 0..<8, using: &rng) {
            case 0 where at < out.count: // flip a byte
                out[at] = UInt8.random(in: 0...255, using: &rng)
            case 1: // insert a fragment
                out.insert(contentsOf: fragments.randomElement(using: &rng)!, at: at)
            case 2: // insert a delimiter, whole or cut short
                out.insert(contentsOf: delimiter.prefix(Int.random(in: 1...delimiter.count, using: &rng)), at: at)
            case 3: // delete a range
                let end = min(out.count, at + Int.random(in: 1...20, using: &rng))
                out.removeSubrange(at..<end)
            case 4: // duplicate a range
                let end = min(out.count, at + Int.random(in: 1...40, using: &rng))
                out.insert(contentsOf: out[at..<end], at: end)
            case 5: // truncate
                out.removeSubrange(at...)
            case 6: // random bytes
                out.insert(contentsOf: (0..<Int.random(in: 1...8, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }, at: at)
            default: // a long run, to reach the limits
                out.insert(contentsOf: [UInt8](repeating: UInt8(ascii: "a"), count: Int.random(in: 30...120, using: &rng)), at: at)
            }
        }
        return out
    }

    func testParserSurvivesRandomMutations() {
        var rng = SeededGenerator(seed: 0x5EED_F00D)
        let tight = MultipartLimits(maxHeaderLineBytes: 64, maxHeadersPerPart: 3, maxParts: 4)
        var outcomes: [String: Int] = [:]
        let started = Date()
        for round in 0..<10_000 {
            let boundary = Self.boundaries[round % Self.boundaries.count]
            let seeds = Self.seedBodies(boundary: boundary)
            let input = Self.mutate(seeds[round % seeds.count], boundary: boundary, using: &rng)
            let limits = round % 3 == 0 ? tight : MultipartLimits()
            let whole = parse(input, chunk: max(1, input.count), boundary: boundary, limits: limits)
            let bytewise = parse(input, chunk: 1, boundary: boundary, limits: limits)
            let random = parseRandomly(input, maxChunk: 1 + round % 17, using: &rng, boundary: boundary, limits: limits)
            XCTAssertEqual(whole, bytewise, "round \(round): \(String(decoding: input, as: UTF8.self).debugDescription)")
            XCTAssertEqual(whole, random, "round \(round): \(String(decoding: input, as: UTF8.self).debugDescription)")
            switch whole {
            case .parts: outcomes["parts", default: 0] += 1
            case .failure(let status):
                XCTAssertTrue(status == 400 || status == 413, "round \(round): status \(status)")
                outcomes["\(status)", default: 0] += 1
            }
        }
        // The mutations must exercise every outcome, or the run proves little.
        XCTAssertGreaterThan(outcomes["parts", default: 0], 400, "\(outcomes)")
        XCTAssertGreaterThan(outcomes["400", default: 0], 300, "\(outcomes)")
        XCTAssertGreaterThan(outcomes["413", default: 0], 50, "\(outcomes)")
        XCTAssertLessThan(Date().timeIntervalSince(started), 20)
    }

    func testReaderCleansUpAfterRandomMutations() throws {
        let dir = makeTemporaryDirectory(self)
        var rng = SeededGenerator(seed: 0xC1EA_4)
        let policy: (String) -> PartPolicy = { name in
            switch name {
            case "audio": .file(maxBytes: 40)
            case "transcript": .textOrFile(maxBytes: 20)
            case "metadata": .text(maxBytes: 30)
            default: .ignore
            }
        }
        for round in 0..<400 {
            let boundary = Self.boundaries[round % Self.boundaries.count]
            let seeds = Self.seedBodies(boundary: boundary)
            let input = Self.mutate(seeds[round % seeds.count], boundary: boundary, using: &rng)
            let body = RecordingBody(input, maxRead: 1 + round % 23)
            let contentType = "multipart/form-data; boundary=\"\(boundary)\""
            do {
                let form = try MultipartReader.read(body, contentType: contentType, tempDirectory: dir, policy: policy)
                // A refusal answers without reading the rest; a success read it all.
                XCTAssertTrue(body.fullyRead, "round \(round)")
                for (_, value) in form.parts {
                    if case .file(let f) = value {
                        XCTAssertEqual(Int64(FileManager.default.contents(atPath: f.path)?.count ?? -1), f.size)
                    }
                }
                form.removeTemporaryFiles()
            } catch let error as HTTPError {
                XCTAssertTrue([400, 413].contains(error.status.rawValue), "round \(round): \(error)")
            }
            XCTAssertEqual(directoryEntries(dir), [], "round \(round)")
        }
    }
}
