//! Printable b58 strings typed or pasted by people.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = core::str::from_utf8(data) {
        if let Ok(addr) = fog_account::b58_decode_public_address(text) {
            let again = fog_account::b58_decode_public_address(
                &fog_account::b58_encode_public_address(&addr),
            );
            assert_eq!(again.as_ref(), Ok(&addr));
        }
    }
});
