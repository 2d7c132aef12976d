//! Bucket storage for the tree ORAM: the trait, heap memory inside the enclave, encrypted and
//! authenticated untrusted memory, and an instrumented wrapper that records every access.
//!
//! Which side: the trait and all implementations are trusted code. [`EncryptedStore`] keeps its
//! counters, key and the top levels of the tree in trusted memory and everything else in memory
//! the host can read and write (simulated here by a `Vec<u8>` exposed through
//! [`EncryptedStore::host_memory_mut`]).
//!
//! Access pattern: bucket indices passed to a store are public (they are the buckets on a
//! uniformly random or deterministic path); the bucket *contents* are secret and stores copy
//! them whole, never looking inside.
//!
//! Failure: a bucket whose ciphertext was altered, swapped with another bucket or replaced by
//! an older version fails authentication and the read returns
//! [`OramError::IntegrityFailure`]; the caller's buffer is left zeroed, never filled with
//! unauthenticated data.

use alloc::rc::Rc;
use alloc::vec::Vec;
use core::cell::RefCell;
use core::ops::Range;

use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes128Gcm, Nonce, Tag};
use rand_core::{CryptoRng, RngCore};
use zeroize::Zeroize;

use crate::OramError;

/// Storage of a tree's buckets, addressed by bucket index (`0..num_buckets`, heap order: root 0,
/// children of `i` are `2i + 1` and `2i + 2`). Each bucket is `bucket_words` words.
pub trait BucketStore {
    /// Number of buckets.
    fn num_buckets(&self) -> u64;
    /// Words per bucket.
    fn bucket_words(&self) -> usize;
    /// Copies bucket `bucket` into `out` (`bucket_words` long). A bucket never written reads as
    /// all zeros.
    fn read_bucket(&mut self, bucket: u64, out: &mut [u64]) -> Result<(), OramError>;
    /// Overwrites bucket `bucket` with `data` (`bucket_words` long).
    fn write_bucket(&mut self, bucket: u64, data: &[u64]) -> Result<(), OramError>;
    /// Bytes held in trusted memory and in untrusted memory by this store.
    fn memory_bytes(&self) -> MemoryUse;
    /// Whether [`BucketStore::bucket_mut`] hands out buckets (a store keeping its buckets as
    /// plain words in trusted memory). The default is `false`.
    fn in_place(&self) -> bool {
        false
    }
    /// The words of bucket `bucket` in place, to be read and overwritten; `None` (the default)
    /// for a store that is not [`BucketStore::in_place`]. An ORAM on an in-place store reads
    /// only the metadata of each path's buckets ([`BucketStore::read_prefix`]), then moves the
    /// blocks inside each bucket in place, level by level, instead of copying the whole path
    /// out with [`BucketStore::read_bucket`] and back with [`BucketStore::write_bucket`]: the
    /// same buckets, read then written, in the same order.
    fn bucket_mut(&mut self, bucket: u64) -> Option<&mut [u64]> {
        let _ = bucket;
        None
    }
    /// A hint that bucket `bucket` is about to be read and written in place: an in-place store
    /// may start loading its memory into the cache, so that the misses of a whole path overlap
    /// instead of waiting one bucket at a time. It changes no data; the caller folds the
    /// returned words together and passes the result to `black_box` once per path (so the
    /// loads are not optimised away and no load waits for another). Called for the buckets of
    /// a path, whose choice is public. The default does nothing and returns 0.
    fn prefetch(&self, bucket: u64) -> u64 {
        let _ = bucket;
        0
    }
    /// Copies the first `out.len()` words of bucket `bucket` (at most `bucket_words`) into
    /// `out`: a read of that bucket, like [`BucketStore::read_bucket`]. The default reads the
    /// whole bucket into a temporary buffer (wiped afterwards); in-place stores copy only the
    /// prefix.
    fn read_prefix(&mut self, bucket: u64, out: &mut [u64]) -> Result<(), OramError> {
        let words = self.bucket_words();
        if out.len() > words {
            return Err(OramError::LengthMismatch);
        }
        let mut buf = alloc::vec![0u64; words];
        let r = self.read_bucket(bucket, &mut buf);
        if r.is_ok() {
            out.copy_from_slice(&buf[..out.len()]);
        }
        buf.zeroize();
        r
    }
}

/// Bytes of memory used, split by side of the trust boundary.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemoryUse {
    /// Bytes in trusted (enclave) memory.
    pub trusted: u64,
    /// Bytes in untrusted (host) memory.
    pub untrusted: u64,
}

