import XCTest
import HTTP
@testable import Uploads

// Helpers shared by the Multipart*Tests files.

/// A deterministic generator (SplitMix64), so random runs repeat exactly.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

struct ParsedPart: Equatable, CustomStringConvertible {
    var name: String
    var filename: String?
    var contentType: String?
    var data: [UInt8]
    init(_ name: String, filename: String? = nil, contentType: String? = nil, _ data: String) {
        self.init(name, filename: filename, contentType: contentType, bytes: Array(data.utf8))
    }
    init(_ name: String, filename: String? = nil, contentType: String? = nil, bytes: [UInt8]) {
        self.name = name
        self.filename = filename
        self.contentType = contentType
        self.data = bytes
    }
    var description: String { "\(name)|\(filename ?? "-")|\(contentType ?? "-")|\(String(decoding: data, as: UTF8.self).debugDescription)" }
}

enum ParseOutcome: Equatable {
    case parts([ParsedPart])
    case failure(Int)
}

/// Runs the parser over `pieces` (each copied to a buffer of exactly its size, so a
/// read past a piece is caught), checking the order of events.
func parse(pieces: [ArraySlice<UInt8>], boundary: String = "XyZ-b0und",
           limits: MultipartLimits = MultipartLimits()) -> ParseOutcome {
    var parser = MultipartParser(boundary: Array(boundary.utf8), limits: limits)
    var parts: [ParsedPart] = []
    var open = false
    do {
        for piece in pieces {
            let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: piece.count, alignment: 1)
            defer { copy.deallocate() }
            copy.copyBytes(from: piece)
            try parser.feed(UnsafeRawBufferPointer(copy)) { event in
                switch event {
                case .partBegin(let h):
                    XCTAssertFalse(open, "part began inside a part")
                    open = true
                    parts.append(ParsedPart(h.name, filename: h.filename, contentType: h.contentType, bytes: []))
                case .partData(let d):
                    XCTAssertTrue(open, "data outside a part")
                    XCTAssertFalse(d.isEmpty, "empty data event")
                    parts[parts.count - 1].data.append(contentsOf: d)
                case .partEnd:
                    XCTAssertTrue(open, "end outside a part")
                    open = false
                }
            }
        }
        try parser.finish()
        XCTAssertFalse(open, "complete with a part open")
        return .parts(parts)
    } catch let error as HTTPError {
        return .failure(error.status.rawValue)
    } catch {
        XCTFail("unexpected error \(error)")
        return .failure(-1)
    }
}

func parse(_ body: [UInt8], chunk: Int, offset: Int = 0, boundary: String = "XyZ-b0und",
           limits: MultipartLimits = MultipartLimits()) -> ParseOutcome {
    var pieces: [ArraySlice<UInt8>] = []
    var i = 0
    if offset > 0 { pieces.append(body[0..<min(offset, body.count)]); i = min(offset, body.count) }
    while i < body.count {
        pieces.append(body[i..<min(i + chunk, body.count)])
        i += chunk
    }
    return parse(pieces: pieces, boundary: boundary, limits: limits)
}

func parseRandomly(_ body: [UInt8], maxChunk: Int, using rng: inout SeededGenerator, boundary: String = "XyZ-b0und",
                   limits: MultipartLimits = MultipartLimits()) -> ParseOutcome {
    var pieces: [ArraySlice<UInt8>] = []
    var i = 0
    while i < body.count {
        let n = Int.random(in: 0...maxChunk, using: &rng) // empty pieces too
        pieces.append(body[i..<min(i + n, body.count)])
        i += n
    }
    return parse(pieces: pieces, boundary: boundary, limits: limits)
}

/// A well-formed body: each part is its header lines and its data.
func multipartBody(boundary: String = "XyZ-b0und", _ parts: [(headers: [String], data: [UInt8])],
                   preamble: String = "", epilogue: String = "") -> [UInt8] {
    var body = Array(preamble.utf8)
    if !preamble.isEmpty { body += Array("\r\n".utf8) }
    body += Array("--\(boundary)".utf8)
    for part in parts {
        body += Array("\r\n".utf8)
        for h in part.headers { body += Array("\(h)\r\n".utf8) }
        body += Array("\r\n".utf8)
        body += part.data
        body += Array("\r\n--\(boundary)".utf8)
    }
    body += Array("--".utf8)
    body += Array(epilogue.utf8)
    return body
}

