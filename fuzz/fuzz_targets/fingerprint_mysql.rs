#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let mut out = Vec::new();
    parsers::fingerprint::mysql::fingerprint(data, &mut out);
    // The fingerprint never grows without bound: at most a few bytes per input byte.
    assert!(out.len() <= data.len() * 4 + 64, "fingerprint of {} bytes is {} bytes", data.len(), out.len());
    let _ = parsers::fingerprint::fingerprint_id(&out);
});
