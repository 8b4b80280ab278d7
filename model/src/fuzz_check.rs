//! The properties the bus record fuzz target asserts (`fuzz/`), here rather
//! than in the fuzz crate so the corpus replay test of the normal build
//! (`tests/it/fuzz_corpus.rs`) checks exactly the same things. A failed
//! property panics, which is what a fuzzer reports as a crash.

use crate::{Labels, METRIC_NAME, TimeSeries, bus};

/// A Kafka record value from an untrusted producer: decoding never panics,
/// an absent format header and the v1 header decode alike, what decodes is
/// well formed, and re-encoding it decodes to the same series (label sets,
/// timestamps and value bits, so staleness markers survive).
pub fn bus_record(value: &[u8]) {
    in_place_reader_agrees(value);
    let plain = bus::decode(None, value);
    let headed = bus::decode(Some(bus::FORMAT_V1.as_bytes()), value);
    let series = match (plain, headed) {
        (Ok(a), Ok(b)) => {
            assert_same_series(&a, &b, "header v1 vs no header");
            a
        }
        (Err(_), Err(_)) => return,
        (a, b) => panic!("the v1 header changed the outcome: {a:?} vs {b:?}"),
    };
    for s in &series {
        check_labels(&s.labels).unwrap_or_else(|e| panic!("decoded series {}: {e}", s.labels));
    }
    let again = bus::decode(None, &bus::encode(&series))
        .unwrap_or_else(|e| panic!("a re-encoded record does not decode: {e}"));
    assert_same_series(&series, &again, "decode(encode(decode(x))) vs decode(x)");
}

/// The in-place reader (`bus::view`, used by the downsampler) accepts
/// exactly what the owned decoder accepts and sees the same series.
fn in_place_reader_agrees(value: &[u8]) {
    let mut viewed = Vec::new();
    let read = bus::view::for_each_series(value, |v| {
        viewed.push(TimeSeries {
            labels: v.to_labels(),
            samples: v.samples.to_vec(),
        })
    });
    match (bus::decode(None, value), read) {
        (Ok(owned), Ok(())) => assert_same_series(&owned, &viewed, "owned decode vs in-place reader"),
        (Err(_), Err(_)) => {}
        (owned, read) => panic!("owned decode and in-place reader disagree: {owned:?} vs {read:?}"),
    }
}

/// What every label set Sluice hands on must satisfy: names sorted and
/// unique, no empty values (empty means absent), a non-empty `__name__`.
pub fn check_labels(labels: &Labels) -> Result<(), String> {
    let l = labels.as_slice();
    if let Some(w) = l.windows(2).find(|w| w[0].name >= w[1].name) {
        return Err(format!("labels {:?} and {:?} out of order", w[0].name, w[1].name));
    }
    if let Some(e) = l.iter().find(|l| l.value.is_empty()) {
        return Err(format!("label {:?} has an empty value", e.name));
    }
    match labels.metric_name() {
        Some(_) => Ok(()),
        None => Err(format!("no {METRIC_NAME}")),
    }
}

/// Panics unless both lists hold the same series: labels, timestamps and
/// the exact value bits (`f64`'s `==` would call NaN unequal to itself).
pub fn assert_same_series(a: &[TimeSeries], b: &[TimeSeries], what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: series count");
    for (x, y) in a.iter().zip(b) {
        assert_eq!(x.labels, y.labels, "{what}: labels");
        let bits = |s: &TimeSeries| -> Vec<(i64, u64)> {
            s.samples
                .iter()
                .map(|s| (s.timestamp_ms, s.value.to_bits()))
                .collect()
        };
        assert_eq!(bits(x), bits(y), "{what}: samples of {}", x.labels);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Label, Sample};

    #[test]
    fn label_checks_catch_each_violation() {
        assert!(check_labels(&Labels::new([("__name__", "up"), ("job", "a")])).is_ok());
        assert!(check_labels(&Labels::new([("job", "a")])).is_err());
        let empty = Labels::from_sorted(vec![
            Label {
                name: "__name__".into(),
                value: "up".into(),
            },
            Label {
                name: "job".into(),
                value: String::new(),
            },
        ]);
        assert!(check_labels(&empty).unwrap_err().contains("empty value"));
    }

    #[test]
    #[should_panic(expected = "samples of")]
    fn nan_payloads_are_compared_bitwise() {
        let series = |v: f64| TimeSeries {
            labels: Labels::new([("__name__", "up")]),
            samples: vec![Sample::new(1, v)],
        };
        assert_same_series(&[series(f64::NAN)], &[series(f64::NAN)], "same NaN");
        assert_same_series(&[series(f64::NAN)], &[series(crate::stale_nan())], "stale");
    }
}
