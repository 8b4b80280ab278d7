//! The bus record codec: how samples travel on Kafka.
//!
//! A record value is a Prometheus remote-write 1.0 `WriteRequest` protobuf,
//! uncompressed (Kafka compresses whole batches), holding the series of one
//! partition. The record carries the header [`FORMAT_HEADER`] =
//! [`FORMAT_V1`] so the format can evolve; consumers reject versions they do
//! not know. `docs/bus-format.md` is the user-facing description.

mod encoded;
pub mod indexed;
pub mod metadata;
pub mod view;

use prost::Message;

use crate::{Label, Labels, Sample, TimeSeries};

pub use encoded::{EncodedSeries, overwrite_sample_field, put_encoded_series, sample_field_len};

/// Kafka record header naming the value's format.
pub const FORMAT_HEADER: &str = "sluice-format";
/// The only format so far: remote-write 1.0 `prometheus.WriteRequest`.
pub const FORMAT_V1: &str = "prometheus.WriteRequest/v1";

/// Why a record could not be decoded. Always the producer's fault (a poison
/// record): consumers count and skip it.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The value is not a valid `WriteRequest` protobuf.
    #[error("record value is not a prometheus.WriteRequest protobuf: {0}")]
    Protobuf(#[from] prost::DecodeError),
    /// The format header names a version this build does not understand.
    #[error("unsupported record format {0:?} (expected {FORMAT_V1:?})")]
    UnknownFormat(String),
    /// Bytes that are not a well-formed protobuf message (the in-place
    /// reader's finding; [`DecodeError::Protobuf`] is prost's).
    #[error("record value is not a prometheus.WriteRequest protobuf: {0}")]
    Malformed(String),
    /// A series without a metric name or with unsorted/duplicate labels.
    #[error("invalid series in record: {0}")]
    InvalidSeries(String),
    /// A metadata record's format header names a version this build does
    /// not understand.
    #[error("unsupported metadata record format {0:?} (expected {expected:?})", expected = metadata::METADATA_FORMAT_V1)]
    UnknownMetadataFormat(String),
    /// A metadata record without a valid family name or with an unknown type.
    #[error("invalid metadata record: {0}")]
    InvalidMetadata(String),
}

/// `prometheus.WriteRequest` (remote-write 1.0), field numbers as upstream.
#[derive(Clone, PartialEq, Message)]
pub struct WriteRequest {
    /// Series in this request.
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<PbTimeSeries>,
    /// Metric metadata (type/help/unit); optional.
    #[prost(message, repeated, tag = "3")]
    pub metadata: Vec<PbMetricMetadata>,
}

/// `prometheus.TimeSeries`.
#[derive(Clone, PartialEq, Message)]
pub struct PbTimeSeries {
    /// Labels sorted by name.
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<PbLabel>,
    /// Samples ascending by timestamp.
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<PbSample>,
}

/// `prometheus.Label`.
#[derive(Clone, PartialEq, Message)]
pub struct PbLabel {
    /// Label name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Label value.
    #[prost(string, tag = "2")]
    pub value: String,
}

