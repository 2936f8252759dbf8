#if canImport(Glibc)
import Glibc
#endif

/// One object per thread, made on first use and released when the thread ends.
/// A pthread key, not Foundation's `Thread.current.threadDictionary`: the request
/// context, the storage deadline, the counters and the curl handles are looked up
/// many times per request, and the dictionary's bridging showed up in profiles.
/// Declare one as a `static let`; the object itself is not shared between threads.
public final class ThreadLocal<Value: AnyObject>: @unchecked Sendable {
    @usableFromInline let key: pthread_key_t
    @usableFromInline let make: @Sendable () -> Value

    public init(_ make: @escaping @Sendable () -> Value) {
        var key = pthread_key_t()
        // The destructor cannot capture `Value`; a release needs no type.
        let status = pthread_key_create(&key) { raw in
            if let raw { Unmanaged<AnyObject>.fromOpaque(raw).release() }
        }
        precondition(status == 0, "pthread_key_create: \(SystemError.text(status))")
        self.key = key
        self.make = make
    }

    /// This thread's object, made now if it has none yet.
    @inlinable public var value: Value {
        if let raw = pthread_getspecific(key) { return Unmanaged<Value>.fromOpaque(raw).takeUnretainedValue() }
        let made = make()
        pthread_setspecific(key, Unmanaged.passRetained(made).toOpaque())
        return made
    }

    /// This thread's object if it has one (never makes one).
    @inlinable public var existing: Value? {
        guard let raw = pthread_getspecific(key) else { return nil }
        return Unmanaged<Value>.fromOpaque(raw).takeUnretainedValue()
    }
}