impl core::ops::Add for MemoryUse {
    type Output = MemoryUse;
    fn add(self, o: MemoryUse) -> MemoryUse {
        MemoryUse {
            trusted: self.trusted + o.trusted,
            untrusted: self.untrusted + o.untrusted,
        }
    }
}

/// Creates one [`BucketStore`] per tree (an ORAM with a recursive position map has several).
pub trait StoreFactory {
    /// The store this factory makes.
    type Store: BucketStore;
    /// Creates a store of `num_buckets` zeroed buckets of `bucket_words` words. `rng` supplies
    /// key material where the store needs it.
    fn create<R: RngCore + CryptoRng>(
        &mut self,
        num_buckets: u64,
        bucket_words: usize,
        rng: &mut R,
    ) -> Result<Self::Store, OramError>;
}

fn zeroed_words(n: u64) -> Result<Vec<u64>, OramError> {
    let n = usize::try_from(n).map_err(|_| OramError::OutOfMemory)?;
    let mut v = Vec::new();
    v.try_reserve_exact(n).map_err(|_| OramError::OutOfMemory)?;
    // Before the first write, so the zeros below already fault in huge pages.
    advise_huge_pages(v.as_ptr(), v.capacity());
    v.resize(n, 0);
    Ok(v)
}

/// Smallest tree memory worth asking huge pages for: 4 MiB, two huge pages.
#[cfg(all(target_os = "linux", not(target_env = "sgx")))]
const HUGE_PAGE_MIN_BYTES: usize = 4 << 20;

/// Asks Linux to back the aligned 2 MiB runs of the buffer at `ptr` (room for `capacity` words)
/// with transparent huge pages (`madvise(MADV_HUGEPAGE)`), for buffers of at least
/// [`HUGE_PAGE_MIN_BYTES`]. Every ORAM access reads a random path, one bucket per level, each in
/// a different page of a tree of tens or hundreds of MiB: with 4 KiB pages nearly every level
/// also misses the TLB, with 2 MiB pages far fewer do. Only advice: where transparent huge pages
/// are off it has no effect (and on a kernel without them the call fails, ignored), and no
/// content, permission or address changes either way. The pages touched are those of the
/// (public) path, as before. Not in SGX builds, where there is no system call to make.
#[cfg(all(target_os = "linux", not(target_env = "sgx")))]
fn advise_huge_pages(ptr: *const u64, capacity: usize) {
    const HUGE: usize = 2 << 20;
    let bytes = capacity * 8;
    if bytes < HUGE_PAGE_MIN_BYTES {
        return;
    }
    let start = ptr as usize;
    let (Some(first), Some(end)) = (
        start.checked_next_multiple_of(HUGE),
        start.checked_add(bytes),
    ) else {
        return;
    };
    let last = end & !(HUGE - 1);
    if last > first {
        let run = ptr.cast::<u8>().wrapping_add(first - start).cast_mut();
        // SAFETY: `[first, last)` lies inside the buffer of `capacity` words at `ptr` (rounded
        // inwards to 2 MiB), which the caller owns; MADV_HUGEPAGE changes how the kernel backs
        // those pages, not their contents, addresses or permissions, and no reference into the
        // buffer is used across the call. The result is ignored: the advice is optional.
        #[allow(unsafe_code)]
        unsafe {
            libc::madvise(
                run.cast::<libc::c_void>(),
                last - first,
                libc::MADV_HUGEPAGE,
            );
        }
    }
}

#[cfg(not(all(target_os = "linux", not(target_env = "sgx"))))]
fn advise_huge_pages(_ptr: *const u64, _capacity: usize) {}

fn bucket_range(bucket: u64, words: usize, len: usize) -> Result<Range<usize>, OramError> {
    let b = usize::try_from(bucket).map_err(|_| OramError::IndexOutOfRange)?;
    let start = b.checked_mul(words).ok_or(OramError::IndexOutOfRange)?;
    let end = start.checked_add(words).ok_or(OramError::IndexOutOfRange)?;
    if end > len {
        return Err(OramError::IndexOutOfRange);
    }
    Ok(start..end)
}

/// Starts loading the cache line holding `w`: `PREFETCHT0` on x86-64 (returns 0), a load
/// elsewhere (returns the word).
#[inline(always)]
fn touch_line(w: &u64) -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: a prefetch reads nothing into registers and cannot fault; the address is that
        // of a live reference.
        #[allow(unsafe_code)]
        unsafe {
            core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(
                (w as *const u64).cast::<i8>(),
            );
        }
        0
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        *w
    }
}

