#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let mut out = Vec::new();
    parsers::fingerprint::postgres::normalize(data, &mut out);
    assert!(out.len() <= data.len() * 8 + 64, "normalised form of {} bytes is {} bytes", data.len(), out.len());
});