/// `prometheus.Sample`.
#[derive(Clone, PartialEq, Message)]
pub struct PbSample {
    /// Value. Always written (`required` in prost's terms; the wire format
    /// is the same): a proto3 field equal to its default 0.0 is left out,
    /// and `-0.0 == 0.0`, so `-0` would arrive as `+0` and `1 / x` flip
    /// from -Inf to +Inf (found by fuzzing, see docs/reliability.md).
    #[prost(double, required, tag = "1")]
    pub value: f64,
    /// Milliseconds since the epoch.
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

/// `prometheus.MetricMetadata`.
#[derive(Clone, PartialEq, Message)]
pub struct PbMetricMetadata {
    /// Metric type enum (0 unknown, 1 counter, 2 gauge, 3 histogram,
    /// 4 gaugehistogram, 5 summary, 6 info, 7 stateset).
    #[prost(int32, tag = "1")]
    pub r#type: i32,
    /// Metric family name.
    #[prost(string, tag = "2")]
    pub metric_family_name: String,
    /// HELP text.
    #[prost(string, tag = "4")]
    pub help: String,
    /// UNIT.
    #[prost(string, tag = "5")]
    pub unit: String,
}

/// Encodes series into a record value: the bytes prost would write for the
/// equivalent [`WriteRequest`], written straight from the borrowed series
/// (every producer calls this per record; building the protobuf structs
/// first would copy every label string once more).
pub fn encode(series: &[TimeSeries]) -> Vec<u8> {
    fn pairs(s: &TimeSeries) -> impl Iterator<Item = (&str, &str)> + Clone {
        s.labels.iter().map(|l| (l.name.as_str(), l.value.as_str()))
    }
    let size: usize = series
        .iter()
        .map(|s| field_len(series_len(pairs(s), &s.samples)))
        .sum();
    let mut out = Vec::with_capacity(size);
    for s in series {
        put_series(&mut out, pairs(s), &s.samples);
    }
    out
}

/// Appends one series to a record value being built: the bytes of one
/// `timeseries` field of a `WriteRequest`, from borrowed `(name, value)`
/// pairs (sorted by name, as a [`Labels`]; empty values are left out, as
/// prost leaves out empty strings). Stages that derive series from stored
/// labels (the downsampler's windows) write records with this without
/// building owned series first.
pub fn put_series<'a, I>(out: &mut Vec<u8>, labels: I, samples: &[Sample])
where
    I: Iterator<Item = (&'a str, &'a str)> + Clone,
{
    put_key(out, 1, 2);
    put_varint(out, series_len(labels.clone(), samples) as u64);
    for (name, value) in labels {
        put_key(out, 1, 2);
        put_varint(out, label_len(name, value) as u64);
        put_string(out, 1, name);
        put_string(out, 2, value);
    }
    put_samples(out, samples);
}

/// The `samples` fields of a `prometheus.TimeSeries`.
fn put_samples(out: &mut Vec<u8>, samples: &[Sample]) {
    for x in samples {
        put_sample(out, x);
    }
}

/// One `samples` field ([`sample_len`] plus its key and length byte).
fn put_sample(out: &mut impl ByteOut, x: &Sample) {
    put_key(out, 2, 2);
    put_varint(out, sample_len(x) as u64);
    put_key(out, 1, 1);
    out.put_slice(&x.value.to_le_bytes());
    if x.timestamp_ms != 0 {
        put_key(out, 2, 0);
        put_varint(out, x.timestamp_ms as u64);
    }
}

/// Where the encoders write: a value being appended to, or a field being
/// written over in place ([`InPlace`]).
trait ByteOut {
    fn put(&mut self, b: u8);
    fn put_slice(&mut self, s: &[u8]);
}

impl ByteOut for Vec<u8> {
    fn put(&mut self, b: u8) {
        self.push(b);
    }
    fn put_slice(&mut self, s: &[u8]) {
        self.extend_from_slice(s);
    }
}

/// A slice written from its start (panics past its end).
struct InPlace<'a> {
    buf: &'a mut [u8],
    at: usize,
}

impl ByteOut for InPlace<'_> {
    fn put(&mut self, b: u8) {
        self.buf[self.at] = b;
        self.at += 1;
    }
    fn put_slice(&mut self, s: &[u8]) {
        self.buf[self.at..self.at + s.len()].copy_from_slice(s);
        self.at += s.len();
    }
}

/// The bytes [`put_series`] appends for these labels and samples.
pub fn series_encoded_len<'a>(labels: impl Iterator<Item = (&'a str, &'a str)>, samples: &[Sample]) -> usize {
    field_len(series_len(labels, samples))
}

fn varint_len(v: u64) -> usize {
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

fn field_len(body: usize) -> usize {
    1 + varint_len(body as u64) + body
}

fn string_len(s: &str) -> usize {
    if s.is_empty() { 0 } else { field_len(s.len()) }
}

fn label_len(name: &str, value: &str) -> usize {
    string_len(name) + string_len(value)
}

fn sample_len(x: &Sample) -> usize {
    9 + if x.timestamp_ms != 0 {
        1 + varint_len(x.timestamp_ms as u64)
    } else {
        0
    }
}

fn series_len<'a>(labels: impl Iterator<Item = (&'a str, &'a str)>, samples: &[Sample]) -> usize {
    labels.map(|(n, v)| field_len(label_len(n, v))).sum::<usize>()
        + samples.iter().map(|x| field_len(sample_len(x))).sum::<usize>()
}

fn put_varint(out: &mut impl ByteOut, mut v: u64) {
    while v >= 0x80 {
        out.put((v as u8) | 0x80);
        v >>= 7;
    }
    out.put(v as u8);
}

fn put_key(out: &mut impl ByteOut, field: u8, wire: u8) {
    out.put((field << 3) | wire);
}

fn put_string(out: &mut Vec<u8>, field: u8, s: &str) {
    if !s.is_empty() {
        put_key(out, field, 2);
        put_varint(out, s.len() as u64);
        out.extend_from_slice(s.as_bytes());
    }
}

/// Converts one series into its protobuf form.
pub fn to_pb(s: &TimeSeries) -> PbTimeSeries {
    PbTimeSeries {
        labels: s
            .labels
            .iter()
            .map(|l| PbLabel {
                name: l.name.clone(),
                value: l.value.clone(),
            })
            .collect(),
        samples: s
            .samples
            .iter()
            .map(|s| PbSample {
                value: s.value,
                timestamp: s.timestamp_ms,
            })
            .collect(),
    }
}

/// Checks the format header (absent means v1, for producers that cannot set
/// headers) and decodes a record value.
pub fn decode(format_header: Option<&[u8]>, value: &[u8]) -> Result<Vec<TimeSeries>, DecodeError> {
    check_format(format_header)?;
    let req = WriteRequest::decode(value)?;
    req.timeseries.into_iter().map(from_pb).collect()
}

