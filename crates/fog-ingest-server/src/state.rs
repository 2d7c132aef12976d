//! The ingest server's state directory: the sealed ingress key.
//!
//! The enclave seals its ingress key itself, with the platform's sealing key it was loaded
//! with, and the server stores only the sealed bytes (`ingress.sealed`), so a restart on the
//! same platform restores the same ingress key inside the enclave, and the egress key, which
//! is never stored, starts afresh. The server never reads a platform key: in simulation the
//! loader (`fogd`) keeps one in this directory's `platform.key` (mode 0600), the stand-in for
//! the key a TEE derives from its identity, and hands it to the enclave it loads. Files are
//! written atomically (temporary file, fsync, rename).
//!
//! One server per directory: [`StateDir::new`] takes an exclusive OS advisory lock on
//! `lock` in the directory (`flock(LOCK_EX | LOCK_NB)` through rustix; std's
//! `File::try_lock` does the same but needs Rust 1.89, past our rust-version 1.85, and can
//! replace it once that moves) and holds it as long as any clone of the `StateDir` lives; the kernel drops it when the
//! process dies, so a crash leaves no stale lock. A second server on the same directory (the
//! same ingress key) fails with [`IngestError::StateDirInUse`] instead of opening an
//! invocation that decommissions the first one's while that one keeps writing. The lock is
//! advisory: it stops a second Fog ingest, not a person editing the files.

use std::{
    fs,
    io::Write,
    path::{Path, PathBuf},
    sync::Arc,
};

use crate::IngestError;

/// The state directory, locked for this process while any clone lives.
#[derive(Clone, Debug)]
pub struct StateDir {
    dir: PathBuf,
    /// Held for the lock, never read.
    _lock: Arc<fs::File>,
    /// Keep the ingress key in memory only ([`StateDir::memory_only`]).
    memory_only: bool,
}

fn write_atomic(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut opts = fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

impl StateDir {
    /// Uses (and creates) `dir`, and locks it. Fails with [`IngestError::StateDirInUse`] if
    /// another `StateDir` (in this process or another) holds the lock.
    pub fn new(dir: impl Into<PathBuf>) -> Result<Self, IngestError> {
        let dir = dir.into();
        fs::create_dir_all(&dir).map_err(IngestError::State)?;
        let lock = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(dir.join("lock"))
            .map_err(IngestError::State)?;
        lock_exclusive(&lock)?;
        Ok(Self {
            dir,
            _lock: Arc::new(lock),
            memory_only: false,
        })
    }

    /// Uses and locks `dir` like [`StateDir::new`], but never writes the sealed ingress key
    /// to it, nor reads one from it: each start makes a fresh ingress key that lives in
    /// memory only (or takes one from an attested peer). For a service in a confidential VM,
    /// whose disk is the host's: a key sealed with a key on that disk would be open to the
    /// host (so its loader gives the enclave a sealing key for one run, kept nowhere).
    pub fn memory_only(dir: impl Into<PathBuf>) -> Result<Self, IngestError> {
        let mut state = Self::new(dir)?;
        state.memory_only = true;
        Ok(state)
    }

    /// Whether the ingress key is kept in memory only.
    pub fn is_memory_only(&self) -> bool {
        self.memory_only
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// The sealed ingress key, if one was stored.
    pub fn sealed_ingress_key(&self) -> Result<Option<Vec<u8>>, IngestError> {
        if self.memory_only {
            return Ok(None);
        }
        match fs::read(self.dir.join("ingress.sealed")) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(IngestError::State(e)),
        }
    }

    /// Stores the sealed ingress key.
    pub fn store_sealed_ingress_key(&self, sealed: &[u8]) -> Result<(), IngestError> {
        if self.memory_only {
            return Ok(());
        }
        write_atomic(&self.dir.join("ingress.sealed"), sealed).map_err(IngestError::State)
    }
}

/// How long [`lock_exclusive`] tries again before it says the directory is in use.
const LOCK_GRACE: std::time::Duration = std::time::Duration::from_millis(200);

/// Takes the exclusive advisory lock on `file`, trying again for [`LOCK_GRACE`]: a child
/// process this process forks holds a copy of every descriptor, and so the lock, until it
/// executes its program, so a `StateDir` dropped just then is released a moment late (seen in
/// a test process starting a child while one server replaced another). A second server still
/// fails, [`LOCK_GRACE`] later.
#[cfg(unix)]
fn lock_exclusive(file: &fs::File) -> Result<(), IngestError> {
    use rustix::fs::{flock, FlockOperation};
    let deadline = std::time::Instant::now() + LOCK_GRACE;
    loop {
        match flock(file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => return Ok(()),
            Err(e) if e == rustix::io::Errno::WOULDBLOCK => {
                if std::time::Instant::now() >= deadline {
                    return Err(IngestError::StateDirInUse);
                }
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            Err(e) => return Err(IngestError::State(e.into())),
        }
    }
}

/// Elsewhere there is no lock to take: refuse rather than run unprotected.
#[cfg(not(unix))]
fn lock_exclusive(_: &fs::File) -> Result<(), IngestError> {
    Err(IngestError::State(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "the state directory lock needs a Unix system",
    )))
}
