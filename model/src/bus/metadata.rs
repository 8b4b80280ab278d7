//! The `<prefix>.metadata` record codec: metric metadata (TYPE, HELP, UNIT)
//! on a compacted topic.
//!
//! One record per distinct (metric family name, type, help, unit). The key
//! ([`key`]) is derived from those four, so a compacted topic keeps exactly
//! one record per distinct entry however often and by however many
//! publishers it is written; the value is a remote-write 1.0
//! `prometheus.MetricMetadata` protobuf ([`PbMetricMetadata`]), so the bus
//! stays "Prometheus remote-write protobuf" throughout. The record's Kafka
//! timestamp says when a publisher last saw the entry: publishers write an
//! entry again every [`REFRESH_MS`] while they see it, and readers forget
//! entries not written for [`FORGET_AFTER_MS`] (the exporter changed its
//! HELP text, or every target exposing it went away), as Prometheus forgets
//! the metadata of targets that are gone. `docs/bus-format.md` is the
//! user-facing description.

use prost::Message;

use super::{DecodeError, PbMetricMetadata};

/// The value format of metadata records (header [`super::FORMAT_HEADER`]).
pub const METADATA_FORMAT_V1: &str = "prometheus.MetricMetadata/v1";

/// How often a publisher writes an entry again while it keeps seeing it.
pub const REFRESH_MS: i64 = 10 * 60 * 1000;

/// How long a reader keeps an entry that was not written again: several
/// refreshes, so a slow or briefly stopped publisher does not make
/// metadata flicker.
pub const FORGET_AFTER_MS: i64 = 6 * REFRESH_MS;

/// Type names as Prometheus prints them, indexed by the `MetricType` enum of
/// `prompb/types.proto` (0 unknown ... 7 stateset).
const TYPE_NAMES: [&str; 8] = [
    "unknown",
    "counter",
    "gauge",
    "histogram",
    "gaugehistogram",
    "summary",
    "info",
    "stateset",
];

/// The name of a `MetricMetadata.type` value, `None` outside the enum.
pub fn type_name(t: i32) -> Option<&'static str> {
    usize::try_from(t).ok().and_then(|i| TYPE_NAMES.get(i).copied())
}

/// The `MetricMetadata.type` value of a type name (`counter` → 1).
pub fn type_number(name: &str) -> Option<i32> {
    TYPE_NAMES.iter().position(|n| *n == name).map(|i| i as i32)
}

/// The record key: `<family>/<16 hex digits>`, the digits being xxh3 of
/// `type 0xFF help 0xFF unit`. Readable (the family comes first), and equal
/// for equal entries whoever writes them.
pub fn key(m: &PbMetricMetadata) -> String {
    let mut buf = Vec::with_capacity(m.help.len() + m.unit.len() + 8);
    buf.extend_from_slice(&m.r#type.to_le_bytes());
    buf.push(0xFF);
    buf.extend_from_slice(m.help.as_bytes());
    buf.push(0xFF);
    buf.extend_from_slice(m.unit.as_bytes());
    format!(
        "{}/{:016x}",
        m.metric_family_name,
        xxhash_rust::xxh3::xxh3_64(&buf)
    )
}

/// A record value.
pub fn encode(m: &PbMetricMetadata) -> Vec<u8> {
    m.encode_to_vec()
}

/// Checks the format header (absent means v1) and decodes and validates a
/// record value: a family name and a type within the enum.
pub fn decode(format_header: Option<&[u8]>, value: &[u8]) -> Result<PbMetricMetadata, DecodeError> {
    if let Some(h) = format_header.filter(|h| *h != METADATA_FORMAT_V1.as_bytes()) {
        return Err(DecodeError::UnknownMetadataFormat(
            String::from_utf8_lossy(h).into_owned(),
        ));
    }
    let m = PbMetricMetadata::decode(value)?;
    validate(&m).map_err(DecodeError::InvalidMetadata)?;
    Ok(m)
}

/// What a metadata entry must be, on the bus and from remote_write: a
/// valid metric name as family and a known type.
pub fn validate(m: &PbMetricMetadata) -> Result<(), String> {
    if !is_metric_name(&m.metric_family_name) {
        return Err(format!("invalid metric family name {:?}", m.metric_family_name));
    }
    if type_name(m.r#type).is_none() {
        return Err(format!(
            "unknown metric type {} for {}",
            m.r#type, m.metric_family_name
        ));
    }
    Ok(())
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*`.
fn is_metric_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_' || b == b':')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn md(name: &str, t: i32, help: &str, unit: &str) -> PbMetricMetadata {
        PbMetricMetadata {
            r#type: t,
            metric_family_name: name.into(),
            help: help.into(),
            unit: unit.into(),
        }
    }

    #[test]
    fn type_names_follow_the_prompb_enum() {
        assert_eq!(type_name(0), Some("unknown"));
        assert_eq!(type_name(1), Some("counter"));
        assert_eq!(type_name(4), Some("gaugehistogram"));
        assert_eq!(type_name(7), Some("stateset"));
        assert_eq!(type_name(8), None);
        assert_eq!(type_name(-1), None);
        for (i, n) in TYPE_NAMES.iter().enumerate() {
            assert_eq!(type_number(n), Some(i as i32));
        }
        assert_eq!(type_number("untyped"), None);
    }

    #[test]
    fn keys_are_equal_exactly_for_equal_entries() {
        let a = md("http_requests", 1, "Requests.", "");
        assert_eq!(key(&a), key(&a.clone()));
        assert!(key(&a).starts_with("http_requests/"));
        assert_eq!(key(&a).len(), "http_requests/".len() + 16);
        for other in [
            md("http_requests", 2, "Requests.", ""),
            md("http_requests", 1, "Requests", ""),
            md("http_requests", 1, "Requests.", "seconds"),
            md("http_request", 1, "Requests.", ""),
            // The separator keeps help and unit apart.
            md("http_requests", 1, "Requests.\u{FF}", ""),
        ] {
            assert_ne!(key(&a), key(&other), "{other:?}");
        }
    }

    #[test]
    fn key_bytes_are_the_documented_ones() {
        // docs/bus-format.md: xxh3_64(type as i32 LE, 0xFF, help, 0xFF, unit).
        let framed = [1, 0, 0, 0, 0xFF, b'h', 0xFF, b'u'];
        assert_eq!(
            key(&md("a", 1, "h", "u")),
            format!("a/{:016x}", xxhash_rust::xxh3::xxh3_64(&framed))
        );
    }

    #[test]
    fn round_trip_and_rejections() {
        let a = md("foo_seconds", 1, "A foo.", "seconds");
        assert_eq!(
            decode(Some(METADATA_FORMAT_V1.as_bytes()), &encode(&a)).unwrap(),
            a
        );
        assert_eq!(decode(None, &encode(&a)).unwrap(), a);
        assert!(matches!(
            decode(Some(b"prometheus.WriteRequest/v1"), &encode(&a)),
            Err(DecodeError::UnknownMetadataFormat(_))
        ));
        assert!(matches!(
            decode(None, &encode(&md("foo", 9, "", ""))),
            Err(DecodeError::InvalidMetadata(m)) if m == "unknown metric type 9 for foo"
        ));
        assert!(matches!(
            decode(None, &encode(&md("", 1, "", ""))),
            Err(DecodeError::InvalidMetadata(_))
        ));
        assert!(matches!(
            decode(None, &encode(&md("1x", 1, "", ""))),
            Err(DecodeError::InvalidMetadata(_))
        ));
        assert!(matches!(
            decode(None, &[0xff, 0xff]),
            Err(DecodeError::Protobuf(_))
        ));
    }
}