/// Buckets in ordinary (enclave) heap memory.
pub struct HeapStore {
    /// The buffer; the buckets start at word `start`, on a cache-line boundary.
    words: Vec<u64>,
    start: usize,
    /// Words of all buckets.
    len: usize,
    bucket_words: usize,
}

/// Words per cache line.
const LINE_WORDS: usize = 8;

impl HeapStore {
    /// A store of `num_buckets` zeroed buckets. The first bucket starts on a cache line (the
    /// allocator's large blocks start 16 bytes past one): a bucket of a whole number of lines
    /// then spans exactly that many (the 512-byte index buckets of a 2^20-slot map 8 lines, not
    /// 9).
    pub fn new(num_buckets: u64, bucket_words: usize) -> Result<Self, OramError> {
        let total = num_buckets
            .checked_mul(bucket_words as u64)
            .ok_or(OramError::OutOfMemory)?;
        let len = usize::try_from(total).map_err(|_| OramError::OutOfMemory)?;
        let words = zeroed_words(total + LINE_WORDS as u64 - 1)?;
        let start = words
            .as_ptr()
            .align_offset(LINE_WORDS * 8)
            .min(LINE_WORDS - 1);
        Ok(Self {
            words,
            start,
            len,
            bucket_words,
        })
    }

    fn tree(&self) -> &[u64] {
        &self.words[self.start..self.start + self.len]
    }

    fn tree_mut(&mut self) -> &mut [u64] {
        &mut self.words[self.start..self.start + self.len]
    }
}

impl Drop for HeapStore {
    /// Wipes every bucket: a dropped tree (ingest drops its whole RNG map at rotation) leaves
    /// no value behind in freed memory.
    fn drop(&mut self) {
        self.words.zeroize();
    }
}

impl BucketStore for HeapStore {
    fn num_buckets(&self) -> u64 {
        (self.len / self.bucket_words.max(1)) as u64
    }
    fn bucket_words(&self) -> usize {
        self.bucket_words
    }
    fn read_bucket(&mut self, bucket: u64, out: &mut [u64]) -> Result<(), OramError> {
        let r = bucket_range(bucket, self.bucket_words, self.len)?;
        if out.len() != self.bucket_words {
            return Err(OramError::LengthMismatch);
        }
        out.copy_from_slice(&self.tree()[r]);
        Ok(())
    }
    fn write_bucket(&mut self, bucket: u64, data: &[u64]) -> Result<(), OramError> {
        let r = bucket_range(bucket, self.bucket_words, self.len)?;
        if data.len() != self.bucket_words {
            return Err(OramError::LengthMismatch);
        }
        self.tree_mut()[r].copy_from_slice(data);
        Ok(())
    }
    fn memory_bytes(&self) -> MemoryUse {
        MemoryUse {
            trusted: (self.words.len() * 8) as u64,
            untrusted: 0,
        }
    }
    fn in_place(&self) -> bool {
        true
    }
    fn bucket_mut(&mut self, bucket: u64) -> Option<&mut [u64]> {
        let r = bucket_range(bucket, self.bucket_words, self.len).ok()?;
        Some(&mut self.tree_mut()[r])
    }
    /// Starts loading every cache line (64 bytes) of the bucket. On x86-64 with `PREFETCHT0`
    /// instructions, one per line: they do not wait for their data, so the misses of a whole
    /// path overlap and the processor carries on with the metadata copies and the eviction plan
    /// while the lines arrive (loads, which the other architectures use, must complete before
    /// they retire and so stall the core once a path's worth of them is in flight). Returns the
    /// loaded words folded together (0 where prefetch instructions are used). Every line is
    /// touched whatever the bucket holds; which lines is a function of the (public) bucket.
    fn prefetch(&self, bucket: u64) -> u64 {
        let mut sink = 0u64;
        if let Ok(r) = bucket_range(bucket, self.bucket_words, self.len) {
            let words = &self.tree()[r];
            for line in words.chunks(8) {
                sink ^= touch_line(&line[0]);
            }
            // A bucket need not start on a line boundary: its last word may sit in one line
            // more than every eighth word reaches.
            if let Some(last) = words.last() {
                sink ^= touch_line(last);
            }
        }
        sink
    }
    fn read_prefix(&mut self, bucket: u64, out: &mut [u64]) -> Result<(), OramError> {
        let r = bucket_range(bucket, self.bucket_words, self.len)?;
        if out.len() > self.bucket_words {
            return Err(OramError::LengthMismatch);
        }
        out.copy_from_slice(&self.tree()[r.start..r.start + out.len()]);
        Ok(())
    }
}

