//! Attested channels between ingest enclaves, for sharing the ingress key.
//!
//! Ingest servers that back each other up must scan with one ingress key (senders encrypt
//! fog hints to the key in the published report, whichever server scans). The key travels
//! only between enclaves: each end proves its identity with evidence bound to its Noise
//! static key (IX: both sides attested), the verifier given at start decides which
//! enclaves count as peers (normally exactly the ingest enclave's own measurement), and the
//! key crosses inside a channel frame the host cannot read. The host carries the handshake
//! messages and frames, and learns only that a key moved.
//!
//! Which side starts does not matter: a server pushing its key to a peer starts the
//! handshake and sends a frame ([`crate::ingest::IngestEnclave::send_ingress_key`]); a server
//! copying a peer's key starts it too and asks the peer to send one.
//!
//! Trust side: trusted.

use crate::peers::Purpose;
pub use crate::peers::{PeerChannels as IngestPeers, PeerError};

/// The associated data of an ingress-key frame (the frame carries nothing else).
pub const INGRESS_KEY_AAD: &[u8] = b"fog-ingest-ingress-key-v1";

/// Ingress-key channels: frames of at most 4 KiB, 64 channels.
pub const INGRESS_KEY: Purpose = Purpose {
    aad: INGRESS_KEY_AAD,
    max_frame: 4096,
    max_channels: 64,
    max_pending: 16,
};
