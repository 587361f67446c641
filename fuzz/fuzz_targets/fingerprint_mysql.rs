#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let mut out = Vec::new();
    parsers::fingerprint::mysql::fingerprint(data, &mut out);
    // The fingerprint never grows without bound: at most a few bytes per input byte.
    assert!(out.len() <= data.len() * 4 + 64, "fingerprint of {} bytes is {} bytes", data.len(), out.len());
    // The fast path agrees with the plain chain of stages it shortcuts.
    let mut staged = Vec::new();
    parsers::fingerprint::mysql::fingerprint_reference(data, &mut staged);
    assert_eq!(out, staged, "fast and staged fingerprints differ");
    let _ = parsers::fingerprint::fingerprint_id(&out);
});
