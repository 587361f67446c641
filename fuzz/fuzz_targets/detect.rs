#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = parsers::detect_from_content(data);
    if let Ok(name) = std::str::from_utf8(data) {
        let _ = parsers::detect_from_name(name);
    }
});