/// Makes [`HeapStore`]s.
#[derive(Clone, Copy, Debug, Default)]
pub struct HeapFactory;

impl StoreFactory for HeapFactory {
    type Store = HeapStore;
    fn create<R: RngCore + CryptoRng>(
        &mut self,
        num_buckets: u64,
        bucket_words: usize,
        _rng: &mut R,
    ) -> Result<HeapStore, OramError> {
        HeapStore::new(num_buckets, bucket_words)
    }
}

const TAG_BYTES: usize = 16;

/// Buckets kept encrypted and authenticated in untrusted memory, except the top levels of the
/// tree, which stay in trusted memory.
///
/// Each untrusted bucket is sealed with AES-128-GCM under a key drawn from the caller's RNG when
/// the store is created (zeroized on drop). The 96-bit nonce is the bucket index (32 bits) and
/// that bucket's write counter (64 bits); the counters live in trusted memory and the same
/// 12 bytes are also the associated data. A write increments the counter, so every version of a
/// bucket is sealed under a different nonce: the host can neither read a bucket, nor alter it,
/// nor move it to another index, nor replay an older version without the read failing with
/// [`OramError::IntegrityFailure`].
pub struct EncryptedStore {
    trusted: Vec<u64>,
    trusted_buckets: u64,
    host: Vec<u8>,
    counters: Vec<u64>,
    cipher: Aes128Gcm,
    bucket_words: usize,
    num_buckets: u64,
    buf: Vec<u8>,
}

impl EncryptedStore {
    /// A store of `num_buckets` buckets of which the first `trusted_buckets` (the top of the
    /// tree in heap order) stay in trusted memory. The key comes from `rng`.
    pub fn new<R: RngCore + CryptoRng>(
        num_buckets: u64,
        bucket_words: usize,
        trusted_buckets: u64,
        rng: &mut R,
    ) -> Result<Self, OramError> {
        if num_buckets > u64::from(u32::MAX) || bucket_words == 0 {
            return Err(OramError::InvalidConfig);
        }
        let trusted_buckets = trusted_buckets.min(num_buckets);
        let untrusted = num_buckets - trusted_buckets;
        let sealed = bucket_words * 8 + TAG_BYTES;
        let host_len = usize::try_from(untrusted)
            .ok()
            .and_then(|u| u.checked_mul(sealed))
            .ok_or(OramError::OutOfMemory)?;
        let mut host = Vec::new();
        host.try_reserve_exact(host_len)
            .map_err(|_| OramError::OutOfMemory)?;
        host.resize(host_len, 0);
        let mut key = [0u8; 16];
        rng.fill_bytes(&mut key);
        let cipher = Aes128Gcm::new(&key.into());
        key.zeroize();
        Ok(Self {
            trusted: zeroed_words(trusted_buckets * bucket_words as u64)?,
            trusted_buckets,
            host,
            counters: zeroed_words(untrusted)?,
            cipher,
            bucket_words,
            num_buckets,
            buf: alloc::vec![0u8; bucket_words * 8],
        })
    }

    /// The untrusted memory as the host sees it. For tests and simulations of a hostile host.
    pub fn host_memory(&self) -> &[u8] {
        &self.host
    }

    /// The untrusted memory, writable as the host could write it. For tests and simulations of
    /// a hostile host.
    pub fn host_memory_mut(&mut self) -> &mut [u8] {
        &mut self.host
    }

    /// Byte range of `bucket`'s sealed form inside [`Self::host_memory`], or `None` when the
    /// bucket is kept in trusted memory (or does not exist).
    pub fn host_range(&self, bucket: u64) -> Option<Range<usize>> {
        if bucket < self.trusted_buckets || bucket >= self.num_buckets {
            return None;
        }
        let sealed = self.bucket_words * 8 + TAG_BYTES;
        let i = usize::try_from(bucket - self.trusted_buckets).ok()?;
        Some(i * sealed..(i + 1) * sealed)
    }

    fn nonce(bucket: u64, counter: u64) -> [u8; 12] {
        let mut n = [0u8; 12];
        n[..4].copy_from_slice(&(bucket as u32).to_le_bytes());
        n[4..].copy_from_slice(&counter.to_le_bytes());
        n
    }
}

impl Drop for EncryptedStore {
    /// Wipes the plaintext kept in trusted memory (the top levels and the sealing buffer); the
    /// cipher wipes its key itself, and host memory holds only ciphertext.
    fn drop(&mut self) {
        self.trusted.zeroize();
        self.buf.zeroize();
    }
}

