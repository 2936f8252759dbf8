import Auth
import Operations
import RecstoreConfiguration
import Foundation
import HTTP
import JSON
import XCTest
import DevIssuer

/// Real RSA keys, made once per test run.
enum TestKeys {
    static let a = try! RSAPrivateKey.generate(bits: 2048)
    static let b = try! RSAPrivateKey.generate(bits: 2048)
    static let outsider = try! RSAPrivateKey.generate(bits: 2048)

    static func jwks(_ keys: [(key: RSAPrivateKey, kid: String)]) -> String {
        JSON.object(JSONObject([("keys", .array(keys.map { $0.key.jwk(kid: $0.kid) }))])).serialized()
    }
}

/// An authenticator configured as the service would be (Configuration.load from
/// an environment), against a JWKS served over loopback HTTP by the test.
final class Fixture {
    static let issuer = "https://tenant.example.auth0.com/"
    static let audience = "https://recstore.example/api"

    let server: JWKSServer
    let clock: TestClock
    let auth: JWTAuthenticator

    init(jwks: String = TestKeys.jwks([(TestKeys.a, "key-a")]), extraEnvironment: [String: String] = [:],
         beforeStart: (JWKSServer) -> Void = { _ in }) throws {
        server = try JWKSServer()
        server.serve(jwks)
        beforeStart(server)
        clock = TestClock()
        var env = ["AUTH0_ISSUER": Self.issuer, "AUTH0_AUDIENCE": Self.audience, "AUTH0_JWKS_URL": server.url]
        env.merge(extraEnvironment) { _, new in new }
        let configuration = try Configuration.load(env)
        auth = JWTAuthenticator(options: AuthOptions(configuration.identity), clock: clock.function)
    }

    deinit { server.stop() }

    var now: Int { Int(clock.now) }

    func claims(sub: JSON? = .string("auth0|5f7c8ec7c33c6c004bbafe82"), iss: JSON? = .string(Fixture.issuer),
                aud: JSON? = .string(Fixture.audience), exp: JSON? = nil, nbf: JSON? = nil, iat: JSON? = nil,
                extra: [(String, JSON)] = []) -> String {
        var c = JSONObject()
        if let iss { c["iss"] = iss }
        if let sub { c["sub"] = sub }
        if let aud { c["aud"] = aud }
        c["iat"] = iat ?? .int(now)
        if let nbf { c["nbf"] = nbf }
        c["exp"] = exp ?? .int(now + 3600)
        for (k, v) in extra { c[k] = v }
        return JSON.object(c).serialized()
    }

    func token(_ payload: String? = nil, key: RSAPrivateKey = TestKeys.a, kid: String? = "key-a", alg: String = "RS256") -> String {
        TokenFactory.token(header: TokenFactory.header(alg: alg, kid: kid), payload: payload ?? claims(), key: key, algorithm: alg)
    }

    func request(authorization: String?) -> Request {
        var headers = Headers()
        if let authorization { headers.set("Authorization", authorization) }
        return Request(method: "GET", target: "/api/v1/upload/storage-info", headers: headers)
    }

    /// The subject, or the HTTP error the API would answer.
    func authenticate(_ token: String) -> Result<String, HTTPError> {
        authenticate(header: "Bearer " + token)
    }

    func authenticate(header: String?) -> Result<String, HTTPError> {
        do {
            return .success(try auth.authenticate(request(authorization: header)).subject)
        } catch let e as any HTTPResponseError {
            // As the API would answer it (ErrorResponse): status, headers, detail.
            return .failure(HTTPError(e.status, e.detail, headers: e.headers))
        } catch {
            XCTFail("unexpected error \(error)")
            return .failure(HTTPError(.internalServerError, "\(error)"))
        }
    }
}

/// Asserts a 401 with the RFC 6750 challenge naming `reason`.
func assertRefused(_ result: Result<String, HTTPError>, _ reason: String, file: StaticString = #filePath, line: UInt = #line) {
    switch result {
    case .success(let sub):
        XCTFail("accepted (sub \(sub)), expected refusal: \(reason)", file: file, line: line)
    case .failure(let e):
        XCTAssertEqual(e.status, .unauthorized, "\(e)", file: file, line: line)
        XCTAssertEqual(e.headers["WWW-Authenticate"],
                       "Bearer realm=\"recstore\", error=\"invalid_token\", error_description=\"\(reason)\"", file: file, line: line)
        XCTAssertEqual(e.detail, "Invalid token: \(reason)", file: file, line: line)
    }
}

func assertAccepted(_ result: Result<String, HTTPError>, _ subject: String, file: StaticString = #filePath, line: UInt = #line) {
    switch result {
    case .success(let sub): XCTAssertEqual(sub, subject, file: file, line: line)
    case .failure(let e): XCTFail("refused: \(e) \(e.headers["WWW-Authenticate"] ?? "")", file: file, line: line)
    }
}
