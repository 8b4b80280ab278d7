//! Fuzzes remote_write request bodies (a mode byte, then the body). The properties asserted live in `sluice_ingest::receive::fuzz_check::remote_write_input`, where
//! the corpus replay test of the normal build runs them too.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sluice_ingest::receive::fuzz_check::remote_write_input(data));
