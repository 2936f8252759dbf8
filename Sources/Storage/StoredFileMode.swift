import Foundation

/// The mode of stored files: 0666 less the process's umask, as any file the process
/// creates, applied explicitly because uploads are staged as 0600 temp files.
/// A development stack (umask 022) gets 0644, so nginx workers running as another
/// user can serve X-Accel-Redirect downloads; the systemd units (UMask=0027) get
/// 0640: nginx's group reads, nobody else does.
enum StoredFileMode {
    static let value: mode_t = 0o666 & ~currentUmask()

    /// Read from /proc/self/status ("Umask:" line, Linux 4.7+): umask(2) can only be
    /// read by setting it, which would race with other threads creating files.
    static func currentUmask() -> mode_t {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0o022 }
        for line in status.split(separator: "\n") where line.hasPrefix("Umask:") {
            if let mask = mode_t(line.dropFirst("Umask:".count).trimmingCharacters(in: .whitespaces), radix: 8) {
                return mask & 0o777
            }
        }
        return 0o022
    }
}
