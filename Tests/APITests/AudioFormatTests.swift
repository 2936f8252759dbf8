import XCTest
@testable import API

final class AudioFormatTests: XCTestCase {
    /// Bytes from text and byte arrays, in order.
    func bytes(_ parts: ByteParts...) -> [UInt8] { parts.flatMap(\.bytes) }

    func testRecognisedFormats() {
        let cases: [([UInt8], AudioFormat)] = [
            (bytes("RIFF", [0x24, 0x08, 0, 0], "WAVEfmt ", [16, 0, 0, 0]), .wav),
            (bytes("RIFF", [0xFF, 0xFF, 0xFF, 0xFF], "WAVE"), .wav),
            (bytes([0x1A, 0x45, 0xDF, 0xA3, 0x9F, 0x42, 0x86, 0x81, 0x01, 0x42, 0x82, 0x84], "webm"), .webm),
            (bytes([0x1A, 0x45, 0xDF, 0xA3, 0xA3, 0x42, 0x82, 0x88], "matroska"), .webm),
            (bytes("OggS", [0, 2, 0, 0, 0, 0, 0, 0, 0, 0], "\u{1}vorbis"), .ogg),
            (bytes("OggS", [0, 2], "OpusHead"), .ogg),
            (bytes("ID3", [4, 0, 0, 0, 0, 0x10, 0], "TIT2"), .mp3),
            (bytes([0xFF, 0xFB, 0x90, 0x64, 0, 0, 0, 0]), .mp3),   // MPEG-1 layer III, 128 kbit/s, 44.1 kHz
            (bytes([0xFF, 0xF3, 0x48, 0xC4]), .mp3),               // MPEG-2 layer III
            (bytes([0xFF, 0xE3, 0x18, 0xC4]), .mp3),               // MPEG-2.5 layer III
            (bytes([0xFF, 0xFD, 0x50, 0x00]), .mp3),               // MPEG-1 layer II
            (bytes([0, 0, 0, 0x20], "ftypM4A ", [0, 0, 2, 0], "M4A mp42isom"), .m4a),
            (bytes([0, 0, 0, 0x18], "ftypisom", [0, 0, 2, 0], "isomiso2"), .m4a),
            (bytes([0, 0, 0, 0x14], "ftyp3gp4", [0, 0, 0, 0], "3gp4"), .m4a),
            (bytes("fLaC", [0, 0, 0, 0x22, 0x10, 0x00]), .flac),
            // An ID3 tag of 10 bytes before a FLAC stream.
            (bytes("ID3", [4, 0, 0, 0, 0, 0, 10], ByteParts([UInt8](repeating: 0, count: 10)), "fLaC", [0, 0, 0, 0x22]), .flac),
            // An ID3 tag too long to see past in the prefix: taken for MP3.
            (bytes("ID3", [4, 0, 0, 0, 0, 0x7F, 0x7F], ByteParts([UInt8](repeating: 0, count: 54))), .mp3),
        ]
        for (prefix, format) in cases {
            XCTAssertEqual(AudioFormat.sniff(prefix), format, "\(prefix.prefix(12))")
        }
    }

    func testEverythingElseIsRefused() {
        let cases: [[UInt8]] = [
            [],
            bytes("RIFF"),
            bytes("RIFF", [0, 0, 0, 0], "AVI LIST"),
            bytes("RIFF", [0, 0, 0, 0], "WEBPVP8 "),
            bytes("hello, this is text"),
            bytes("{\"name\": \"json\"}"),
            bytes([0x89], "PNG\r\n", [0x1A, 0x0A]),
            bytes("%PDF-1.7"),
            bytes([0xFF, 0xD8, 0xFF, 0xE0], "JFIF"),               // JPEG: layer bits 00
            bytes([0xFF, 0xF1, 0x50, 0x80, 0x02, 0x1F, 0xFC]),     // AAC ADTS, not MPEG audio
            bytes([0xFF, 0xFB, 0xF0, 0x64]),                       // bad bitrate index
            bytes([0xFF, 0xFB, 0x9C, 0x64]),                       // reserved sample rate
            bytes([0xFF, 0xEB, 0x90, 0x64]),                       // reserved version
            bytes([0xFF, 0xFB]),                                   // too short to tell
            bytes([0, 0, 0, 0x18], "ftypheic", [0, 0, 0, 0], "mif1heic"),
            bytes([0, 0, 0, 0x1C], "ftypavif", [0, 0, 0, 0], "avifmif1"),
            bytes([0, 0, 0, 0x18], "ftyp"),
            bytes("OggX"),
            bytes("fLaX"),
            bytes("PK", [3, 4]),
        ]
        for prefix in cases {
            XCTAssertNil(AudioFormat.sniff(prefix), "\(prefix)")
        }
    }

    func testExtensionsAndContentTypes() {
        XCTAssertEqual(AudioFormat.allCases.map(\.rawValue), ["wav", "webm", "ogg", "mp3", "m4a", "flac"])
        XCTAssertEqual(AudioFormat.allCases.map(\.contentType),
                       ["audio/wav", "audio/webm", "audio/ogg", "audio/mpeg", "audio/mp4", "audio/flac"])
    }
}

/// Text or raw bytes, to write test prefixes readably.
struct ByteParts: ExpressibleByStringLiteral, ExpressibleByArrayLiteral {
    let bytes: [UInt8]
    init(stringLiteral value: String) { bytes = Array(value.utf8) }
    init(arrayLiteral elements: UInt8...) { bytes = elements }
    init(_ bytes: [UInt8]) { self.bytes = bytes }
}