/// Checks the format header (absent means v1).
pub fn check_format(format_header: Option<&[u8]>) -> Result<(), DecodeError> {
    match format_header {
        Some(h) if h != FORMAT_V1.as_bytes() => Err(DecodeError::UnknownFormat(
            String::from_utf8_lossy(h).into_owned(),
        )),
        _ => Ok(()),
    }
}

/// Protobuf labels as model labels, in their order; empty values mean "no
/// such label" in remote-write and are dropped.
pub fn labels_from_pb(labels: Vec<PbLabel>) -> Vec<Label> {
    labels
        .into_iter()
        .filter(|l| !l.value.is_empty())
        .map(|l| Label {
            name: l.name,
            value: l.value,
        })
        .collect()
}

/// Validates and converts one protobuf series. Labels must be sorted with
/// unique names and a `__name__`, as remote-write requires.
pub fn from_pb(ts: PbTimeSeries) -> Result<TimeSeries, DecodeError> {
    let labels = labels_from_pb(ts.labels);
    if !labels.windows(2).all(|w| w[0].name < w[1].name) {
        return Err(DecodeError::InvalidSeries(
            "labels not sorted by name or duplicated".into(),
        ));
    }
    let labels = Labels::from_sorted(labels);
    if labels.metric_name().is_none() {
        return Err(DecodeError::InvalidSeries("series without __name__".into()));
    }
    Ok(TimeSeries {
        labels,
        samples: ts
            .samples
            .into_iter()
            .map(|s| Sample::new(s.timestamp, s.value))
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stale_nan;

    #[test]
    fn round_trip_keeps_labels_values_and_stale_markers() {
        let series = vec![TimeSeries {
            labels: Labels::new([("__name__", "up"), ("job", "node")]),
            samples: vec![Sample::new(1000, 1.0), Sample::new(2000, stale_nan())],
        }];
        let bytes = encode(&series);
        let back = decode(Some(FORMAT_V1.as_bytes()), &bytes).unwrap();
        assert_eq!(back[0].labels, series[0].labels);
        assert_eq!(back[0].samples[0], series[0].samples[0]);
        assert!(crate::is_stale_nan(back[0].samples[1].value));
    }

    #[test]
    fn direct_encoding_is_byte_for_byte_what_prost_writes() {
        let cases = vec![
            vec![],
            vec![TimeSeries {
                labels: Labels::new([("__name__", "up"), ("job", "node")]),
                samples: vec![
                    Sample::new(0, 1.0),
                    Sample::new(-1, 2.5),
                    Sample::new(i64::MAX, f64::NAN),
                ],
            }],
            vec![
                TimeSeries {
                    labels: Labels::new([("__name__", "x".repeat(300)), ("v", "é".repeat(100))]),
                    samples: (0..200)
                        .map(|i| Sample::new(1_700_000_000_000 + i * 15_000, i as f64))
                        .collect(),
                },
                TimeSeries {
                    labels: Labels::new([("__name__", "no_samples")]),
                    samples: vec![],
                },
            ],
        ];
        for series in cases {
            let prost_bytes = WriteRequest {
                timeseries: series.iter().map(to_pb).collect(),
                metadata: Vec::new(),
            }
            .encode_to_vec();
            let direct = encode(&series);
            // Not assert_eq!: a mismatch would print kilobytes of bytes.
            assert!(
                direct == prost_bytes,
                "direct encoding differs from prost's: {} vs {} bytes, first difference at {:?}",
                direct.len(),
                prost_bytes.len(),
                direct.iter().zip(&prost_bytes).position(|(a, b)| a != b)
            );
        }
    }

    #[test]
    fn negative_zero_keeps_its_sign() {
        // The fuzzer's input: one series `up{...}` with the values -0 and +Inf.
        let series = vec![TimeSeries {
            labels: Labels::new([("__name__", "up")]),
            samples: vec![Sample::new(-5, -0.0), Sample::new(0, f64::INFINITY)],
        }];
        let back = decode(None, &encode(&series)).unwrap();
        assert!(
            back[0].samples[0].value.is_sign_negative(),
            "{:?}",
            back[0].samples
        );
        // A sender that leaves a +0 value out (proto3 senders do) still
        // decodes: `{__name__="up"}` with the sample `{timestamp: 7}`.
        let implicit_zero = [
            0x0a, 0x14, 0x0a, 0x0e, 0x0a, 0x08, b'_', b'_', b'n', b'a', b'm', b'e', b'_', b'_', 0x12, 0x02,
            b'u', b'p', 0x12, 0x02, 0x10, 0x07,
        ];
        let back = decode(None, &implicit_zero).unwrap();
        assert_eq!(back[0].samples, vec![Sample::new(7, 0.0)]);
    }

    #[test]
    fn garbage_and_unknown_versions_are_errors() {
        assert!(matches!(
            decode(None, &[0xff, 0xff, 0xff]),
            Err(DecodeError::Protobuf(_))
        ));
        assert!(matches!(
            decode(Some(b"v9"), &[]),
            Err(DecodeError::UnknownFormat(_))
        ));
    }
}
