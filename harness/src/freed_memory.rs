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

/// Raises glibc's mmap and trim thresholds: allocations under 32 MiB come from the heap, and up
/// to 128 MiB of free memory at its top stays mapped. Call before the process's threads
/// allocate (the driver before its pool starts, a worker before Python starts).
pub fn keep() {
    const LARGE: libc::c_int = 32 << 20;
    // SAFETY: mallopt only changes thresholds.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, LARGE);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 4 * LARGE);
    }
}
