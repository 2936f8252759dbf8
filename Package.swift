// swift-tools-version:6.0
import PackageDescription

// Linux only: the modules call Glibc, /proc and Linux socket options directly, and
// the C libraries come from Debian packages. Say so at once rather than fail later.
#if !os(Linux)
#error("recstore builds and runs on Linux only (Glibc, /proc, Debian's libfcgi, libjwt, libcurl, OpenSSL)")
#endif

// The dependency graph, bottom up; a module imports only what its line names
// (C libraries in brackets), and nothing imports the executable:
//
//   Hex, JSON ─ no dependencies (JSON: Hex)
//   POSIX ─ Hex                      system calls shared by every module
//   CProcess ─ (C) prctl, memfd_create, atomics on shared memory
//   Diagnostics ─ JSON, POSIX, CProcess   logs, counters, host metrics, request context
//   Digests ─ Hex [OpenSSL]          SHA-256, HMAC, MD5
//   Curl ─ Diagnostics, POSIX [libcurl]
//   Supervisor ─ Diagnostics, POSIX  the worker pool
//   HTTP ─ JSON, Diagnostics, Hex    requests, responses, headers, the router, errors
//   RecstoreConfiguration ─ HTTP     environment and .env, one group of settings per
//             component (HTTP for AddressBlock); imported only by Operations and the
//             executable (not `Configuration`: apple/swift-configuration ships a module of that name)
//   Uploads ─ HTTP, Diagnostics, Digests, POSIX     multipart reader, staging files
//   FastCGI ─ HTTP, Diagnostics, POSIX [libfcgi]    the transport
//   Storage ─ HTTP, JSON, Diagnostics, POSIX        ObjectStore, LocalStore, StorageService
//             (HTTP only for HTTPResponseError: its errors say their own status)
//   S3 ─ Storage, JSON, Digests, Curl, Diagnostics, Hex
//   Auth ─ HTTP, Curl, Digests, JSON, Diagnostics [libjwt, OpenSSL]   takes AuthOptions
//   DevIssuer ─ Auth, Digests, JSON, POSIX [OpenSSL]  only the CLI and tests
//   API ─ HTTP, Uploads, Auth, Storage, JSON, Diagnostics, Hex   the routes of API.md; takes APIOptions
//   Operations ─ API, Auth, Storage, S3, RecstoreConfiguration, Diagnostics, Digests
//             sync, check, prune, the lifecycle rules; the one mapping from the configuration
//             to S3Options, AuthOptions and APIOptions, and the stores
//   recstore (executable) ─ the command line and the responder's wiring over the modules above
//
// The C libraries are system-library targets with thin shim headers. The one Swift
// package dependency is swift-argument-parser, for the command line only.
let package = Package(
    name: "recstore",
    products: [
        .executable(name: "recstore", targets: ["recstore"]),
    ],
    dependencies: [
        // The command line: help for every subcommand, --version, usage errors exit 64.
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        // C libraries from Debian.
        .systemLibrary(name: "CFastCGI", pkgConfig: "fcgi", providers: [.apt(["libfcgi-dev"])]),
        .systemLibrary(name: "CJWT", pkgConfig: "libjwt", providers: [.apt(["libjwt-dev"])]),
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),
        .systemLibrary(name: "COpenSSL", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),

        // Version and commit of this build (scripts/build-deb stamps them).
        .target(name: "BuildStamp"),

        // Small shared pieces.
        .target(name: "Hex"),
        .target(name: "POSIX", dependencies: ["Hex"]),
        .target(name: "JSON", dependencies: ["Hex"]),
        // prctl, memfd_create and atomics on shared memory (the host metrics).
        .target(name: "CProcess"),
        .target(name: "Diagnostics", dependencies: ["JSON", "POSIX", "CProcess"]),
        .target(name: "Digests", dependencies: ["COpenSSL", "Hex"]),
        .target(name: "Curl", dependencies: ["CCurl", "Diagnostics", "POSIX"]),

        // The request path.
        .target(name: "HTTP", dependencies: ["JSON", "Diagnostics", "Hex"]),
        // Upload staging: the streaming multipart reader and the temporary files it writes.
        .target(name: "Uploads", dependencies: ["HTTP", "Diagnostics", "Digests", "POSIX"]),
        // Environment and .env, read once and checked, one group of settings per component.
        .target(name: "RecstoreConfiguration", dependencies: ["HTTP"]),
        .target(name: "FastCGI", dependencies: ["CFastCGI", "HTTP", "Diagnostics", "POSIX"]),
        .target(name: "Supervisor", dependencies: ["Diagnostics", "POSIX"]),
        .target(name: "Auth", dependencies: ["JSON", "Digests", "CJWT", "COpenSSL", "Curl", "HTTP", "Diagnostics"]),
        // The local stand-in for Auth0: key pair, JWKS, token signing. Only the
        // executable's `dev-issuer` and `token` commands and the tests use it.
        .target(name: "DevIssuer", dependencies: ["Auth", "COpenSSL", "Digests", "JSON", "POSIX"]),
        // HTTP only for HTTPResponseError: storage errors say their own status.
        .target(name: "Storage", dependencies: ["HTTP", "JSON", "Diagnostics", "POSIX", "Digests"]),
        .target(name: "S3", dependencies: ["Storage", "JSON", "Digests", "Curl", "Diagnostics", "Hex"]),
        .target(name: "API", dependencies: ["JSON", "HTTP", "Uploads", "Auth", "Storage", "Diagnostics", "Hex"]),

        // What the operator commands do (sync, check, prune, the lifecycle rules) and the
        // one place that maps the configuration to each module's options and builds the
        // stores; the executable prints.
        .target(name: "Operations", dependencies: ["API", "Auth", "Storage", "S3", "RecstoreConfiguration", "Diagnostics", "Digests"]),

        .executableTarget(
            name: "recstore",
            dependencies: ["FastCGI", "Supervisor", "CProcess", "HTTP", "Auth", "DevIssuer", "Storage", "S3", "API", "Operations", "RecstoreConfiguration", "Diagnostics", "BuildStamp",
                           .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),

        .testTarget(name: "POSIXTests", dependencies: ["POSIX", "Hex"]),
        .testTarget(name: "JSONTests", dependencies: ["JSON"]),
        .testTarget(name: "DiagnosticsTests", dependencies: ["Diagnostics"]),
        .testTarget(name: "HTTPTests", dependencies: ["HTTP", "Diagnostics"]),
        .testTarget(name: "UploadsTests", dependencies: ["Uploads", "HTTP", "Digests"]),
        .testTarget(name: "FastCGITests", dependencies: ["FastCGI", "HTTP"]),
        .testTarget(name: "RecstoreConfigurationTests", dependencies: ["RecstoreConfiguration"]),
        // Operations and RecstoreConfiguration: the authenticator as the service configures it.
        .testTarget(name: "AuthTests", dependencies: ["Auth", "DevIssuer", "HTTP", "RecstoreConfiguration", "Operations", "JSON", "CJWT", "COpenSSL"]),
        .testTarget(name: "StorageTests", dependencies: ["Storage", "HTTP", "Digests"]),
        // Loopback helper processes (Python servers from Tests/integration) for the tests.
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "S3Tests", dependencies: ["S3", "Storage", "Curl", "Digests", "TestSupport"]),
        .testTarget(name: "CurlTests", dependencies: ["Curl", "TestSupport"]),
        .testTarget(name: "APITests", dependencies: ["API", "HTTP", "Auth", "Storage"]),
        .testTarget(name: "OperationsTests", dependencies: ["Operations", "API", "Auth", "Storage", "RecstoreConfiguration"]),
    ],
    swiftLanguageModes: [.v6]
)
