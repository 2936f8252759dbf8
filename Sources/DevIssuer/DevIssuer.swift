#if canImport(Glibc)
import Glibc
#endif
import Foundation
import JSON
import POSIX
import Auth

/// A local stand-in for Auth0, for `make run` and tests: an RSA key pair and the
/// JWKS that publishes it, kept in one directory:
///
///     private.pem   the signing key (mode 0600)
///     jwks.json     what the service reads through AUTH0_JWKS_FILE
///     issuer.json   {"issuer", "audience", "kid"}: what `recstore token` signs
///
/// `prepare` is idempotent: an existing key (and issuer.json) is kept.
public struct DevIssuer: Sendable {
    public static let defaultIssuer = "https://recstore.dev.invalid/"
    public static let defaultAudience = "recstore-dev"

    public let directory: String
    public let issuer: String
    public let audience: String
    public let signer: JWTSigner

    public var privateKeyPath: String { directory + "/private.pem" }
    public var jwksPath: String { directory + "/jwks.json" }
    public var configPath: String { directory + "/issuer.json" }

    /// `${RUN_DIR:-./.run}/dev-issuer`.
    public static func defaultDirectory(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        let runDir = environment["RUN_DIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "./.run"
        return runDir + "/dev-issuer"
    }

    /// Creates what is missing in `directory` and returns the issuer.
    public static func prepare(directory: String) throws(KeyError) -> DevIssuer {
        let dir = absolute(directory)
        try makeDirectory(dir)
        let keyPath = dir + "/private.pem"
        let key: RSAPrivateKey
        if FileManager.default.fileExists(atPath: keyPath) {
            key = try RSAPrivateKey(pem: try readText(keyPath))
        } else {
            let fresh = try RSAPrivateKey.generate(bits: 2048)
            // link(2) refuses to replace: if another process made a key meanwhile, use theirs.
            if try publish(Array(fresh.privatePEM.utf8), at: keyPath, mode: 0o600, replace: false) {
                key = fresh
            } else {
                key = try RSAPrivateKey(pem: try readText(keyPath))
            }
        }
        let kid = key.thumbprint
        var issuer = defaultIssuer, audience = defaultAudience
        if let existing = try? readConfig(dir + "/issuer.json") {
            issuer = existing.issuer
            audience = existing.audience
        }
        let config = JSON.object(JSONObject([("issuer", .string(issuer)), ("audience", .string(audience)), ("kid", .string(kid))]))
        _ = try publish(Array((config.serialized(pretty: true) + "\n").utf8), at: dir + "/issuer.json", mode: 0o644, replace: true)
        let jwks = JSON.object(JSONObject([("keys", .array([key.jwk(kid: kid)]))]))
        _ = try publish(Array((jwks.serialized(pretty: true) + "\n").utf8), at: dir + "/jwks.json", mode: 0o644, replace: true)
        return DevIssuer(directory: dir, issuer: issuer, audience: audience, signer: JWTSigner(key: key, kid: kid))
    }

    /// An issuer `prepare` made before; throws when there is none.
    public static func load(directory: String) throws(KeyError) -> DevIssuer {
        let dir = absolute(directory)
        let keyPath = dir + "/private.pem"
        guard FileManager.default.fileExists(atPath: keyPath) else {
            throw KeyError("no dev issuer in \(dir) (run `recstore dev-issuer --dir \(dir)` or `make run` first)")
        }
        let key = try RSAPrivateKey(pem: try readText(keyPath))
        let config = try readConfig(dir + "/issuer.json")
        guard config.kid == key.thumbprint else {
            throw KeyError("\(dir)/issuer.json does not match private.pem (run `recstore dev-issuer --dir \(dir)` again)")
        }
        return DevIssuer(directory: dir, issuer: config.issuer, audience: config.audience, signer: JWTSigner(key: key, kid: config.kid))
    }

    /// An access token for `subject`, valid for `lifetime` seconds from `now`.
    public func token(subject: String, lifetime: Int, now: Date = Date()) throws(KeyError) -> String {
        try signer.sign(JWTSigner.claims(subject: subject, issuer: issuer, audience: audience,
                                         issuedAt: Int(now.timeIntervalSince1970), lifetime: lifetime))
    }

    /// The service's configuration for this issuer.
    public var environment: [(name: String, value: String)] {
        [("AUTH0_ISSUER", issuer), ("AUTH0_AUDIENCE", audience), ("AUTH0_JWKS_FILE", jwksPath)]
    }

    // MARK: - Files

    private static func absolute(_ path: String) -> String {
        var p = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        while p.count > 1 && p.hasSuffix("/") { p.removeLast() }
        return (p as NSString).standardizingPath
    }

    private static func makeDirectory(_ dir: String) throws(KeyError) {
        do {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        } catch {
            throw KeyError("cannot create \(dir): \(error.localizedDescription)")
        }
        // The directory holds a private key: only its owner may look inside.
        chmod(dir, 0o700)
    }

    private static func readText(_ path: String) throws(KeyError) -> String {
        guard let data = FileManager.default.contents(atPath: path) else { throw KeyError("cannot read \(path)") }
        return String(decoding: data, as: UTF8.self)
    }

    private static func readConfig(_ path: String) throws(KeyError) -> (issuer: String, audience: String, kid: String) {
        guard let json = try? JSON.parse(try readText(path)),
              let issuer = json["issuer"]?.stringValue, !issuer.isEmpty,
              let audience = json["audience"]?.stringValue, !audience.isEmpty,
              let kid = json["kid"]?.stringValue else {
            throw KeyError("\(path) is not a dev issuer configuration")
        }
        return (issuer, audience, kid)
    }

    /// Writes a temporary file with `mode` from the start, then puts it in place:
    /// rename (replace) or link (only if absent; false when something is there).
    private static func publish(_ bytes: [UInt8], at path: String, mode: mode_t, replace: Bool) throws(KeyError) -> Bool {
        do {
            return try FileIO.publish(bytes, at: path, mode: mode, replace: replace)
        } catch {
            throw KeyError(String(describing: error))
        }
    }
}
