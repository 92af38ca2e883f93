//! Keep freed memory in the process between training steps.
//!
//! Every step allocates and frees tensors of the same large sizes (activations, logits, gradients). glibc
//! hands blocks above its mmap threshold back to the kernel on free and trims the heap top, so the next step
//! faults in fresh pages the kernel must zero first: on `bench/train_vs_torch` config B that was 18–40 % of
//! the step in `clear_page` (perf), with mimalloc as much as with glibc. Telling glibc never to mmap and
//! never to trim keeps the memory for reuse: tokens/s on that config rose from about 400 to 600.
//! Call once at the start of `main`, before large allocations; a no-op off glibc.

/// Makes the allocator keep freed memory (glibc: no mmap for large blocks, no heap trimming).
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator tunables; it is called before other threads allocate.
    unsafe {
        libc::mallopt(libc::M_MMAP_MAX, 0);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
        libc::mallopt(libc::M_TOP_PAD, 64 << 20);
    }
}
