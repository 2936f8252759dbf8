import Auth
import JSON
import XCTest
import DevIssuer

final class JWKSetTests: XCTestCase {
    func testRSAJWKBecomesTheSamePublicKeyOpenSSLWrites() throws {
        let jwks = TestKeys.jwks([(TestKeys.a, "key-a"), (TestKeys.b, "key-b")])
        let parsed = try JWKSet.parse(Array(jwks.utf8))
        XCTAssertEqual(parsed.keys.count, 2)
        XCTAssertEqual(parsed.keys["key-a"]?.publicKey.pem, TestKeys.a.publicPEM)
        XCTAssertEqual(parsed.keys["key-b"]?.publicKey.pem, TestKeys.b.publicPEM)
        XCTAssertEqual(parsed.keys["key-a"]?.publicKey.bits, 2048)
        XCTAssertEqual(parsed.keys["key-a"]?.algorithm, "RS256")
        XCTAssertTrue(parsed.skipped.isEmpty)
    }

    func testKeysNotMeantForRSASignaturesAreSkipped() throws {
        let (n, e) = TestKeys.a.publicNumbers
        func rsa(_ extra: [(String, JSON)], kid: String) -> JSON {
            var o = JSONObject([("kty", .string("RSA")), ("kid", .string(kid)),
                                ("n", .string(Base64URL.encode(n))), ("e", .string(Base64URL.encode(e)))])
            for (k, v) in extra { o[k] = v }
            return .object(o)
        }
        let small = try RSAPrivateKey.generate(bits: 1024).publicNumbers
        let keys: [JSON] = [
            rsa([], kid: "plain"),
            rsa([("use", .string("enc"))], kid: "enc"),
            rsa([("alg", .string("RSA-OAEP"))], kid: "oaep"),
            rsa([("alg", .string("HS256"))], kid: "hmac"),
            rsa([("key_ops", .array([.string("encrypt")]))], kid: "ops"),
            rsa([("key_ops", .array([.string("verify")])), ("alg", .string("RS512"))], kid: "verify"),
            rsa([], kid: "plain"),
            .object(JSONObject([("kty", .string("RSA")), ("n", .string(Base64URL.encode(n))), ("e", .string(Base64URL.encode(e)))])),
            .object(JSONObject([("kty", .string("EC")), ("kid", .string("ec")), ("crv", .string("P-256"))])),
            .object(JSONObject([("kty", .string("oct")), ("kid", .string("oct")), ("k", .string("c2VjcmV0"))])),
            .object(JSONObject([("kty", .string("RSA")), ("kid", .string("small")),
                                ("n", .string(Base64URL.encode(small.modulus))), ("e", .string(Base64URL.encode(small.exponent)))])),
            .object(JSONObject([("kty", .string("RSA")), ("kid", .string("padded")),
                                ("n", .string(Base64URL.encode(n) + "==")), ("e", .string("AQAB"))])),
            .string("not a key"),
        ]
        let document = JSON.object(JSONObject([("keys", .array(keys))])).serialized()
        let parsed = try JWKSet.parse(Array(document.utf8))
        XCTAssertEqual(Set(parsed.keys.keys), ["plain", "verify"])
        XCTAssertNil(parsed.keys["plain"]?.algorithm)
        XCTAssertEqual(parsed.keys["verify"]?.algorithm, "RS512")
        XCTAssertEqual(parsed.skipped.count, keys.count - 2)
    }

    func testDocumentsThatAreNotAJWKSAreErrors() {
        XCTAssertThrowsError(try JWKSet.parse(Array("<html>".utf8)))
        XCTAssertThrowsError(try JWKSet.parse(Array("{\"keys\":{}}".utf8)))
        XCTAssertThrowsError(try JWKSet.parse(Array("[]".utf8)))
        XCTAssertEqual(try JWKSet.parse(Array("{\"keys\":[]}".utf8)).keys.count, 0)
    }
}
