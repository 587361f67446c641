#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    aurora_logs_fuzz::check_format(parsers::LogFormat::MysqlGeneral, data);
});
