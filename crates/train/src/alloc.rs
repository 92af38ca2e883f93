//! Keep freed memory in the process while a training loop runs.
//!
//! Every step allocates and frees tensors of the same large sizes (activations, logits, gradients). glibc
//! hands blocks above its mmap threshold back to the kernel on free and trims the heap top, so the next step
//! faults in fresh pages the kernel must zero first: on `bench/train_vs_torch` config B that was 18–40 % of
//! the step in `clear_page` (perf), with mimalloc as much as with glibc. While a [`KeepFreedMemory`] guard
//! lives, glibc neither mmaps nor trims, so the memory is reused: tokens/s on that config rose from about
//! 400 to 600. Only for loops of repeating shapes: under varying sizes (pruning a 135M model, say) the
//! unreturned memory fragments and grows without bound, so the guard restores glibc's defaults and hands
//! the memory back when dropped. A no-op off glibc.

/// While alive, the allocator keeps freed memory for reuse (glibc: no mmap for large blocks, no trimming).
pub struct KeepFreedMemory(());

impl KeepFreedMemory {
    pub fn new() -> Self {
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        // SAFETY: mallopt only changes allocator tunables.
        unsafe {
            libc::mallopt(libc::M_MMAP_MAX, 0);
            libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
            libc::mallopt(libc::M_TOP_PAD, 64 << 20);
        }
        KeepFreedMemory(())
    }
}

impl Default for KeepFreedMemory {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for KeepFreedMemory {
    fn drop(&mut self) {
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        // SAFETY: as above; the values are glibc's documented defaults.
        unsafe {
            libc::mallopt(libc::M_MMAP_MAX, 65_536);
            libc::mallopt(libc::M_TRIM_THRESHOLD, 128 * 1024);
            libc::mallopt(libc::M_TOP_PAD, 0);
            libc::malloc_trim(0);
        }
    }
}
