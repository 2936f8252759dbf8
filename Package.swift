// swift-tools-version:6.0
import PackageDescription

// One direction of flow, one module per arrow:
// nginx → FastCGI → HTTP → (router) → Auth → API → Storage → LocalStore | S3.
// The C libraries are system-library targets with thin shim headers; no Swift
// package dependencies are needed.
let package = Package(
    name: "recstore",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "recstore", targets: ["recstore"]),
    ],
    targets: [
        // C libraries from Debian.
        .systemLibrary(name: "CFastCGI", pkgConfig: "fcgi", providers: [.apt(["libfcgi-dev"])]),
        .systemLibrary(name: "CJWT", pkgConfig: "libjwt", providers: [.apt(["libjwt-dev"])]),
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),
        .systemLibrary(name: "COpenSSL", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),

        // Small shared pieces.
        .target(name: "JSON"),
        // prctl, memfd_create and atomics on shared memory (the host metrics).
        .target(name: "CProcess"),
        .target(name: "Diagnostics", dependencies: ["JSON", "CProcess"]),
        .target(name: "Digests", dependencies: ["COpenSSL"]),
        .target(name: "Configuration", dependencies: ["Diagnostics"]),
        .target(name: "Curl", dependencies: ["CCurl", "Diagnostics"]),

        // The request path.
        .target(name: "HTTP", dependencies: ["JSON", "Diagnostics", "Digests"]),
        .target(name: "FastCGI", dependencies: ["CFastCGI", "HTTP", "Diagnostics"]),
        .target(name: "Supervisor", dependencies: ["Diagnostics"]),
        .target(name: "Auth", dependencies: ["JSON", "Digests", "CJWT", "COpenSSL", "Curl", "HTTP", "Configuration", "Diagnostics"]),
        .target(name: "Storage", dependencies: ["JSON", "Diagnostics"]),
        .target(name: "S3", dependencies: ["Storage", "JSON", "Digests", "Curl", "Diagnostics"]),
        .target(name: "API", dependencies: ["JSON", "HTTP", "Auth", "Storage", "Configuration", "Diagnostics"]),

        .executableTarget(
            name: "recstore",
            dependencies: ["JSON", "Digests", "FastCGI", "Supervisor", "CProcess", "HTTP", "Auth", "Storage", "S3", "API", "Configuration", "Diagnostics", "Curl"]
        ),

        .testTarget(name: "JSONTests", dependencies: ["JSON"]),
        .testTarget(name: "DiagnosticsTests", dependencies: ["Diagnostics"]),
        .testTarget(name: "HTTPTests", dependencies: ["HTTP", "Digests"]),
        .testTarget(name: "FastCGITests", dependencies: ["FastCGI", "HTTP"]),
        .testTarget(name: "ConfigurationTests", dependencies: ["Configuration"]),
        .testTarget(name: "AuthTests", dependencies: ["Auth", "HTTP", "Configuration", "JSON", "CJWT", "COpenSSL"]),
        .testTarget(name: "StorageTests", dependencies: ["Storage"]),
        // Loopback helper processes (Python servers from Tests/integration) for the tests.
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "S3Tests", dependencies: ["S3", "Storage", "Curl", "Digests", "TestSupport"]),
        .testTarget(name: "CurlTests", dependencies: ["Curl", "TestSupport"]),
        .testTarget(name: "APITests", dependencies: ["API", "HTTP", "Auth", "Storage"]),
    ],
    swiftLanguageModes: [.v6]
)
