import Diagnostics
import Foundation
import Storage

/// Reclaims expired resumable uploads in the background, so an abandoned upload is
/// not kept (or billed) forever. Every worker sweeps; sweeps are idempotent, and a
/// request that meets an expired upload removes it on the spot anyway.
public enum UploadSweeper {
    /// Half the expiry, between 1 second and 5 minutes.
    public static func interval(expirySeconds: Int) -> TimeInterval {
        TimeInterval(min(max(expirySeconds / 2, 1), 300))
    }

    public static func start(_ uploads: any UploadStore, expirySeconds: Int, now: @escaping @Sendable () -> Date = { Date() }) {
        let every = interval(expirySeconds: expirySeconds)
        Thread.detachNewThread {
            while true {
                // Jitter, so that the workers of a cluster do not sweep in step.
                Thread.sleep(forTimeInterval: every * Double.random(in: 0.75...1.25))
                do {
                    _ = try uploads.sweep(now: now())
                } catch {
                    Log.warning("upload sweep failed; next time", ["error": String(describing: error)])
                }
            }
        }
    }
}
