import Auth
import RecstoreConfiguration
import Diagnostics
import Foundation
import S3
import Storage

/// `recstore check`: the configuration end to end, one line per check —
/// `name: ok (detail)`, `name: FAILED: reason` or `name: skipped (why)`.
public struct ConfigurationCheck {
    public private(set) var failures = 0
    /// Where the lines go, one check per call (the command prints them, tests collect them).
    public var output: (String) -> Void

    public init(output: @escaping (String) -> Void) { self.output = output }

    mutating func ok(_ name: String, _ detail: String) { output("\(name): ok (\(detail))") }
    mutating func failed(_ name: String, _ reason: String) { failures += 1; output("\(name): FAILED: \(reason)") }
    mutating func skipped(_ name: String, _ why: String) { output("\(name): skipped (\(why))") }
    /// Worth fixing, but the service works: not counted as a failure.
    mutating func warned(_ name: String, _ reason: String) { output("\(name): WARNING: \(reason)") }

    public mutating func run(environment: [String: String]) {
        let config: Configuration
        do {
            config = try Configuration.load(environment)
        } catch {
            failed("configuration", "\(error)")
            return
        }
        var summary = "STORAGE=\(config.storage.mode.rawValue), local directory \(config.storage.localDirectory)"
        if let bucket = config.storage.bucket {
            summary += ", bucket \(bucket) in \(config.storage.region) at \(config.storage.endpoint ?? "AWS")"
        }
        ok("configuration", summary)

        checkLocalStore(config)
        checkBucket(config)
        checkJWKS(config)
        reportBrowserOrigins(config)
    }

    /// CORS: which pages may call, and the rule the bucket needs when audio downloads
    /// redirect there (the page's fetch follows the 302 to S3, which must answer CORS
    /// too). Printed only when origins are configured.
    public mutating func reportBrowserOrigins(_ config: Configuration) {
        guard !config.server.corsAllowOrigins.isEmpty else { return }
        ok("browser origins", "CORS_ALLOW_ORIGINS allows " + config.server.corsAllowOrigins.joined(separator: ", "))
        guard let bucket = config.storage.bucket, config.redirectsAudioToS3 else { return }
        output("bucket CORS: needed (audio downloads redirect to presigned URLs in \(bucket), so pages read them from the bucket; "
               + "set once: aws s3api put-bucket-cors --bucket \(bucket) --cors-configuration '\(BucketCORSRule.json)')")
    }

    /// The local directory is read in every mode, and written in LOCAL mode or as
    /// the S3 fallback.
    public mutating func checkLocalStore(_ config: Configuration) {
        let store = LocalStore(root: config.storage.localDirectory)
        do {
            try store.checkReachable()
            try probe(store)
            ok("local storage", "\(store.root): a probe object was written, read back and deleted")
        } catch {
            failed("local storage", "\(store.root): \(error)")
        }
    }

    public mutating func checkBucket(_ config: Configuration) {
        guard let bucketName = config.storage.bucket else {
            skipped("credentials", "no bucket configured")
            skipped("bucket", "no bucket configured (AWS_S3_BUCKET_NAME is not set)")
            return
        }
        let chain: CredentialsChain
        let credentials: AWSCredentials
        do {
            chain = try CredentialsChain(environment: config.environment)
            credentials = try chain.credentials()
        } catch {
            failed("credentials", "\(error)")
            skipped("bucket", "no credentials")
            skipped("probe object", "no credentials")
            return
        }
        var detail = "from the \(chain.source), access key ID \(credentials.accessKeyID)"
        if let expiration = credentials.expiration { detail += ", temporary, valid until \(Timestamp.iso8601(expiration))" }
        ok("credentials", detail)

        // Patient enough for a slow network, quick to say that nothing answers.
        let store = Stores.bucket(config, credentials: chain) { options in
            options.retry = RetryPolicy(maxAttempts: 2)
            options.connectTimeout = 3
            options.requestTimeout = 10
        }!
        let explain = { (error: Error) in
            S3Trouble.explain(error, bucket: bucketName, region: config.storage.region, endpoint: config.storage.endpoint, keyID: credentials.accessKeyID)
        }
        do {
            try S3Trouble.checkAnswers(store)
            ok("bucket", "\(bucketName) answers")
        } catch {
            failed("bucket", explain(error))
            skipped("probe object", "the bucket does not answer")
            return
        }
        do {
            try probe(store)
            ok("probe object", "written, read back and deleted in \(bucketName)")
        } catch {
            failed("probe object", explain(error))
        }
        do {
            if try store.lifecycleAbortsIncompleteUploads() {
                ok("lifecycle", "\(bucketName) has an AbortIncompleteMultipartUpload rule")
            } else {
                warned("lifecycle", "\(bucketName) has no lifecycle rule with AbortIncompleteMultipartUpload: parts of uploads "
                       + "nobody finished are kept (and billed) until one removes them; deploy/OPERATIONS.md shows the rule")
            }
        } catch {
            warned("lifecycle", "the bucket's lifecycle rules could not be read: " + explain(error))
        }
    }

