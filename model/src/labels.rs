//! Label sets: sorted by name, unique names, hashed like Prometheus does.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The reserved label that carries the metric name.
pub const METRIC_NAME: &str = "__name__";

/// The reserved label that names the aggregate of a downsampled series
/// (`count`, `sum`, `min`, `max`, `counter`): written by the downsampler,
/// read by the query layer's tier planning.
pub const AGGR_LABEL: &str = "__aggr__";

/// One `name="value"` pair.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Label {
    /// Label name, e.g. `job`.
    pub name: String,
    /// Label value; never empty in a stored series (empty means absent).
    pub value: String,
}

/// A label set kept sorted by name, so equality, hashing and encoding are
/// canonical without further work.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Labels(Vec<Label>);

impl Labels {
    /// Builds a label set from pairs in any order. Empty values are dropped
    /// (Prometheus treats `l=""` as "no label l"); on duplicate names the
    /// last pair wins.
    pub fn new<N: Into<String>, V: Into<String>>(pairs: impl IntoIterator<Item = (N, V)>) -> Self {
        let mut v: Vec<Label> = pairs
            .into_iter()
            .map(|(n, v)| Label {
                name: n.into(),
                value: v.into(),
            })
            .collect();
        // Stable sort keeps input order among equal names so "last wins" holds.
        v.sort_by(|a, b| a.name.cmp(&b.name));
        let mut out: Vec<Label> = Vec::with_capacity(v.len());
        for l in v {
            match out.last_mut() {
                Some(prev) if prev.name == l.name => *prev = l,
                _ => out.push(l),
            }
        }
        out.retain(|l| !l.value.is_empty());
        Labels(out)
    }

    /// Wraps labels already sorted by name with unique names and no empty
    /// values (as decoded from a trusted segment). Checked in debug builds.
    pub fn from_sorted(v: Vec<Label>) -> Self {
        debug_assert!(v.windows(2).all(|w| w[0].name < w[1].name));
        Labels(v)
    }

    /// The value of `name`, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .binary_search_by(|l| l.name.as_str().cmp(name))
            .ok()
            .map(|i| self.0[i].value.as_str())
    }

    /// The metric name (`__name__`), if present.
    pub fn metric_name(&self) -> Option<&str> {
        self.get(METRIC_NAME)
    }

    /// Sets (or, with an empty value, removes) one label.
    pub fn set(&mut self, name: &str, value: &str) {
        match self.0.binary_search_by(|l| l.name.as_str().cmp(name)) {
            Ok(i) if value.is_empty() => {
                self.0.remove(i);
            }
            Ok(i) => self.0[i].value = value.to_string(),
            Err(_) if value.is_empty() => {}
            Err(i) => self.0.insert(
                i,
                Label {
                    name: name.to_string(),
                    value: value.to_string(),
                },
            ),
        }
    }

    /// Removes one label if present.
    pub fn remove(&mut self, name: &str) {
        self.set(name, "");
    }

    /// A copy without the metric name.
    pub fn without_metric_name(&self) -> Labels {
        Labels(self.0.iter().filter(|l| l.name != METRIC_NAME).cloned().collect())
    }

    /// Iterates labels in name order.
    pub fn iter(&self) -> std::slice::Iter<'_, Label> {
        self.0.iter()
    }

    /// Number of labels.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there are no labels.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The labels as a slice.
    pub fn as_slice(&self) -> &[Label] {
        &self.0
    }

    /// Consumes the set into its sorted vector.
    pub fn into_vec(self) -> Vec<Label> {
        self.0
    }

    /// A stable 64-bit fingerprint (xxh3 over `name 0xff value 0xff ...`, the
    /// same framing Prometheus uses). Used for partitioning and series ids,
    /// so it must never change for a given label set.
    pub fn hash(&self) -> u64 {
        hash_pairs(self.0.iter().map(|l| (l.name.as_str(), l.value.as_str())))
    }

    /// Prometheus' own `labels.Hash()`: xxHash64 (seed 0) over the same
    /// framing. PromQL results that depend on the hash value itself
    /// (`limit_ratio` keeps a series by where its hash falls in
    /// `[0, 2^64)`) must use this one to pick the series Prometheus picks;
    /// [`Labels::hash`] stays xxh3 because stored series ids depend on it.
    pub fn prometheus_hash(&self) -> u64 {
        let mut buf = Vec::with_capacity(self.0.iter().map(|l| l.name.len() + l.value.len() + 2).sum());
        frame(self.0.iter().map(|l| (l.name.as_str(), l.value.as_str())), |b| {
            buf.extend_from_slice(b)
        });
        xxhash_rust::xxh64::xxh64(&buf, 0)
    }
}

