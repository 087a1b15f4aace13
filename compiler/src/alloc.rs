//! Allocator tuning for the interpreter's large, short-lived tensors.
//!
//! glibc's malloc serves blocks above 128 KiB (its default, adapted upward at run time) with
//! `mmap` and returns them with `munmap`, so every batch of activations is page-faulted in
//! afresh: on calibration runs that was over a third of nnslim's time. Keeping freed memory in
//! the heap (no mmap for blocks under 1 GiB, trim only above 1 GiB free) makes repeated runs
//! reuse the same pages. Peak memory is unchanged: it is what one run needs at most.

/// Applies the tuning; call once at start-up, before the first large allocation.
pub fn tune() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        const M_TRIM_THRESHOLD: i32 = -1;
        const M_MMAP_THRESHOLD: i32 = -3;
        unsafe extern "C" {
            fn mallopt(param: i32, value: i32) -> i32;
        }
        // SAFETY: mallopt only changes allocator parameters; it is called before any thread
        // starts and glibc documents these two parameters as safe to set at any time.
        unsafe {
            mallopt(M_MMAP_THRESHOLD, 1 << 30);
            mallopt(M_TRIM_THRESHOLD, 1 << 30);
        }
    }
}
