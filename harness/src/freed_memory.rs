//! Freed memory is kept for the next allocation instead of handed back to the kernel.
//!
//! Both sides of the pipe live on arrays of a few hundred kilobytes to a few megabytes: a
//! worker's NumPy and TensorFlow allocate each mode's intermediates and outputs afresh, and the
//! driver receives each output into a buffer of its own. glibc serves such sizes with `mmap`
//! while its dynamic threshold has not grown past them, and gives the top of the heap back
//! with `trim`, so every page of every array is a page fault and a zeroed page, and every unmap
//! a TLB shootdown on the CPUs running the process's other threads. Measured in a warm `--jobs 2`
//! run: the kernel zeroing pages was 4% of the workers' samples and a tenth of the driver's pipe
//! readers' time. Kept, a freed array's pages take the next one.
//!
//! Raising glibc's thresholds is not enough in a worker: protobuf's upb runtime, which
//! TensorFlow's Python side uses for the messages it builds on every call, calls
//! `malloc_trim(0)` each time it frees an arena — measured ~34 times a second in a worker. That
//! hands every free page of every heap back to the kernel (`madvise(MADV_DONTNEED)` on each one
//! after a walk of all free chunks), so the next arrays fault them in again: ~15,000 minor page
//! faults a second per worker. This module therefore also defines `malloc_trim` itself, exported
//! from the binary so the dynamic loader binds upb's call to it (an executable's symbols come first
//! in the global lookup scope); once [`keep`] has run it does nothing, before that it forwards
//! to glibc's.

use std::sync::atomic::{AtomicBool, Ordering};

/// Set by [`keep`]: from then on `malloc_trim` keeps the memory.
static KEEPING: AtomicBool = AtomicBool::new(false);

/// Raises glibc's mmap and trim thresholds: allocations under 32 MiB come from the heap, and up
/// to 128 MiB of free memory at its top stays mapped. Call before the process's threads
/// allocate (the driver before its pool starts, a worker before Python starts).
pub fn keep() {
    const LARGE: libc::c_int = 32 << 20;
    KEEPING.store(true, Ordering::Relaxed);
    // Referenced here so the linker keeps the interposer in the binary, where build.rs exports it.
    std::hint::black_box(malloc_trim as extern "C" fn(libc::size_t) -> libc::c_int);
    // SAFETY: mallopt only changes thresholds.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, LARGE);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 4 * LARGE);
    }
}

/// glibc's `malloc_trim`, interposed: see the module's docs. Returns 0 ("no memory released")
/// once [`keep`] has run.
#[unsafe(no_mangle)]
pub extern "C" fn malloc_trim(pad: libc::size_t) -> libc::c_int {
    if KEEPING.load(Ordering::Relaxed) {
        return 0;
    }
    type Trim = unsafe extern "C" fn(libc::size_t) -> libc::c_int;
    // SAFETY: RTLD_NEXT finds the next definition after this object's, glibc's, whose type is
    // `int malloc_trim(size_t)`.
    unsafe {
        let next = libc::dlsym(libc::RTLD_NEXT, c"malloc_trim".as_ptr());
        if next.is_null() {
            return 0;
        }
        std::mem::transmute::<*mut libc::c_void, Trim>(next)(pad)
    }
}
