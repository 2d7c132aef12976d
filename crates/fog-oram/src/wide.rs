//! Which vector width the eviction's conditional moves run at on this processor.
//!
//! The crate is built for the baseline of its target (on x86-64: SSE2, two words per
//! instruction). Where the processor has AVX2, [`crate::circuit`] runs its path passes through
//! a copy of the same code compiled for AVX2 (four words per instruction). Same instructions for
//! every slot whatever it holds, same memory accesses in the same order: only the width of the
//! masked moves changes, and the choice depends on the processor alone, never on data.
//!
//! The AVX2 copies are `unsafe fn`s with `#[target_feature(enable = "avx2")]` (a safe
//! `#[target_feature]` function needs Rust 1.86; the workspace builds on 1.85). Their one
//! precondition is that the processor has AVX2, which every caller checks with [`avx2`] right
//! before the call. On SGX targets CPUID is unavailable and `cpufeatures` answers from the
//! build's target features, so there the AVX2 copies run only in a build with AVX2 enabled.

#[cfg(target_arch = "x86_64")]
cpufeatures::new!(has_avx2, "avx2");

#[cfg(target_arch = "x86_64")]
static WIDE_OFF: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// Whether the AVX2 copy of the path passes runs: the processor has AVX2 and
/// [`use_wide_moves`] did not turn it off.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub(crate) fn avx2() -> bool {
    has_avx2::get() && !WIDE_OFF.load(core::sync::atomic::Ordering::Relaxed)
}

/// Whether the processor has AVX2, whatever [`use_wide_moves`] says.
#[cfg(all(test, target_arch = "x86_64"))]
pub(crate) fn has_avx2_cpu() -> bool {
    has_avx2::get()
}

/// Turns the AVX2 path passes on (the default, where the processor has AVX2) or off (the
/// baseline build's code everywhere). For benchmarks that compare the two in one process; the
/// results and the access pattern are the same either way.
pub fn use_wide_moves(on: bool) {
    #[cfg(target_arch = "x86_64")]
    WIDE_OFF.store(!on, core::sync::atomic::Ordering::Relaxed);
    #[cfg(not(target_arch = "x86_64"))]
    let _ = on;
}

/// Whether the path passes run four words wide (AVX2) in this process.
pub fn wide_moves() -> bool {
    #[cfg(target_arch = "x86_64")]
    return avx2();
    #[cfg(not(target_arch = "x86_64"))]
    false
}
