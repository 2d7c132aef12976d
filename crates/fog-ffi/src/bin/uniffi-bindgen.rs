//! UniFFI's generator, built with the same UniFFI version as the library it reads:
//! `uniffi-bindgen generate --library libfog_ffi.so --language kotlin --out-dir DIR`.

fn main() {
    uniffi::uniffi_bindgen_main()
}
