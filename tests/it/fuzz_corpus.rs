//! Replays the committed fuzz corpora (`fuzz/corpus/<target>/`) through the
//! same property checks the cargo-fuzz targets run, in the normal build: every
//! CI run re-checks the seeds and every input that once crashed a target
//! (crashes are kept in the corpus as well as in unit tests).

use std::path::Path;

type Check = fn(&[u8]);

const TARGETS: [(&str, Check); 5] = [
    ("bus_decode", sluice_model::fuzz_check::bus_record),
    ("exposition_text", sluice_ingest::exposition::fuzz_check::text),
    (
        "exposition_openmetrics",
        sluice_ingest::exposition::fuzz_check::openmetrics,
    ),
    (
        "remote_write_decode",
        sluice_ingest::receive::fuzz_check::remote_write_input,
    ),
    ("promql", sluice_promql::fuzz_check::promql),
];

#[test]
fn fuzz_corpora_replay_through_their_checks() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    for (target, check) in TARGETS {
        let mut inputs: Vec<_> = std::fs::read_dir(root.join(target))
            .unwrap_or_else(|e| panic!("corpus of {target}: {e}"))
            .map(|e| e.unwrap().path())
            .collect();
        inputs.sort();
        // A corpus is meant to seed the fuzzer broadly; a handful of files
        // would mean the seed script lost its inputs.
        assert!(inputs.len() >= 10, "{target}: only {} corpus files", inputs.len());
        for input in &inputs {
            let data = std::fs::read(input).unwrap();
            let replay = std::panic::catch_unwind(|| check(&data));
            assert!(replay.is_ok(), "{target}: {} fails its check", input.display());
        }
        eprintln!("fuzz corpus {target}: {} inputs replayed", inputs.len());
    }
}
