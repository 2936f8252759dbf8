#ifndef RECSTORE_CPROCESS_H
#define RECSTORE_CPROCESS_H

#include <stdint.h>

// What Swift cannot call directly: variadic prctl, memfd_create (glibc hides it
// behind _GNU_SOURCE), and atomics on memory Swift did not allocate (a mapping
// shared between processes).

/// Sets the calling thread's name (the process's `comm` when called on the main
/// thread before other threads exist; threads started later inherit it).
int rs_set_process_name(const char *name);

/// An anonymous memory file, close-on-exec (children get it through an explicit dup2).
int rs_memfd_create(const char *name);

static inline uint64_t rs_atomic_load(const uint64_t *p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }
static inline void rs_atomic_store(uint64_t *p, uint64_t v) { __atomic_store_n(p, v, __ATOMIC_RELAXED); }
static inline uint64_t rs_atomic_add(uint64_t *p, uint64_t v) { return __atomic_add_fetch(p, v, __ATOMIC_RELAXED); }
static inline uint64_t rs_atomic_sub(uint64_t *p, uint64_t v) { return __atomic_sub_fetch(p, v, __ATOMIC_RELAXED); }
/// Raises *p to at least v.
static inline void rs_atomic_max(uint64_t *p, uint64_t v) {
    uint64_t seen = __atomic_load_n(p, __ATOMIC_RELAXED);
    while (seen < v && !__atomic_compare_exchange_n(p, &seen, v, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {}
}

#endif
