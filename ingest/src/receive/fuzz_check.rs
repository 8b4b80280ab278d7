//! The properties the remote_write fuzz target asserts (`fuzz/`), here so
//! the corpus replay test of the normal build (`tests/it/fuzz_corpus.rs`)
//! checks the same things. A failed property panics, which is what a fuzzer
//! reports as a crash.

use prost::Message;
use sluice_model::bus::{self, WriteRequest};
use sluice_model::fuzz_check::{assert_same_series, check_labels};

use super::ReceiveLimits;
use super::remote_write::{Decoded, RwError, decode, decode_request};
use crate::relabel::is_valid_label_name;

/// The decompressed-size limit the target decodes with: small enough that
/// the fuzzer's inputs reach it, large enough for real series.
pub const LIMIT: usize = 64 * 1024;

/// Fuzz input: a mode byte, then a request body. An even mode byte sends the
/// rest as it is (fuzzing snappy framing); an odd one snappy-compresses it
/// first, so mutations reach the protobuf and validation layers instead of
/// mostly breaking the compression.
pub fn remote_write_input(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode % 2 == 0 {
        remote_write_body(rest);
    } else {
        let body = snap::raw::Encoder::new()
            .compress_vec(rest)
            .expect("snappy compresses any input below 4 GiB");
        remote_write_body(&body);
    }
}

/// The receiver's default content limits, with the target's own size limit.
fn limits(max_body_bytes: usize) -> ReceiveLimits {
    ReceiveLimits {
        max_body_bytes,
        ..ReceiveLimits::default()
    }
}

/// A remote_write request body: decoding never panics; the decompressed
/// size limit holds exactly (a body announcing more than the limit is
/// refused before decompressing, and one byte less of limit refuses any
/// body that decoded); accepted series follow the RW 1.0 rules the bus
/// promises; and they are exactly what the bus decoder reads from the same
/// protobuf's series that have samples. Accepted metadata entries are what
/// the metadata topic's decoder reads back.
pub fn remote_write_body(body: &[u8]) {
    let announced = snap::raw::decompress_len(body).ok();
    let (series, metadata) = match decode_request(body, &limits(LIMIT)) {
        Ok(Decoded { series, metadata }) => (series, metadata),
        Err(RwError::TooLarge { size, limit }) => {
            assert_eq!(limit, LIMIT);
            assert!(size > LIMIT, "refused {size} bytes as over the limit of {LIMIT}");
            assert_eq!(announced, Some(size), "TooLarge must report the announced size");
            return;
        }
        Err(RwError::Corrupt(_) | RwError::InvalidSeries(_) | RwError::OverLimit(_)) => return,
        Err(e) => panic!("decoding can only fail as corrupt, invalid or too large: {e:?}"),
    };
    let size = announced.expect("a decoded body has a valid snappy length header");
    assert!(size <= LIMIT, "decoded {size} bytes, over the limit of {LIMIT}");
    if size > 0 {
        let tight = decode(body, &limits(size - 1));
        assert!(
            matches!(tight, Err(RwError::TooLarge { .. })),
            "a limit one byte under the decompressed size must refuse the body: {tight:?}"
        );
    }
    for s in &series {
        check_labels(&s.labels).unwrap_or_else(|e| panic!("accepted series {}: {e}", s.labels));
        assert!(
            s.labels.iter().all(|l| is_valid_label_name(&l.name)),
            "{}",
            s.labels
        );
        assert!(!s.samples.is_empty(), "series {} without samples", s.labels);
        assert!(
            s.samples
                .windows(2)
                .all(|w| w[0].timestamp_ms <= w[1].timestamp_ms),
            "samples of {} out of order",
            s.labels
        );
    }
    for m in &metadata {
        let value = bus::metadata::encode(m);
        let back = bus::metadata::decode(Some(bus::metadata::METADATA_FORMAT_V1.as_bytes()), &value)
            .unwrap_or_else(|e| panic!("the metadata decoder refuses an entry remote_write accepted: {e}"));
        assert_eq!(&back, m);
    }
    // The receiver drops series without samples before it validates (there
    // is nothing to store), so the bus decoder is given only the others.
    let raw = snap::raw::Decoder::new()
        .decompress_vec(body)
        .expect("a decoded body decompresses");
    let mut request = WriteRequest::decode(raw.as_slice()).expect("a decoded body is a WriteRequest");
    request.timeseries.retain(|s| !s.samples.is_empty());
    let on_bus = bus::decode(None, &request.encode_to_vec())
        .unwrap_or_else(|e| panic!("the bus decoder refuses series remote_write accepted: {e}"));
    assert_same_series(&series, &on_bus, "remote_write vs bus decoder");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_modes_reach_the_decoder() {
        // `{__name__="up"}` with one sample, as a WriteRequest protobuf.
        let pb = [
            0x0a, 0x1b, 0x0a, 0x0e, 0x0a, 0x08, b'_', b'_', b'n', b'a', b'm', b'e', b'_', b'_', 0x12, 0x02,
            b'u', b'p', 0x12, 0x09, 0x09, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f,
        ];
        let body = snap::raw::Encoder::new().compress_vec(&pb).unwrap();
        assert_eq!(decode(&body, &limits(LIMIT)).unwrap().len(), 1);
        remote_write_input(&[&[1u8][..], &pb].concat());
        remote_write_input(&[&[0u8][..], &body].concat());
    }

    #[test]
    fn series_without_samples_are_dropped_before_validation() {
        // Fuzzer input: mode 1, then a series whose only sample-less label
        // set has an invalid name ("\0\0\0\0\0\0\0_"). The receiver skips it
        // (nothing to store) where the bus decoder, which sees every series,
        // refuses it; the property once compared the two without that rule.
        let input = b"\x01\x0a\x31\x0a\x0e\x0a\x08\0\0\0\0\0\0\0_\x12\x02up\
            \x0a\x12\x0a\x08instance\x12\x06a:9100\x0a\x0b\x0a\x03job\x12\x04node";
        let body = snap::raw::Encoder::new().compress_vec(&input[1..]).unwrap();
        assert_eq!(decode(&body, &limits(LIMIT)).unwrap(), vec![]);
        remote_write_input(input);
    }

    #[test]
    fn oversized_bodies_take_the_too_large_branch() {
        let body = snap::raw::Encoder::new().compress_vec(&[0; LIMIT + 1]).unwrap();
        assert!(matches!(
            decode(&body, &limits(LIMIT)),
            Err(RwError::TooLarge { .. })
        ));
        remote_write_body(&body);
    }

    #[test]
    fn metadata_entries_reach_the_metadata_property() {
        let entry = bus::PbMetricMetadata {
            r#type: 5,
            metric_family_name: "rpc_seconds".into(),
            help: "RPC latency.".into(),
            unit: "seconds".into(),
        };
        let pb = WriteRequest {
            timeseries: vec![],
            metadata: vec![entry.clone()],
        }
        .encode_to_vec();
        let body = snap::raw::Encoder::new().compress_vec(&pb).unwrap();
        assert_eq!(decode_request(&body, &limits(LIMIT)).unwrap().metadata, [entry]);
        remote_write_input(&[&[1u8][..], &pb].concat());
    }
}
