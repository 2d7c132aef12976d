//! The base58 printable form: `Base58(LE32(CRC-32(w)) || w)` with `w` the protobuf bytes of a
//! `PrintableWrapper`.

use alloc::{string::String, vec::Vec};

use crc::{Crc, CRC_32_ISO_HDLC};
use prost::Message;

use crate::{wire, B58Error, PublicAddress};

const CRC32: Crc<u32> = Crc::<u32>::new(&CRC_32_ISO_HDLC);

/// Encodes any printable wrapper.
pub fn b58_encode(wrapper: &wire::PrintableWrapper) -> String {
    let w = wrapper.encode_to_vec();
    let mut bytes = Vec::with_capacity(4 + w.len());
    bytes.extend_from_slice(&CRC32.checksum(&w).to_le_bytes());
    bytes.extend_from_slice(&w);
    bs58::encode(bytes).into_string()
}

/// Decodes any printable wrapper, checking the checksum.
pub fn b58_decode(text: &str) -> Result<wire::PrintableWrapper, B58Error> {
    let bytes = bs58::decode(text.trim())
        .into_vec()
        .map_err(|_| B58Error::Base58)?;
    if bytes.len() < 5 {
        return Err(B58Error::InsufficientBytes(bytes.len()));
    }
    let (crc, w) = bytes.split_at(4);
    if CRC32.checksum(w).to_le_bytes() != crc {
        return Err(B58Error::ChecksumMismatch);
    }
    wire::PrintableWrapper::decode(w).map_err(|_| B58Error::Deserialization)
}

/// The b58 string of an address.
pub fn b58_encode_public_address(addr: &PublicAddress) -> String {
    b58_encode(&wire::PrintableWrapper {
        wrapper: Some(wire::Wrapper::PublicAddress(addr.to_wire())),
    })
}

/// Decodes a b58 string that must hold a public address.
pub fn b58_decode_public_address(text: &str) -> Result<PublicAddress, B58Error> {
    match b58_decode(text)?.wrapper {
        Some(wire::Wrapper::PublicAddress(w)) => Ok(PublicAddress::try_from_wire(&w)?),
        _ => Err(B58Error::NotAnAddress),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AccountKey;
    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    proptest! {
        #[test]
        fn addresses_round_trip(seed in any::<[u8; 32]>(), index in any::<u64>(), fog in any::<bool>(), id in "[a-z0-9]{0,8}") {
            let mut rng = ChaCha20Rng::from_seed(seed);
            let mut account = AccountKey::random(&mut rng);
            if fog {
                account = account.with_fog("fog://fog.example.com", &id, b"spki");
            }
            let addr = account.subaddress(index);
            let text = b58_encode_public_address(&addr);
            prop_assert_eq!(b58_decode_public_address(&text).unwrap(), addr);
        }

        #[test]
        fn any_flipped_character_is_refused(seed in any::<[u8; 32]>(), pos in any::<prop::sample::Index>()) {
            let mut rng = ChaCha20Rng::from_seed(seed);
            let addr = AccountKey::random(&mut rng).default_subaddress();
            let text = b58_encode_public_address(&addr);
            let mut chars: Vec<char> = text.chars().collect();
            let i = pos.index(chars.len());
            chars[i] = if chars[i] == '2' { '3' } else { '2' };
            let changed: String = chars.into_iter().collect();
            prop_assert!(b58_decode_public_address(&changed).is_err());
        }
    }

    #[test]
    fn errors_are_specific() {
        assert_eq!(b58_decode("0OIl").unwrap_err(), B58Error::Base58);
        assert_eq!(b58_decode("2").unwrap_err(), B58Error::InsufficientBytes(1));
        let w = wire::PrintableWrapper {
            wrapper: Some(wire::Wrapper::PaymentRequest(
                wire::PaymentRequest::default(),
            )),
        };
        assert_eq!(
            b58_decode_public_address(&b58_encode(&w)).unwrap_err(),
            B58Error::NotAnAddress
        );
        // A valid checksum over bytes that are not a protobuf.
        let junk = [0xff_u8, 0xff, 0xff];
        let mut bytes = CRC32.checksum(&junk).to_le_bytes().to_vec();
        bytes.extend_from_slice(&junk);
        assert_eq!(
            b58_decode(&bs58::encode(bytes).into_string()).unwrap_err(),
            B58Error::Deserialization
        );
    }
}