/// [`Labels::hash`] of sorted `(name, value)` pairs that are not (yet) a
/// [`Labels`], e.g. borrowed from a record being decoded. Hot on every
/// path (partitioning, series lookup), so the framed bytes go to a stack
/// buffer when they fit (almost every label set) instead of the heap.
pub fn hash_pairs<'a, I>(pairs: I) -> u64
where
    I: Iterator<Item = (&'a str, &'a str)> + Clone,
{
    const STACK: usize = 1024;
    let len: usize = pairs.clone().map(|(n, v)| n.len() + v.len() + 2).sum();
    if len > STACK {
        let mut buf = Vec::with_capacity(len);
        frame(pairs, |b| buf.extend_from_slice(b));
        return xxhash_rust::xxh3::xxh3_64(&buf);
    }
    let mut stack = [0u8; STACK];
    let mut at = 0;
    frame(pairs, |b| {
        stack[at..at + b.len()].copy_from_slice(b);
        at += b.len();
    });
    xxhash_rust::xxh3::xxh3_64(&stack[..at])
}

fn frame<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>, mut out: impl FnMut(&[u8])) {
    for (name, value) in pairs {
        out(name.as_bytes());
        out(&[0xff]);
        out(value.as_bytes());
        out(&[0xff]);
    }
}

impl<'a> IntoIterator for &'a Labels {
    type Item = &'a Label;
    type IntoIter = std::slice::Iter<'a, Label>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// Prometheus' notation: `name{a="b", c="d"}`, values escaped as in PromQL.
impl fmt::Display for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(name) = self.metric_name() {
            f.write_str(name)?;
        }
        f.write_str("{")?;
        let mut first = true;
        for l in self.0.iter().filter(|l| l.name != METRIC_NAME) {
            if !first {
                f.write_str(", ")?;
            }
            first = false;
            write!(f, "{}=\"", l.name)?;
            for c in l.value.chars() {
                match c {
                    '\\' => f.write_str("\\\\")?,
                    '"' => f.write_str("\\\"")?,
                    '\n' => f.write_str("\\n")?,
                    c => write!(f, "{c}")?,
                }
            }
            f.write_str("\"")?;
        }
        f.write_str("}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_deduplicated_and_empty_values_dropped() {
        let l = Labels::new([("b", "2"), ("a", "1"), ("b", "3"), ("c", "")]);
        let names: Vec<_> = l.iter().map(|l| (l.name.as_str(), l.value.as_str())).collect();
        assert_eq!(names, vec![("a", "1"), ("b", "3")]);
    }

    #[test]
    fn hash_is_order_independent_and_value_sensitive() {
        let a = Labels::new([("x", "1"), ("y", "2")]);
        let b = Labels::new([("y", "2"), ("x", "1")]);
        let c = Labels::new([("x", "1"), ("y", "3")]);
        assert_eq!(a.hash(), b.hash());
        assert_ne!(a.hash(), c.hash());
        // Framing: ("ab","c") and ("a","bc") must differ.
        assert_ne!(
            Labels::new([("ab", "c")]).hash(),
            Labels::new([("a", "bc")]).hash()
        );
    }

    #[test]
    fn set_and_display() {
        let mut l = Labels::new([("__name__", "up"), ("job", "n\"x")]);
        l.set("instance", "h:1");
        assert_eq!(l.to_string(), r#"up{instance="h:1", job="n\"x"}"#);
        l.remove("instance");
        assert_eq!(l.get("instance"), None);
    }

    /// Values from the reference C xxHash (Debian's libxxhash0, `XXH64`
    /// with seed 0, called through Python's ctypes) over the framed bytes
    /// `name 0xff value 0xff ...`; the same library gives the xxh64
    /// reference vector `XXH64("") = 0xef46db3751d8e999`.
    #[test]
    fn prometheus_hash_is_xxh64_of_the_framed_pairs() {
        assert_eq!(Labels::default().prometheus_hash(), 0xef46db3751d8e999);
        let l = Labels::new([("job", "node"), ("__name__", "up")]);
        assert_eq!(l.prometheus_hash(), 0x01585e2399cc2df6);
        let l = Labels::new([
            ("__name__", "http_requests"),
            ("job", "api-server"),
            ("instance", "0"),
            ("group", "production"),
        ]);
        assert_eq!(l.prometheus_hash(), 0x4f9eaa4cfaa995d8);
    }

    #[test]
    fn hash_is_xxh3_of_the_framed_pairs_on_stack_and_heap() {
        let long = "x".repeat(5000);
        for value in ["node", long.as_str()] {
            let l = Labels::new([("__name__", "up"), ("job", value)]);
            let mut framed = Vec::new();
            for part in ["__name__", "up", "job", value] {
                framed.extend_from_slice(part.as_bytes());
                framed.push(0xff);
            }
            assert_eq!(l.hash(), xxhash_rust::xxh3::xxh3_64(&framed));
        }
    }
}