impl BucketStore for EncryptedStore {
    fn num_buckets(&self) -> u64 {
        self.num_buckets
    }
    fn bucket_words(&self) -> usize {
        self.bucket_words
    }
    fn read_bucket(&mut self, bucket: u64, out: &mut [u64]) -> Result<(), OramError> {
        if out.len() != self.bucket_words {
            return Err(OramError::LengthMismatch);
        }
        if bucket < self.trusted_buckets {
            let r = bucket_range(bucket, self.bucket_words, self.trusted.len())?;
            out.copy_from_slice(&self.trusted[r]);
            return Ok(());
        }
        let range = self.host_range(bucket).ok_or(OramError::IndexOutOfRange)?;
        let counter = self.counters[(bucket - self.trusted_buckets) as usize];
        if counter == 0 {
            // Never written: the host knows this too (it saw no write), so this branch is public.
            out.fill(0);
            return Ok(());
        }
        let nonce = Self::nonce(bucket, counter);
        let sealed = &self.host[range];
        let (ct, tag) = sealed.split_at(self.bucket_words * 8);
        self.buf.copy_from_slice(ct);
        let tag = Tag::clone_from_slice(tag);
        let ok = self.cipher.decrypt_in_place_detached(
            Nonce::from_slice(&nonce),
            &nonce,
            &mut self.buf,
            &tag,
        );
        if ok.is_err() {
            out.fill(0);
            self.buf.as_mut_slice().zeroize();
            return Err(OramError::IntegrityFailure);
        }
        for (w, c) in out.iter_mut().zip(self.buf.chunks_exact(8)) {
            let mut a = [0u8; 8];
            a.copy_from_slice(c);
            *w = u64::from_le_bytes(a);
        }
        self.buf.as_mut_slice().zeroize();
        Ok(())
    }
    fn write_bucket(&mut self, bucket: u64, data: &[u64]) -> Result<(), OramError> {
        if data.len() != self.bucket_words {
            return Err(OramError::LengthMismatch);
        }
        if bucket < self.trusted_buckets {
            let r = bucket_range(bucket, self.bucket_words, self.trusted.len())?;
            self.trusted[r].copy_from_slice(data);
            return Ok(());
        }
        let range = self.host_range(bucket).ok_or(OramError::IndexOutOfRange)?;
        let ci = (bucket - self.trusted_buckets) as usize;
        let counter = self.counters[ci]
            .checked_add(1)
            .ok_or(OramError::InvalidConfig)?;
        self.counters[ci] = counter;
        for (c, w) in self.buf.chunks_exact_mut(8).zip(data) {
            c.copy_from_slice(&w.to_le_bytes());
        }
        let nonce = Self::nonce(bucket, counter);
        let tag = self
            .cipher
            .encrypt_in_place_detached(Nonce::from_slice(&nonce), &nonce, &mut self.buf)
            .map_err(|_| OramError::InvalidConfig)?;
        let sealed = &mut self.host[range];
        let (ct, t) = sealed.split_at_mut(self.bucket_words * 8);
        ct.copy_from_slice(&self.buf);
        t.copy_from_slice(&tag);
        self.buf.as_mut_slice().zeroize();
        Ok(())
    }
    fn memory_bytes(&self) -> MemoryUse {
        MemoryUse {
            trusted: ((self.trusted.len() + self.counters.len()) * 8 + self.buf.len()) as u64,
            untrusted: self.host.len() as u64,
        }
    }
}

/// Makes [`EncryptedStore`]s that keep the top `trusted_levels` levels of each tree in trusted
/// memory.
#[derive(Clone, Copy, Debug)]
pub struct EncryptedFactory {
    /// Levels of each tree, counted from the root, kept in trusted memory.
    pub trusted_levels: u32,
}

impl StoreFactory for EncryptedFactory {
    type Store = EncryptedStore;
    fn create<R: RngCore + CryptoRng>(
        &mut self,
        num_buckets: u64,
        bucket_words: usize,
        rng: &mut R,
    ) -> Result<EncryptedStore, OramError> {
        let top = if self.trusted_levels >= 63 {
            u64::MAX
        } else {
            (1u64 << self.trusted_levels) - 1
        };
        EncryptedStore::new(num_buckets, bucket_words, top, rng)
    }
}

/// Whether a recorded event was a read or a write.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TraceOp {
    /// A bucket was read.
    Read,
    /// A bucket was written.
    Write,
}

/// One recorded bucket access.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TraceEvent {
    /// Which store (tree) of the ORAM, in creation order: 0 is the data tree, then the position
    /// map trees.
    pub store: u32,
    /// Read or write.
    pub op: TraceOp,
    /// Bucket index inside that store.
    pub bucket: u64,
}