func field(_ name: String, _ value: String) -> (headers: [String], data: [UInt8]) {
    (["Content-Disposition: form-data; name=\"\(name)\""], Array(value.utf8))
}

final class MultipartParserTests: XCTestCase {
    let boundary = "XyZ-b0und"

    /// Parts whose data comes close to the delimiter in every way but one.
    var trickyParts: [(headers: [String], data: [UInt8])] {
        [
            (["Content-Disposition: form-data; name=\"audio\"; filename=\"take 1.wav\"", "Content-Type: audio/wav"],
             Array("RIFF\r\n--XyZ-b0un\r\n-\r\r\n\r\n--XyZ-b0unX--XyZ-b0und\r".utf8)),
            field("empty", ""),
            field("crlf", "\r\n"),
            field("cr", "\r"),
            field("dashes", "--\r\n--\r\n--XyZ"),
            (["content-disposition: form-data; name=transcript", "X-Extra:   padded value  "], Array("hello\nworld".utf8)),
        ]
    }

    var trickyExpected: [ParsedPart] {
        [
            ParsedPart("audio", filename: "take 1.wav", contentType: "audio/wav", "RIFF\r\n--XyZ-b0un\r\n-\r\r\n\r\n--XyZ-b0unX--XyZ-b0und\r"),
            ParsedPart("empty", ""),
            ParsedPart("crlf", "\r\n"),
            ParsedPart("cr", "\r"),
            ParsedPart("dashes", "--\r\n--\r\n--XyZ"),
            ParsedPart("transcript", "hello\nworld"),
        ]
    }

    func testWholeBody() {
        let body = multipartBody(trickyParts)
        XCTAssertEqual(parse(body, chunk: body.count), .parts(trickyExpected))
    }

    func testEverySplitPosition() {
        let body = multipartBody(trickyParts, preamble: "pre\r\n--XyZ-b0un", epilogue: "\r\nepilogue\r\n--XyZ-b0und--")
        for i in 0...body.count {
            XCTAssertEqual(parse(pieces: [body[0..<i], body[i...]]), .parts(trickyExpected), "split at \(i)")
        }
    }

    func testEveryPairOfSplitPositionsAroundEachDelimiter() {
        // Three pieces, two cuts both inside or near a delimiter: a delimiter spread
        // over three reads.
        let body = multipartBody([field("a", "1"), field("b", "22")])
        for i in 0...body.count {
            for j in i...min(body.count, i + 16) {
                XCTAssertEqual(parse(pieces: [body[0..<i], body[i..<j], body[j...]]),
                               .parts([ParsedPart("a", "1"), ParsedPart("b", "22")]), "cuts at \(i), \(j)")
            }
        }
    }

    func testOneByteReads() {
        let body = multipartBody(trickyParts, preamble: "preamble", epilogue: "\r\n")
        XCTAssertEqual(parse(body, chunk: 1), .parts(trickyExpected))
    }

    func testSevenByteReadsAtEveryPhase() {
        let body = multipartBody(trickyParts, preamble: "preamble", epilogue: "\r\n")
        for offset in 0..<7 {
            XCTAssertEqual(parse(body, chunk: 7, offset: offset), .parts(trickyExpected), "phase \(offset)")
        }
    }

    func testRandomReads() {
        var rng = SeededGenerator(seed: 42)
        let body = multipartBody(trickyParts, preamble: "\r\n\r\n--", epilogue: "junk")
        for round in 0..<500 {
            XCTAssertEqual(parseRandomly(body, maxChunk: 1 + round % 40, using: &rng), .parts(trickyExpected), "round \(round)")
        }
    }

    func testPreambleAndEpilogueAreIgnored() {
        let parts = [field("a", "x")]
        let preamble = "This is a preamble.\r\n--XyZ-b0un\r\n--XyZ-b0undary? no: \r\n-- XyZ-b0und"
        let body = multipartBody(parts, preamble: preamble, epilogue: "\r\nThe end.\r\n--XyZ-b0und\r\nnot a part")
        // The preamble's "--XyZ-b0undary" follows a CRLF: it is a delimiter followed by junk.
        XCTAssertEqual(parse(body, chunk: 5), .failure(400))

        let clean = multipartBody(parts, preamble: "A preamble\r\nwith lines\r\n--XyZ-b0un",
                                  epilogue: "\r\nThe end.\r\n--XyZ-b0und\r\nnot a part")
        XCTAssertEqual(parse(clean, chunk: 5), .parts([ParsedPart("a", "x")]))
    }

