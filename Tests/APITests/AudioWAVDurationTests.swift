import Foundation
import XCTest
@testable import API

final class AudioWAVDurationTests: XCTestCase {
    var dir = ""

    override func setUp() {
        dir = NSTemporaryDirectory() + "wav-test-" + UUID().uuidString
        try! FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: false)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: dir)
    }

    func le32(_ v: UInt32) -> [UInt8] { [UInt8(v & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v >> 16 & 0xFF), UInt8(v >> 24)] }
    func le16(_ v: UInt16) -> [UInt8] { [UInt8(v & 0xFF), UInt8(v >> 8)] }

    func chunk(_ id: String, _ body: [UInt8], declaredSize: UInt32? = nil) -> [UInt8] {
        var out = Array(id.utf8) + le32(declaredSize ?? UInt32(body.count)) + body
        if body.count % 2 == 1 { out.append(0) }
        return out
    }

    func fmt(sampleRate: UInt32 = 8000, channels: UInt16 = 1, bits: UInt16 = 16, byteRate: UInt32? = nil) -> [UInt8] {
        let blockAlign = channels * bits / 8
        return chunk("fmt ", le16(1) + le16(channels) + le32(sampleRate) + le32(byteRate ?? sampleRate * UInt32(blockAlign))
                     + le16(blockAlign) + le16(bits))
    }

    func wav(_ chunks: [UInt8]..., riffSize: UInt32? = nil) -> [UInt8] {
        let body = Array("WAVE".utf8) + chunks.flatMap { $0 }
        return Array("RIFF".utf8) + le32(riffSize ?? UInt32(body.count)) + body
    }

    func duration(_ bytes: [UInt8]) -> Double? {
        let path = dir + "/a.wav"
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data(bytes)))
        return WAVDuration.seconds(ofFileAt: path)
    }

    func samples(_ count: Int) -> [UInt8] { [UInt8](repeating: 0x11, count: count) }

    func testPlainWAV() throws {
        // 1.5 s of 8 kHz 16-bit mono: 24000 bytes at 16000 bytes/s.
        XCTAssertEqual(duration(wav(fmt(), chunk("data", samples(24_000)))), 1.5)
        // 44.1 kHz 16-bit stereo, 0.25 s.
        XCTAssertEqual(duration(wav(fmt(sampleRate: 44_100, channels: 2), chunk("data", samples(44_100)))), 0.25)
    }

    func testChunksAreWalked() {
        // LIST before fmt, an odd-sized chunk padded to even, fact between fmt and data.
        let list = chunk("LIST", Array("INFOISFT".utf8) + samples(9))
        let odd = chunk("junk", samples(3))
        XCTAssertEqual(duration(wav(list, odd, fmt(), chunk("fact", le32(8000)), chunk("data", samples(16_000)))), 1.0)
        // Data before fmt, and trailing chunks after data.
        XCTAssertEqual(duration(wav(chunk("data", samples(8000)), fmt(), chunk("LIST", samples(20)))), 0.5)
    }

    func testStreamedWAVUsesTheFileSize() {
        // A recorder that never filled in the sizes: 0 or 0xFFFFFFFF.
        for size: UInt32 in [0, 0xFFFF_FFFF] {
            let file = wav(fmt(), Array("data".utf8) + le32(size) + samples(32_000), riffSize: size)
            XCTAssertEqual(duration(file), 2.0, "size \(size)")
        }
        // A size past the end of the file (a truncated upload): what is there.
        XCTAssertEqual(duration(wav(fmt(), Array("data".utf8) + le32(1_000_000) + samples(4000))), 0.25)
    }

    func testByteRateZeroFallsBackToSampleRateTimesBlockAlign() {
        XCTAssertEqual(duration(wav(fmt(byteRate: 0), chunk("data", samples(8000)))), 0.5)
    }

    func testNotAWAV() {
        XCTAssertNil(duration([]))
        XCTAssertNil(duration(Array("RIFF".utf8)))
        XCTAssertNil(duration(Array("RIFF\0\0\0\0AVI LIST".utf8)))
        XCTAssertNil(duration(Array("OggS\0\0\0\0\0\0\0\0\0\0\0\0".utf8)))
        XCTAssertNil(duration(wav(fmt())))                                   // no data chunk
        XCTAssertNil(duration(wav(chunk("data", samples(100)))))             // no fmt chunk
        XCTAssertNil(duration(wav(chunk("fmt ", samples(8)), chunk("data", samples(100)))))  // fmt too short
        XCTAssertNil(duration(wav(fmt(sampleRate: 0, byteRate: 0), chunk("data", samples(100)))))
        XCTAssertNil(duration(Array(wav(fmt(), chunk("data", samples(100))).prefix(12 + 8 + 10)))) // cut inside fmt
        XCTAssertNil(WAVDuration.seconds(ofFileAt: dir + "/missing.wav"))
        XCTAssertNil(WAVDuration.seconds(ofFileAt: dir))
    }

    func testManyTinyChunksAreNotWalkedForever() {
        let filler = (0..<5000).flatMap { _ in chunk("pad ", []) }
        XCTAssertNil(duration(wav(filler, fmt(), chunk("data", samples(16_000)))))
        XCTAssertEqual(duration(wav(Array(filler.prefix(8 * 900)), fmt(), chunk("data", samples(16_000)))), 1.0)
    }
}