/// A shared log of [`TraceEvent`]s, filled by [`TracingStore`]s. Not thread-safe: for tests and
/// simulations.
#[derive(Clone, Debug, Default)]
pub struct TraceLog(Rc<RefCell<Vec<TraceEvent>>>);

impl TraceLog {
    /// Removes and returns the events recorded so far.
    pub fn take(&self) -> Vec<TraceEvent> {
        core::mem::take(&mut *self.0.borrow_mut())
    }
    /// Number of events recorded and not yet taken.
    pub fn len(&self) -> usize {
        self.0.borrow().len()
    }
    /// Whether no event is waiting.
    pub fn is_empty(&self) -> bool {
        self.0.borrow().is_empty()
    }
    fn push(&self, e: TraceEvent) {
        self.0.borrow_mut().push(e);
    }
}

/// A store that records every bucket read and write into a [`TraceLog`], then forwards it.
pub struct TracingStore<S> {
    inner: S,
    id: u32,
    log: TraceLog,
}

impl<S> TracingStore<S> {
    /// The wrapped store.
    pub fn inner_mut(&mut self) -> &mut S {
        &mut self.inner
    }
}

impl<S: BucketStore> BucketStore for TracingStore<S> {
    fn num_buckets(&self) -> u64 {
        self.inner.num_buckets()
    }
    fn bucket_words(&self) -> usize {
        self.inner.bucket_words()
    }
    fn read_bucket(&mut self, bucket: u64, out: &mut [u64]) -> Result<(), OramError> {
        self.log.push(TraceEvent {
            store: self.id,
            op: TraceOp::Read,
            bucket,
        });
        self.inner.read_bucket(bucket, out)
    }
    fn write_bucket(&mut self, bucket: u64, data: &[u64]) -> Result<(), OramError> {
        self.log.push(TraceEvent {
            store: self.id,
            op: TraceOp::Write,
            bucket,
        });
        self.inner.write_bucket(bucket, data)
    }
    fn memory_bytes(&self) -> MemoryUse {
        self.inner.memory_bytes()
    }
    fn in_place(&self) -> bool {
        self.inner.in_place()
    }
    fn prefetch(&self, bucket: u64) -> u64 {
        self.inner.prefetch(bucket)
    }
    fn read_prefix(&mut self, bucket: u64, out: &mut [u64]) -> Result<(), OramError> {
        self.log.push(TraceEvent {
            store: self.id,
            op: TraceOp::Read,
            bucket,
        });
        self.inner.read_prefix(bucket, out)
    }
    /// Records a write of `bucket` (the caller is about to overwrite it in place).
    fn bucket_mut(&mut self, bucket: u64) -> Option<&mut [u64]> {
        let words = self.inner.bucket_mut(bucket)?;
        self.log.push(TraceEvent {
            store: self.id,
            op: TraceOp::Write,
            bucket,
        });
        Some(words)
    }
}

/// Wraps another factory so that every store it makes records into one shared [`TraceLog`].
#[derive(Debug)]
pub struct TracingFactory<F> {
    inner: F,
    log: TraceLog,
    next_id: u32,
}

impl<F> TracingFactory<F> {
    /// Wraps `inner`.
    pub fn new(inner: F) -> Self {
        Self {
            inner,
            log: TraceLog::default(),
            next_id: 0,
        }
    }
    /// The log shared by every store made by this factory.
    pub fn log(&self) -> TraceLog {
        self.log.clone()
    }
}