    public mutating func checkJWKS(_ config: Configuration) {
        let options = AuthOptions(config.identity)
        let fetcher = JWKSFetcher(source: options.jwksSource, timeoutSeconds: Double(options.jwksTimeoutSeconds))
        do {
            let (keys, skipped) = try JWKSet.parse(try fetcher.fetch())
            guard !keys.isEmpty else {
                failed("jwks", "\(fetcher.sourceDescription) holds no usable RSA signing key" + (skipped.isEmpty ? "" : " (\(skipped.joined(separator: "; ")))"))
                return
            }
            let usable = keys.values.filter { $0.algorithm == nil || config.identity.algorithms.contains($0.algorithm!) }
            guard !usable.isEmpty else {
                failed("jwks", "no key of \(fetcher.sourceDescription) is for \(config.identity.algorithms.joined(separator: ", "))")
                return
            }
            ok("jwks", "\(usable.count) signing key\(usable.count == 1 ? "" : "s") (\(usable.map(\.kid).sorted().joined(separator: ", "))) from \(fetcher.sourceDescription)")
        } catch {
            failed("jwks", "\(error)")
        }
    }

    /// Put, read back, compare and delete a small object no recording can collide with.
    public func probe(_ store: any ObjectStore) throws {
        let key = S3Trouble.probePrefix + "probe-\(ProcessInfo.processInfo.processIdentifier)-\(UInt32.random(in: 0...UInt32.max)).txt"
        let content = Array("recstore check \(Timestamp.iso8601(Date()))\n".utf8)
        _ = try store.put(key: key, bytes: content, contentType: "text/plain; charset=utf-8", condition: .createOnly)
        var deleted = false
        defer { if !deleted { _ = try? store.delete(prefix: key) } }
        let (read, _) = try store.get(key: key)
        guard read == content else { throw ProbeMismatch(message: "the probe object read back differs from what was written") }
        _ = try store.delete(prefix: key)
        deleted = true
        guard try store.head(key: key) == nil else { throw ProbeMismatch(message: "the probe object is still there after deletion") }
        // The local store keeps the emptied directory; it is ours, and only removed when empty.
        if let path = store.localPath(key: key) { rmdir((path as NSString).deletingLastPathComponent) }
    }

    struct ProbeMismatch: Error, CustomStringConvertible {
        let message: String
        var description: String { message }
    }
}

/// The bucket CORS rule presigned audio redirects need (README "Browsers on other
/// origins"). Any origin: after the API's cross-origin 302 the browser sends
/// `Origin: null`, and the presigned URL itself is the credential.
public enum BucketCORSRule {
    public static let json = #"{"CORSRules":[{"AllowedOrigins":["*"],"AllowedMethods":["GET","HEAD"],"AllowedHeaders":["Range"],"#
        + #""ExposeHeaders":["Content-Range","Content-Length","Accept-Ranges","ETag"],"MaxAgeSeconds":3600}]}"#
}
