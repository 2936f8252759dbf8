import Diagnostics
import Foundation
import Storage

/// The periodic sweep of leftovers (see `LeftoverSweep`) for API.md's layout:
/// recordings without metadata, stale temporary files, stale S3 multipart uploads.
/// One worker per host sweeps: the one holding the host-wide sweep lock (see
/// `HostLock`), kept until it exits or dies, when another worker takes over.
public enum Housekeeping {
    public static func sweep(_ storage: StorageService) -> LeftoverSweep.Summary {
        LeftoverSweep(storage: storage, prefix: "user_recordings/", commitName: Layout.metadataName).run()
    }

    /// Starts the sweeping thread; `interval` 0 means never.
    public static func start(_ storage: StorageService, interval: Int) {
        guard interval > 0 else { return }
        Thread.detachNewThread {
            var role: HostLock?
            while true {
                // Spread the workers' attempts so the first sweep is not at start-up.
                Thread.sleep(forTimeInterval: Double(interval) * Double.random(in: 0.8...1.0))
                if role == nil { role = HostLock(name: "sweep|" + storage.lockScope) }
                guard role != nil else { continue }
                _ = sweep(storage)
            }
        }
    }
}
