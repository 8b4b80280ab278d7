//! Fuzzes Kafka record values (the bus codec). The properties asserted live in `sluice_model::fuzz_check::bus_record`, where
//! the corpus replay test of the normal build runs them too.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sluice_model::fuzz_check::bus_record(data));
