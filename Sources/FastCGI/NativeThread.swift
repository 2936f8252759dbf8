#if canImport(Glibc)
import Glibc
#endif

/// A joinable POSIX thread: the request threads are plain blocking threads, and
/// the worker must wait for each to finish its request before exiting.
struct NativeThread {
    private let handle: pthread_t

    init(_ body: @escaping @Sendable () -> Void) {
        final class Box { let body: @Sendable () -> Void; init(_ b: @escaping @Sendable () -> Void) { body = b } }
        var handle = pthread_t()
        let context = Unmanaged.passRetained(Box(body)).toOpaque()
        let status = pthread_create(&handle, nil, { raw in
            let box = Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue()
            box.body()
            return nil
        }, context)
        precondition(status == 0, "pthread_create failed: \(status)")
        self.handle = handle
    }

    func join() { pthread_join(handle, nil) }
}