    func testFirstDelimiterMayFollowCRLFOrStartTheBody() {
        let plain = Array("--XyZ-b0und\r\nContent-Disposition: form-data; name=a\r\n\r\nv\r\n--XyZ-b0und--".utf8)
        XCTAssertEqual(parse(plain, chunk: 3), .parts([ParsedPart("a", "v")]))
        XCTAssertEqual(parse(Array("\r\n".utf8) + plain, chunk: 3), .parts([ParsedPart("a", "v")]))
        XCTAssertEqual(parse(Array("\r\r\n".utf8) + plain, chunk: 1), .parts([ParsedPart("a", "v")]))
        // Not at the start of a line: preamble text, up to the closing delimiter.
        XCTAssertEqual(parse(Array("x".utf8) + plain, chunk: 3), .parts([]))
    }

    func testNoPartsAtAll() {
        XCTAssertEqual(parse(Array("--XyZ-b0und--".utf8), chunk: 1), .parts([]))
        XCTAssertEqual(parse(Array("--XyZ-b0und--\r\n".utf8), chunk: 100), .parts([]))
    }

    func testMissingFinalBoundary() {
        let full = multipartBody([field("a", "value")])
        let cuts = [
            "",                                                      // empty body
            "--XyZ-b0und",                                           // just a delimiter
            "--XyZ-b0und\r\n",                                       // a part's start
            "--XyZ-b0und\r\nContent-Disposition: form-data; name=\"a\"", // inside the headers
            "--XyZ-b0und\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nvalue",     // inside the data
            "--XyZ-b0und\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nvalue\r\n--XyZ-b0und", // before `--`
            "--XyZ-b0und\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nvalue\r\n--XyZ-b0und-",
        ]
        for cut in cuts {
            XCTAssertTrue(full.starts(with: Array(cut.utf8)), cut)
            XCTAssertEqual(parse(Array(cut.utf8), chunk: 4), .failure(400), cut.debugDescription)
        }
        XCTAssertEqual(parse(full, chunk: 4), .parts([ParsedPart("a", "value")]))
        XCTAssertEqual(parse(Array("no multipart here".utf8), chunk: 4), .failure(400))
    }

    func testBadFramingAfterADelimiter() {
        let head = "--XyZ-b0und\r\nContent-Disposition: form-data; name=a\r\n\r\nv\r\n--XyZ-b0und"
        XCTAssertEqual(parse(Array((head + "X\r\n").utf8), chunk: 1), .failure(400))      // delimiter + junk
        XCTAssertEqual(parse(Array((head + "-x").utf8), chunk: 1), .failure(400))         // half a close
        XCTAssertEqual(parse(Array((head + "\rx").utf8), chunk: 1), .failure(400))        // CR without LF
        XCTAssertEqual(parse(Array((head + " \t x").utf8), chunk: 1), .failure(400))      // padding then junk
        // Transport padding before the CRLF is allowed.
        let padded = head + " \t\r\nContent-Disposition: form-data; name=b\r\n\r\n\r\n--XyZ-b0und--"
        XCTAssertEqual(parse(Array(padded.utf8), chunk: 2), .parts([ParsedPart("a", "v"), ParsedPart("b", "")]))
    }

    func testLineEndingsMustBeCRLF() {
        let lfOnly = "--XyZ-b0und\nContent-Disposition: form-data; name=a\n\nv\n--XyZ-b0und--"
        XCTAssertEqual(parse(Array(lfOnly.utf8), chunk: 8), .failure(400))
        let lfHeaders = "--XyZ-b0und\r\nContent-Disposition: form-data; name=a\n\r\n\r\nv\r\n--XyZ-b0und--"
        XCTAssertEqual(parse(Array(lfHeaders.utf8), chunk: 8), .failure(400))
        let crInHeader = "--XyZ-b0und\r\nContent-Disposition: form-data;\r name=a\r\n\r\nv\r\n--XyZ-b0und--"
        XCTAssertEqual(parse(Array(crInHeader.utf8), chunk: 8), .failure(400))
    }

