//! Fuzzes text 0.0.4 scrape bodies. The properties asserted live in `sluice_ingest::exposition::fuzz_check::text`, where
//! the corpus replay test of the normal build runs them too.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sluice_ingest::exposition::fuzz_check::text(data));
