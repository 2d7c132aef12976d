//! Forward secrecy of dropped ORAM state: when an ORAM or a map is dropped (ingest drops its
//! whole RNG map at rotation), no buffer it frees may still hold a stored value.
//!
//! The test watches the heap itself: a global allocator that, while armed, scans every block
//! handed back to it for a marker word before passing it on to the system allocator. The
//! values written carry that marker, so any bucket store, stash, path, hold or scratch buffer
//! freed without being wiped is caught, whichever structure it belongs to. Everything runs in
//! one `#[test]` so no other test thread frees memory while the allocator is armed.
//!
//! This is the only `unsafe` in the crate's tree and it lives in this test binary: the library
//! itself stays `forbid(unsafe_code)`.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use fog_oram::{EncryptedFactory, HeapFactory, ObliviousMap, Oram, StoreFactory};
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;

/// The word every stored value is made of. Nothing else in the test writes it.
const MARKER: u64 = 0x5EC7_E7F0_9D1E_A5E5;

static ARMED: AtomicBool = AtomicBool::new(false);
static DIRTY_FREES: AtomicUsize = AtomicUsize::new(0);

/// The system allocator, plus a scan of freed blocks for [`MARKER`] while armed.
struct Watch;

// SAFETY: every call is forwarded unchanged to `System`; `dealloc` only reads the block it is
// about to free (`ptr` is valid for `layout.size()` bytes, as `GlobalAlloc::dealloc` requires
// of its caller) before forwarding it.
unsafe impl GlobalAlloc for Watch {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if ARMED.load(Ordering::SeqCst) {
            // SAFETY: `ptr` points to a live allocation of `layout.size()` bytes (the caller
            // of `dealloc` guarantees it); it is only read, and freed after the slice is gone.
            let block = unsafe { std::slice::from_raw_parts(ptr, layout.size()) };
            let needle = MARKER.to_le_bytes();
            if block.windows(8).any(|w| w == needle) {
                DIRTY_FREES.fetch_add(1, Ordering::SeqCst);
            }
        }
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Watch = Watch;

fn rng(seed: u64) -> ChaCha20Rng {
    println!("seed {seed}");
    ChaCha20Rng::seed_from_u64(seed)
}

/// Drops `value` with the allocator armed; returns how many freed blocks held the marker.
fn dirty_frees_when_dropping<T>(value: T) -> usize {
    DIRTY_FREES.store(0, Ordering::SeqCst);
    ARMED.store(true, Ordering::SeqCst);
    drop(value);
    ARMED.store(false, Ordering::SeqCst);
    DIRTY_FREES.load(Ordering::SeqCst)
}

fn marked_value<const N: usize>() -> [u8; N] {
    let mut v = [0u8; N];
    for c in v.chunks_exact_mut(8) {
        c.copy_from_slice(&MARKER.to_le_bytes());
    }
    v
}

fn filled_oram<F: StoreFactory>(factory: F) -> Oram<F, ChaCha20Rng> {
    let mut oram = Oram::new(256, 32, factory, rng(1)).expect("valid configuration");
    let value = marked_value::<32>();
    for i in 0..256 {
        oram.access(i, |v| v.copy_from_slice(&value))
            .expect("access");
    }
    oram
}

fn filled_map<F: StoreFactory>(factory: F) -> ObliviousMap<F, ChaCha20Rng> {
    let mut map = ObliviousMap::new(512, 16, 32, factory, rng(2)).expect("valid configuration");
    let value = marked_value::<32>();
    for k in 0u64..300 {
        let mut key = [0u8; 16];
        key[..8].copy_from_slice(&k.to_le_bytes());
        map.insert(&key, &value).expect("room");
    }
    map
}

#[test]
fn dropped_orams_and_maps_leave_no_value_in_freed_memory() {
    // The watcher itself works: an ordinary vector of marked words is caught.
    let canary: Vec<u64> = vec![MARKER; 4];
    assert_eq!(
        dirty_frees_when_dropping(canary),
        1,
        "the allocator hook sees frees"
    );

    assert_eq!(
        dirty_frees_when_dropping(filled_oram(HeapFactory)),
        0,
        "an ORAM in enclave heap memory freed buffers still holding values"
    );
    assert_eq!(
        dirty_frees_when_dropping(filled_map(HeapFactory)),
        0,
        "a map in enclave heap memory freed buffers still holding values"
    );
    // Encrypted host storage: the host part holds only ciphertext, the trusted top levels and
    // the sealing buffer hold plaintext.
    let encrypted = EncryptedFactory { trusted_levels: 3 };
    assert_eq!(
        dirty_frees_when_dropping(filled_oram(encrypted)),
        0,
        "an ORAM on encrypted storage freed buffers still holding values"
    );
    assert_eq!(
        dirty_frees_when_dropping(filled_map(encrypted)),
        0,
        "a map on encrypted storage freed buffers still holding values"
    );
}
