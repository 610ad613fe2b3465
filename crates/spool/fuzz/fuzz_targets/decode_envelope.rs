#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Must never panic; a successful decode must re-encode to the same bytes.
    if let Ok(env) = ferrymail_spool::decode_envelope(data) {
        let again = ferrymail_spool::encode_envelope(&env).expect("decoded envelope re-encodes");
        assert_eq!(again, data);
    }
});
