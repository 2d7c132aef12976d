//! A user's KexRng for one ingest invocation, rebuilt from the invocation's egress public key
//! and the default-subaddress view private key.
//!
//! Only the counter is stored in the account state; the secret is recomputed at each sync
//! (one scalar multiplication), so the state file never holds RNG secrets. Outputs are read
//! ahead with [`UserRng::output`] without moving the counter: a batch of search keys is sent,
//! and the counter moves only past the keys the view service found.

use core::fmt;

use fog_crypto::{
    kex_rng::{self, KexRngError, KexRngPubkey, OUTPUT_LEN, VERSION_ID},
    RistrettoPrivate, RistrettoPublic,
};
use zeroize::Zeroizing;

/// A search key: one 16-byte KexRng output.
pub type SearchKey = [u8; OUTPUT_LEN];

/// The RNG of one ingest invocation for this user.
pub struct UserRng {
    secret: Zeroizing<[u8; 32]>,
    counter: u64,
}

impl fmt::Debug for UserRng {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserRng")
            .field("counter", &self.counter)
            .finish_non_exhaustive()
    }
}

impl UserRng {
    /// Rebuilds the RNG of `pubkey` for the user with default-subaddress view private key
    /// `c0`, positioned at `counter`.
    pub fn new(
        pubkey: &KexRngPubkey,
        c0: &RistrettoPrivate,
        counter: u64,
    ) -> Result<Self, KexRngError> {
        if pubkey.version != VERSION_ID {
            return Err(KexRngError::UnknownVersion(pubkey.version));
        }
        let egress = RistrettoPublic::from_bytes(&pubkey.public_key).map_err(KexRngError::Key)?;
        Ok(Self {
            secret: Zeroizing::new(*c0.key_exchange(&egress).as_bytes()),
            counter,
        })
    }

    /// The output `ahead` places past the current one (0: the next search key).
    pub fn output(&self, ahead: u64) -> SearchKey {
        kex_rng::prf(&self.secret, self.counter.wrapping_add(ahead))
    }

    /// Moves past one output.
    pub fn advance(&mut self) {
        self.counter = self.counter.wrapping_add(1);
    }

    /// How many outputs were consumed (found records).
    pub fn counter(&self) -> u64 {
        self.counter
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fog_crypto::kex_rng::KexRng;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    #[test]
    fn outputs_are_those_ingest_derives() {
        let mut rng = ChaCha20Rng::seed_from_u64(11);
        let egress = RistrettoPrivate::random(&mut rng);
        let c0 = RistrettoPrivate::random(&mut rng);
        let pubkey = KexRngPubkey {
            public_key: egress.public_key().to_bytes().to_vec(),
            version: VERSION_ID,
        };
        let mut ingest = KexRng::from_static_static(&egress, &c0.public_key());
        let mut user = UserRng::new(&pubkey, &c0, 0).unwrap();
        for _ in 0..5 {
            assert_eq!(&user.output(0), ingest.peek());
            ingest.advance();
            assert_eq!(&user.output(1), ingest.peek());
            user.advance();
        }
        let resumed = UserRng::new(&pubkey, &c0, 5).unwrap();
        assert_eq!(&resumed.output(0), ingest.peek());
        assert!(format!("{resumed:?}").contains("counter: 5"));
    }

    #[test]
    fn unknown_versions_and_bad_keys_are_refused() {
        let c0 = RistrettoPrivate::random(&mut ChaCha20Rng::seed_from_u64(12));
        let bad_version = KexRngPubkey {
            public_key: c0.public_key().to_bytes().to_vec(),
            version: 7,
        };
        assert!(matches!(
            UserRng::new(&bad_version, &c0, 0),
            Err(KexRngError::UnknownVersion(7))
        ));
        let bad_key = KexRngPubkey {
            public_key: vec![0xff; 32],
            version: VERSION_ID,
        };
        assert!(matches!(
            UserRng::new(&bad_key, &c0, 0),
            Err(KexRngError::Key(_))
        ));
    }
}
