//! Fuzzes PromQL query text. The properties asserted live in `sluice_promql::fuzz_check::promql`, where
//! the corpus replay test of the normal build runs them too.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sluice_promql::fuzz_check::promql(data));