    func testPartsWithoutNames() {
        let noName = multipartBody([(["Content-Disposition: form-data; filename=\"a.wav\""], Array("x".utf8))])
        XCTAssertEqual(parse(noName, chunk: 3), .failure(400))
        let noDisposition = multipartBody([(["Content-Type: text/plain"], Array("x".utf8))])
        XCTAssertEqual(parse(noDisposition, chunk: 3), .failure(400))
        let noHeaders = multipartBody([([], Array("x".utf8))])
        XCTAssertEqual(parse(noHeaders, chunk: 3), .failure(400))
        let emptyName = multipartBody([(["Content-Disposition: form-data; name=\"\""], Array("x".utf8))])
        XCTAssertEqual(parse(emptyName, chunk: 3), .parts([ParsedPart("", "x")]))
    }

    func testMalformedHeaderLines() {
        for line in ["no colon here", ": empty name", "Bad Name: x", "Nul\u{0}: x", "Name: bell\u{7}"] {
            let body = multipartBody([(["Content-Disposition: form-data; name=a", line], Array("x".utf8))])
            XCTAssertEqual(parse(body, chunk: 64), .failure(400), line.debugDescription)
        }
        // Folded (obsolete) continuation lines are not supported.
        let folded = multipartBody([(["Content-Disposition: form-data;", " name=a"], Array("x".utf8))])
        XCTAssertEqual(parse(folded, chunk: 64), .failure(400))
    }

    func testHugeHeaderLines() {
        let limits = MultipartLimits(maxHeaderLineBytes: 100)
        let atLimit = "X-Pad: " + String(repeating: "p", count: 100 - 7)
        let body = multipartBody([(["Content-Disposition: form-data; name=a", atLimit], Array("x".utf8))])
        XCTAssertEqual(parse(body, chunk: 9, limits: limits), .parts([ParsedPart("a", "x")]))
        let over = multipartBody([(["Content-Disposition: form-data; name=a", atLimit + "p"], Array("x".utf8))])
        XCTAssertEqual(parse(over, chunk: 9, limits: limits), .failure(413))

        // The default limit, and a line of a megabyte that never ends: refused at once,
        // not buffered.
        var endless = Array("--XyZ-b0und\r\nContent-Disposition: form-data; name=\"".utf8)
        endless += [UInt8](repeating: UInt8(ascii: "a"), count: 1 << 20)
        var parser = MultipartParser(boundary: Array("XyZ-b0und".utf8))
        var consumed = 0
        var status = 0
        do {
            for start in stride(from: 0, to: endless.count, by: 4096) {
                let end = min(start + 4096, endless.count)
                try endless[start..<end].withUnsafeBytes { try parser.feed($0) { _ in } }
                consumed = end
            }
        } catch let error as HTTPError {
            status = error.status.rawValue
        } catch {}
        XCTAssertEqual(status, 413)
        XCTAssertLessThanOrEqual(consumed, 8192 + 4096 * 2)
    }

    func testHeaderCountLimit() {
        let limits = MultipartLimits(maxHeadersPerPart: 3)
        let three = ["Content-Disposition: form-data; name=a", "X-1: 1", "X-2: 2"]
        XCTAssertEqual(parse(multipartBody([(three, Array("x".utf8))]), chunk: 5, limits: limits), .parts([ParsedPart("a", "x")]))
        XCTAssertEqual(parse(multipartBody([(three + ["X-3: 3"], Array("x".utf8))]), chunk: 5, limits: limits), .failure(413))
    }

    func testPartCountLimit() {
        let limits = MultipartLimits(maxParts: 3)
        let three = (0..<3).map { field("f\($0)", "\($0)") }
        XCTAssertEqual(parse(multipartBody(three), chunk: 5, limits: limits),
                       .parts((0..<3).map { ParsedPart("f\($0)", "\($0)") }))
        XCTAssertEqual(parse(multipartBody(three + [field("f3", "3")]), chunk: 5, limits: limits), .failure(413))
    }