impl<F: StoreFactory> StoreFactory for TracingFactory<F> {
    type Store = TracingStore<F::Store>;
    fn create<R: RngCore + CryptoRng>(
        &mut self,
        num_buckets: u64,
        bucket_words: usize,
        rng: &mut R,
    ) -> Result<Self::Store, OramError> {
        let inner = self.inner.create(num_buckets, bucket_words, rng)?;
        let id = self.next_id;
        self.next_id += 1;
        Ok(TracingStore {
            inner,
            id,
            log: self.log.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::rand_core::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    fn rng() -> ChaCha20Rng {
        let seed = 7u64;
        std::println!("seed {seed}");
        ChaCha20Rng::seed_from_u64(seed)
    }

    #[test]
    fn heap_store_buckets_start_on_a_cache_line() {
        // Small buffers come from the allocator's bins, large ones from their own mappings
        // (16 bytes past a page): both start the first bucket on a 64-byte boundary.
        for (buckets, words) in [(3u64, 5usize), (1 << 10, 12), (1 << 18, 12)] {
            let mut store = HeapStore::new(buckets, words).unwrap();
            assert_eq!(
                store.tree().as_ptr() as usize % 64,
                0,
                "{buckets} × {words}"
            );
            assert_eq!(store.num_buckets(), buckets);
            let last: alloc::vec::Vec<u64> = (0..words as u64).map(|w| w + 1).collect();
            store.write_bucket(buckets - 1, &last).unwrap();
            let mut out = alloc::vec![0; words];
            store.read_bucket(buckets - 1, &mut out).unwrap();
            assert_eq!(out, last);
            assert_eq!(store.bucket_mut(buckets - 1).unwrap(), &last[..]);
            assert!(store.bucket_mut(buckets).is_none());
        }
    }

    /// The heap store asks for huge pages: in `/proc/self/smaps`, the mappings of a 64 MiB
    /// store's buffer carry the `hg` flag (MADV_HUGEPAGE) over all but its unaligned ends.
    /// Whether the kernel then backs them with huge pages depends on the system's transparent
    /// huge page settings and free memory; the test prints the `AnonHugePages` it sees.
    #[cfg(all(target_os = "linux", not(target_env = "sgx")))]
    #[test]
    fn heap_store_asks_for_huge_pages() {
        let buckets = (64u64 << 20) / (8 * 16);
        let mut store = HeapStore::new(buckets, 16).unwrap();
        store.write_bucket(buckets - 1, &[1; 16]).unwrap();
        // madvise splits the buffer's mapping at the 2 MiB boundaries: look at every mapping
        // that overlaps it.
        let lo_addr = store.words.as_ptr() as usize;
        let hi_addr = lo_addr + store.words.len() * 8;
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        let mut current: Option<(usize, usize)> = None;
        let (mut advised, mut huge_kib, mut seen) = (0usize, 0u64, false);
        for line in smaps.lines() {
            let first = line.split_whitespace().next().unwrap_or("");
            if let Some((lo, hi)) = first.split_once('-') {
                if let (Ok(lo), Ok(hi)) =
                    (usize::from_str_radix(lo, 16), usize::from_str_radix(hi, 16))
                {
                    current = (lo < hi_addr && lo_addr < hi).then_some((lo, hi));
                    seen |= current.is_some();
                    continue;
                }
            }
            let Some((lo, hi)) = current else { continue };
            if let Some(v) = line.strip_prefix("AnonHugePages:") {
                huge_kib += v
                    .trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<u64>()
                    .unwrap();
            }
            if let Some(flags) = line.strip_prefix("VmFlags:") {
                if flags.split_whitespace().any(|f| f == "hg") {
                    advised += hi.min(hi_addr) - lo.max(lo_addr);
                }
            }
        }
        assert!(seen, "the store's buffer is in /proc/self/smaps");
        std::println!("advised {} KiB, AnonHugePages {huge_kib} kB", advised >> 10);
        // All but the unaligned ends: at least 60 of the 64 MiB.
        assert!(
            advised >= 60 << 20,
            "MADV_HUGEPAGE over {advised} bytes only"
        );
    }

    /// The conformance suite every store runs.
    fn conformance<S: BucketStore>(s: &mut S) {
        let w = s.bucket_words();
        let n = s.num_buckets();
        let mut out = alloc::vec![1u64; w];
        for b in 0..n {
            s.read_bucket(b, &mut out).unwrap();
            assert!(out.iter().all(|&x| x == 0), "fresh bucket {b} reads zero");
        }
        for b in 0..n {
            let data: Vec<u64> = (0..w as u64).map(|i| b * 1000 + i + 1).collect();
            s.write_bucket(b, &data).unwrap();
        }
        for b in (0..n).rev() {
            s.read_bucket(b, &mut out).unwrap();
            let want: Vec<u64> = (0..w as u64).map(|i| b * 1000 + i + 1).collect();
            assert_eq!(out, want);
        }
        assert_eq!(s.read_bucket(n, &mut out), Err(OramError::IndexOutOfRange));
        assert_eq!(
            s.read_bucket(0, &mut out[..w - 1]),
            Err(OramError::LengthMismatch)
        );
        // A prefix read (the store's own or the trait's default) is the bucket's first words;
        // a prefetch changes nothing.
        for b in 0..n {
            let _ = s.prefetch(b);
            let mut prefix = alloc::vec![0u64; w - 2];
            s.read_prefix(b, &mut prefix).unwrap();
            let want: Vec<u64> = (0..w as u64 - 2).map(|i| b * 1000 + i + 1).collect();
            assert_eq!(prefix, want);
        }
        let mut long = alloc::vec![0u64; w + 1];
        assert_eq!(s.read_prefix(0, &mut long), Err(OramError::LengthMismatch));
        assert_eq!(
            s.read_prefix(n, &mut out[..1]),
            Err(OramError::IndexOutOfRange)
        );
    }

    #[test]
    fn heap_store_conformance() {
        conformance(&mut HeapStore::new(15, 6).unwrap());
    }

    #[test]
    fn encrypted_store_conformance() {
        for top in [0, 3, 15] {
            conformance(&mut EncryptedStore::new(15, 6, top, &mut rng()).unwrap());
        }
    }

    #[test]
    fn tracing_store_records() {
        let mut f = TracingFactory::new(HeapFactory);
        let log = f.log();
        let mut s = f.create(7, 3, &mut rng()).unwrap();
        conformance(&mut s);
        let ev = log.take();
        // Reads, writes, reads back, two refused reads; prefix reads, two refused prefix reads
        // (a refused call is recorded too: what is attempted is what the host would see).
        assert_eq!(ev.len(), 7 + 7 + 7 + 2 + 7 + 2);
        assert_eq!(
            ev[7],
            TraceEvent {
                store: 0,
                op: TraceOp::Write,
                bucket: 0
            }
        );
        assert!(log.is_empty());
    }

    fn written(top: u64) -> EncryptedStore {
        let mut s = EncryptedStore::new(7, 4, top, &mut rng()).unwrap();
        for b in 0..7 {
            s.write_bucket(b, &[b, b + 1, b + 2, b + 3]).unwrap();
        }
        s
    }

    #[test]
    fn tampered_bucket_is_detected() {
        let mut s = written(1);
        let r = s.host_range(3).unwrap();
        // Flip one bit of the ciphertext, then one of the tag.
        for pos in [r.start + 5, r.end - 1] {
            let mut s2 = written(1);
            s2.host_memory_mut()[pos] ^= 0x01;
            let mut out = [9u64; 4];
            assert_eq!(
                s2.read_bucket(3, &mut out),
                Err(OramError::IntegrityFailure)
            );
            assert_eq!(out, [0; 4], "no unauthenticated data is returned");
        }
        // Untouched buckets still read fine.
        let mut out = [0u64; 4];
        s.read_bucket(3, &mut out).unwrap();
        assert_eq!(out, [3, 4, 5, 6]);
    }

    #[test]
    fn swapped_buckets_are_detected() {
        let mut s = written(0);
        let (a, b) = (s.host_range(1).unwrap(), s.host_range(2).unwrap());
        let copy_a = s.host_memory()[a.clone()].to_vec();
        let copy_b = s.host_memory()[b.clone()].to_vec();
        s.host_memory_mut()[a].copy_from_slice(&copy_b);
        s.host_memory_mut()[b].copy_from_slice(&copy_a);
        let mut out = [0u64; 4];
        assert_eq!(s.read_bucket(1, &mut out), Err(OramError::IntegrityFailure));
        assert_eq!(s.read_bucket(2, &mut out), Err(OramError::IntegrityFailure));
        s.read_bucket(4, &mut out).unwrap();
        assert_eq!(out, [4, 5, 6, 7]);
    }

    #[test]
    fn replayed_bucket_is_detected() {
        let mut s = written(0);
        let r = s.host_range(5).unwrap();
        let old = s.host_memory()[r.clone()].to_vec();
        s.write_bucket(5, &[50, 51, 52, 53]).unwrap();
        let mut out = [0u64; 4];
        s.read_bucket(5, &mut out).unwrap();
        assert_eq!(out, [50, 51, 52, 53]);
        // The host rolls bucket 5 back to its previous (validly sealed) version.
        s.host_memory_mut()[r].copy_from_slice(&old);
        assert_eq!(s.read_bucket(5, &mut out), Err(OramError::IntegrityFailure));
    }

    #[test]
    fn trusted_top_is_not_in_host_memory() {
        let s = written(3);
        assert_eq!(s.host_range(0), None);
        assert_eq!(s.host_range(2), None);
        assert!(s.host_range(3).is_some());
        assert_eq!(s.host_memory().len(), 4 * (4 * 8 + TAG_BYTES));
        let m = s.memory_bytes();
        assert_eq!(m.untrusted, s.host_memory().len() as u64);
        // Sealed buckets do not contain the plaintext words.
        let needle = 5u64.to_le_bytes();
        assert!(!s.host_memory().windows(8).any(|w| w == needle));
    }
}
