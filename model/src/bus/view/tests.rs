//! The in-place reader against the owned decoder (prost), on valid records,
//! every truncation of one and deterministic byte mutations: both accept
//! the same inputs and see the same series.

use super::*;
use crate::bus::{PbLabel, PbSample, PbTimeSeries, WriteRequest, decode, encode};
use crate::{TimeSeries, stale_nan};
use prost::Message;

/// The views, owned, or the error.
fn via_views(value: &[u8]) -> Result<Vec<TimeSeries>, DecodeError> {
    let mut out = Vec::new();
    for_each_series(value, |v| {
        out.push(TimeSeries {
            labels: v.to_labels(),
            samples: v.samples.to_vec(),
        })
    })?;
    Ok(out)
}

fn same(value: &[u8]) {
    let owned = decode(None, value);
    let viewed = via_views(value);
    match (&owned, &viewed) {
        (Ok(a), Ok(b)) => {
            assert_eq!(a.len(), b.len());
            for (x, y) in a.iter().zip(b) {
                assert_eq!(x.labels, y.labels);
                let bits = |s: &[Sample]| {
                    s.iter()
                        .map(|s| (s.timestamp_ms, s.value.to_bits()))
                        .collect::<Vec<_>>()
                };
                assert_eq!(bits(&x.samples), bits(&y.samples));
            }
        }
        (Err(_), Err(_)) => {}
        _ => panic!("decoders disagree on {value:?}: owned {owned:?}, views {viewed:?}"),
    }
}

fn record() -> Vec<u8> {
    encode(&[
        TimeSeries {
            labels: Labels::new([
                ("__name__", "node_network_receive_bytes_total"),
                ("device", "eth0"),
                ("instance", "10.0.0.1:9100"),
            ]),
            samples: vec![
                Sample::new(1_700_000_000_000, 1.5e9),
                Sample::new(-5, stale_nan()),
            ],
        },
        TimeSeries {
            labels: Labels::new([("__name__", "up"), ("job", "ünïcode")]),
            samples: vec![Sample::new(0, -0.0)],
        },
    ])
}

#[test]
fn valid_records_read_the_same_and_hash_like_labels() {
    let value = record();
    same(&value);
    let mut hashes = Vec::new();
    for_each_series(&value, |v| hashes.push(v.hash())).unwrap();
    let owned: Vec<u64> = decode(None, &value)
        .unwrap()
        .iter()
        .map(|s| s.labels.hash())
        .collect();
    assert_eq!(hashes, owned);
}

#[test]
fn empty_values_are_dropped_and_bad_series_refused_as_by_the_owned_decoder() {
    let pb = |labels: &[(&str, &str)]| {
        WriteRequest {
            timeseries: vec![PbTimeSeries {
                labels: labels
                    .iter()
                    .map(|(n, v)| PbLabel {
                        name: (*n).into(),
                        value: (*v).into(),
                    })
                    .collect(),
                samples: vec![PbSample {
                    value: 1.0,
                    timestamp: 7,
                }],
            }],
            metadata: Vec::new(),
        }
        .encode_to_vec()
    };
    for labels in [
        vec![("__name__", "up"), ("empty", "")],
        vec![("job", "x")],
        vec![("job", "x"), ("__name__", "up")],
        vec![("__name__", "up"), ("__name__", "up")],
    ] {
        same(&pb(&labels));
    }
    assert!(via_views(&pb(&[("job", "x")])).is_err());
}

#[test]
fn groups_are_skipped_like_prost_skips_them() {
    // The fuzzer's find: a start group (field 12) and its end, alone.
    same(&[0x63, 0x64]);
    // Unterminated, mismatched, stray end, nested past the limit.
    same(&[0x63]);
    same(&[0x63, 0x6c]);
    same(&[0x64]);
    for depth in [97, 98, 99, 100, 101] {
        let mut v: Vec<u8> = std::iter::repeat_n(0x63, depth).collect();
        v.extend(std::iter::repeat_n(0x64, depth));
        same(&v);
        // The same inside a series, a label and a sample.
        let mut rec = record();
        rec.extend(&v);
        same(&rec);
    }
    // A key above u32::MAX is an error for both.
    same(&[0x80, 0x80, 0x80, 0x80, 0x20]);
}

#[test]
fn every_truncation_and_mutation_is_judged_alike() {
    let value = record();
    for n in 0..value.len() {
        same(&value[..n]);
    }
    // A small deterministic generator: no dependency, same cases every run.
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..20_000 {
        let mut v = value.clone();
        for _ in 0..1 + next() % 3 {
            let i = (next() % v.len() as u64) as usize;
            v[i] = next() as u8;
        }
        same(&v);
    }
}