    func testFilenamesWithQuotesAndSeparators() {
        let cases: [(String, String?)] = [
            (#"form-data; name="audio"; filename="a \"quoted\" name.wav""#, #"a "quoted" name.wav"#),
            (#"form-data; name="audio"; filename="my "best" take.wav""#, #"my "best" take.wav"#),
            (#"form-data; name="audio"; filename="semi;colon=.wav""#, "semi;colon=.wav"),
            (#"form-data; name="audio"; filename="back\\slash\\.wav""#, #"back\slash\.wav"#),
            (#"form-data; name="audio"; filename="C:\Users\me\take.wav""#, #"C:\Users\me\take.wav"#),
            (#"form-data; name="audio"; filename="%22browser%22.wav""#, "%22browser%22.wav"),
            (#"form-data; name="audio"; filename="""#, ""),
            (#"form-data; name="audio"; filename="ünïcödé 🎤.wav""#, "ünïcödé 🎤.wav"),
            (#"form-data; name="audio"; filename="unterminated.wav"#, "unterminated.wav"),
            (#"form-data;name=audio;filename=plain.wav"#, "plain.wav"),
            (#"form-data; NAME="audio"; FileName = "spaced.wav" ; x=1"#, "spaced.wav"),
            (#"form-data; name="audio""#, nil),
        ]
        for (disposition, filename) in cases {
            let body = multipartBody([(["Content-Disposition: " + disposition], Array("x".utf8))])
            XCTAssertEqual(parse(body, chunk: 7), .parts([ParsedPart("audio", filename: filename, "x")]), disposition)
        }
        let quotedName = multipartBody([([#"Content-Disposition: form-data; name="a \"b\"; c""#], Array("x".utf8))])
        XCTAssertEqual(parse(quotedName, chunk: 7), .parts([ParsedPart(#"a "b"; c"#, "x")]))
    }

    func testFirstParameterOfANameWins() {
        let body = multipartBody([(["Content-Disposition: form-data; name=first; name=second; filename=a; filename=b"], Array("x".utf8))])
        XCTAssertEqual(parse(body, chunk: 7), .parts([ParsedPart("first", filename: "a", "x")]))
    }

    func testBoundaryLookalikesInsideData() {
        // Not after CRLF: plain data.
        let data = "--XyZ-b0und-- and x--XyZ-b0und\n--XyZ-b0und"
        XCTAssertEqual(parse(multipartBody([field("a", data)]), chunk: 3), .parts([ParsedPart("a", data)]))
        // After CRLF it is a delimiter, and what follows must frame.
        XCTAssertEqual(parse(multipartBody([field("a", "x\r\n--XyZ-b0undary")]), chunk: 3), .failure(400))
    }

    func testBinaryDataPassesThrough() {
        var rng = SeededGenerator(seed: 7)
        var data = (0..<20_000).map { _ in UInt8.random(in: 0...255, using: &rng) }
        data += Array("\r\n--XyZ-b0un".utf8) // a delimiter prefix at the very end of the data
        let body = multipartBody([(["Content-Disposition: form-data; name=bin; filename=b"], data)])
        for chunk in [1, 7, 4096, 65536] {
            XCTAssertEqual(parse(body, chunk: chunk), .parts([ParsedPart("bin", filename: "b", bytes: data)]), "chunk \(chunk)")
        }
    }
}

final class MultipartContentTypeTests: XCTestCase {
    func testBoundaryIsRead() throws {
        XCTAssertEqual(try MultipartContentType.boundary(of: "multipart/form-data; boundary=abc"), Array("abc".utf8))
        XCTAssertEqual(try MultipartContentType.boundary(of: "Multipart/Form-Data;charset=utf-8;  BOUNDARY=\"a b;c\""), Array("a b;c".utf8))
        XCTAssertEqual(try MultipartContentType.boundary(of: "multipart/form-data; boundary=----WebKitFormBoundary7MA4YWxkTrZu0gW"),
                       Array("----WebKitFormBoundary7MA4YWxkTrZu0gW".utf8))
        XCTAssertEqual(try MultipartContentType.boundary(of: "multipart/form-data; boundary=" + String(repeating: "b", count: 70)).count, 70)
    }

    func testWrongTypeIs415() {
        for type in [nil, "", "application/json", "multipart/mixed; boundary=a", "text/plain; boundary=a"] as [String?] {
            XCTAssertThrowsError(try MultipartContentType.boundary(of: type), String(describing: type)) {
                XCTAssertEqual(($0 as? HTTPError)?.status, .unsupportedMediaType)
            }
        }
    }

    func testBadBoundaryIs400() {
        for type in ["multipart/form-data", "multipart/form-data; boundary=", "multipart/form-data; boundary=\"\"",
                     "multipart/form-data; boundary=" + String(repeating: "b", count: 71),
                     "multipart/form-data; boundary=\"ends with space \"", "multipart/form-data; boundary=\"é\"",
                     "multipart/form-data; charset=utf-8"] {
            XCTAssertThrowsError(try MultipartContentType.boundary(of: type), type) {
                XCTAssertEqual(($0 as? HTTPError)?.status, .badRequest)
            }
        }
    }
}
