//! OpenMetrics 1.0 per-family semantics: which sample names a type allows,
//! per-type label and value rules, grouping and timestamp order within a
//! family, and histogram consistency.
//!
//! Fed one sample at a time in input order, so checking costs no buffering:
//! only a hash per label group and one histogram "point" are kept.

use std::collections::HashSet;
use std::hash::{DefaultHasher, Hash, Hasher};

use super::lexer::RawLabel;
use super::{MetricType, Validation, number};

/// The part of a sample name after its family name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Suffix {
    None,
    Total,
    Created,
    Bucket,
    Count,
    Sum,
    GCount,
    GSum,
    Info,
}

impl Suffix {
    fn as_str(self) -> &'static str {
        match self {
            Suffix::None => "",
            Suffix::Total => "_total",
            Suffix::Created => "_created",
            Suffix::Bucket => "_bucket",
            Suffix::Count => "_count",
            Suffix::Sum => "_sum",
            Suffix::GCount => "_gcount",
            Suffix::GSum => "_gsum",
            Suffix::Info => "_info",
        }
    }

    /// Samples that are counters semantically: never NaN.
    fn is_counter_like(self) -> bool {
        matches!(
            self,
            Suffix::Total | Suffix::Sum | Suffix::Count | Suffix::Bucket | Suffix::GCount | Suffix::GSum
        )
    }
}

/// The sample names a family of `kind` may contain, as suffixes.
pub(super) fn allowed_suffixes(kind: MetricType) -> &'static [Suffix] {
    use Suffix as S;
    match kind {
        MetricType::Counter => &[S::Total, S::Created],
        MetricType::Gauge | MetricType::Unknown | MetricType::StateSet => &[S::None],
        MetricType::Histogram => &[S::Bucket, S::Count, S::Sum, S::Created],
        MetricType::GaugeHistogram => &[S::Bucket, S::GCount, S::GSum],
        MetricType::Summary => &[S::None, S::Count, S::Sum, S::Created],
        MetricType::Info => &[S::Info],
    }
}

/// Which allowed suffix turns `family` into `sample_name`, if any.
pub(super) fn suffix_of(kind: MetricType, family: &str, sample_name: &str) -> Option<Suffix> {
    let rest = sample_name.strip_prefix(family)?;
    allowed_suffixes(kind)
        .iter()
        .copied()
        .find(|s| s.as_str() == rest)
}

/// Every sample name a family claims. Families must not share names, which
/// also catches a family reappearing after another one (interleaving).
pub(super) fn claimed_names(kind: MetricType, family: &str) -> impl Iterator<Item = String> + '_ {
    let own = allowed_suffixes(kind);
    let bare = (!own.contains(&Suffix::None)).then_some(Suffix::None);
    own.iter()
        .copied()
        .chain(bare)
        .map(move |s| format!("{family}{}", s.as_str()))
}

/// One parsed sample as the checker sees it.
pub(super) struct SampleRef<'x> {
    pub(super) suffix: Suffix,
    /// Sorted, without `__name__` and empty values.
    pub(super) labels: &'x [RawLabel<'x>],
    pub(super) value: f64,
    pub(super) timestamp_ms: Option<i64>,
    pub(super) has_exemplar: bool,
}

/// Checks the samples of one family, then is reset for the next.
pub(super) struct FamilyChecker {
    kind: MetricType,
    strict: bool,
    /// Current label group and the timestamp of its last sample.
    group: Option<(u64, Option<i64>)>,
    seen_groups: HashSet<u64>,
    point: Option<HistogramPoint>,
}

/// One histogram observation: a label group at one timestamp.
struct HistogramPoint {
    group: u64,
    timestamp_ms: Option<i64>,
    last_le: Option<f64>,
    last_bucket: f64,
    count: Option<f64>,
    negative_buckets: bool,
    has_sum: bool,
    has_gsum: bool,
    negative_gsum: bool,
}

impl FamilyChecker {
    pub(super) fn new(validation: Validation) -> Self {
        FamilyChecker {
            kind: MetricType::Unknown,
            strict: validation == Validation::Strict,
            group: None,
            seen_groups: HashSet::new(),
            point: None,
        }
    }

    /// Starts (or retypes, before any sample) a family.
    pub(super) fn reset(&mut self, kind: MetricType) {
        self.kind = kind;
        self.group = None;
        self.seen_groups.clear();
        self.point = None;
    }

    pub(super) fn sample(&mut self, family: &str, s: &SampleRef<'_>) -> Result<(), String> {
        let group_without = self.check_labels_and_value(family, s)?;
        let key = group_key(s.labels, group_without);
        self.check_grouping(key, s.timestamp_ms)?;
        if matches!(self.kind, MetricType::Histogram | MetricType::GaugeHistogram) {
            self.track_histogram(key, s)?;
        }
        Ok(())
    }

    /// Finishes the family: checks its last histogram point.
    pub(super) fn finish(&mut self) -> Result<(), String> {
        match self.point.take() {
            Some(p) => p.check(self.strict),
            None => Ok(()),
        }
    }

    /// Per-sample rules. Returns the label that does not identify the
    /// group (`le`, `quantile`, the stateset label), or `Some("")` for info
    /// where all samples are one group.
    fn check_labels_and_value<'f>(&self, family: &'f str, s: &SampleRef<'_>) -> Result<GroupBy<'f>, String> {
        let v = s.value;
        let get = |name: &str| s.labels.iter().find(|l| l.name == name).map(|l| &*l.value);
        if s.suffix.is_counter_like() && v.is_nan() {
            return Err(format!("{} samples must not be NaN", s.suffix.as_str()));
        }
        // `_sum` of observations that can be negative is not a counter; see
        // `Validation::Scrape` for why only strict mode rejects it.
        let must_be_non_negative = match s.suffix {
            Suffix::Total | Suffix::Count | Suffix::Bucket | Suffix::GCount => true,
            Suffix::Sum => self.strict,
            _ => false,
        };
        if must_be_non_negative && v < 0.0 {
            return Err(format!("{} samples must not be negative", s.suffix.as_str()));
        }
        if s.has_exemplar {
            let allowed = match self.kind {
                MetricType::Histogram | MetricType::GaugeHistogram => s.suffix == Suffix::Bucket,
                MetricType::Counter => s.suffix == Suffix::Total,
                _ => false,
            };
            if !allowed {
                return Err(
                    "exemplars are only allowed on counter _total and histogram _bucket samples".to_string(),
                );
            }
        }
        match (self.kind, s.suffix) {
            (MetricType::StateSet, _) => {
                if get(family).is_none() {
                    return Err(format!("stateset samples need a label named {family:?}"));
                }
                if v != 0.0 && v != 1.0 {
                    return Err("stateset values must be 0 or 1".to_string());
                }
                Ok(GroupBy::Without(family))
            }
            (MetricType::Info, _) => {
                if v != 1.0 {
                    return Err("info values must be 1".to_string());
                }
                Ok(GroupBy::Nothing)
            }
            (MetricType::Summary, Suffix::None) => {
                let q = get("quantile").ok_or("summary quantile samples need a \"quantile\" label")?;
                match number::om_threshold(q) {
                    Some(q) if (0.0..=1.0).contains(&q) => {}
                    _ => return Err(format!("invalid quantile {q:?}: must be a number in [0, 1]")),
                }
                if self.strict && v < 0.0 {
                    return Err("quantile values must not be negative".to_string());
                }
                Ok(GroupBy::Without("quantile"))
            }
            (_, Suffix::Bucket) => {
                let le = get("le").ok_or("_bucket samples need an \"le\" label")?;
                match number::om_threshold(le) {
                    Some(b) if !b.is_nan() => Ok(GroupBy::Without("le")),
                    _ => Err(format!("invalid le {le:?}")),
                }
            }
            _ => Ok(GroupBy::All),
        }
    }

    /// Samples of one label group must be contiguous, all with or all
    /// without timestamps, and not going back in time (except info, whose
    /// samples are one group by definition).
    fn check_grouping(&mut self, key: u64, ts: Option<i64>) -> Result<(), String> {
        match &mut self.group {
            Some((current, last_ts)) if *current == key => {
                if last_ts.is_some() != ts.is_some() {
                    return Err("samples of one metric must all have timestamps or none".to_string());
                }
                if let (Some(prev), Some(now)) = (*last_ts, ts)
                    && now < prev
                    && self.kind != MetricType::Info
                {
                    return Err(format!("timestamp went backwards ({now} ms after {prev} ms)"));
                }
                *last_ts = ts;
            }
            _ => {
                // A 64-bit hash identifies the group; a collision could only
                // cause a spurious "not contiguous" error, with negligible odds.
                if !self.seen_groups.insert(key) {
                    return Err(
                        "samples of one metric must be contiguous, but this label set appeared earlier in the family"
                            .to_string(),
                    );
                }
                self.group = Some((key, ts));
            }
        }
        Ok(())
    }

    fn track_histogram(&mut self, key: u64, s: &SampleRef<'_>) -> Result<(), String> {
        let same = self
            .point
            .as_ref()
            .is_some_and(|p| p.group == key && p.timestamp_ms == s.timestamp_ms);
        if !same {
            if let Some(prev) = self.point.take() {
                prev.check(self.strict)?;
            }
            self.point = Some(HistogramPoint::new(key, s.timestamp_ms));
        }
        let p = self.point.as_mut().expect("point was just set");
        match s.suffix {
            Suffix::Bucket => {
                let le = s
                    .labels
                    .iter()
                    .find(|l| l.name == "le")
                    .and_then(|l| number::om_threshold(&l.value))
                    .expect("le was validated");
                if p.last_le.is_some_and(|prev| le <= prev) {
                    return Err("buckets must be in increasing le order".to_string());
                }
                if s.value < p.last_bucket {
                    return Err("bucket values must be cumulative (non-decreasing)".to_string());
                }
                p.negative_buckets |= le < 0.0;
                p.last_le = Some(le);
                p.last_bucket = s.value;
            }
            Suffix::Count | Suffix::GCount => p.count = Some(s.value),
            Suffix::Sum => p.has_sum = true,
            Suffix::GSum => {
                p.has_gsum = true;
                p.negative_gsum |= s.value < 0.0;
            }
            _ => {}
        }
        Ok(())
    }
}

impl HistogramPoint {
    fn new(group: u64, timestamp_ms: Option<i64>) -> Self {
        HistogramPoint {
            group,
            timestamp_ms,
            last_le: None,
            last_bucket: 0.0,
            count: None,
            negative_buckets: false,
            has_sum: false,
            has_gsum: false,
            negative_gsum: false,
        }
    }

    fn check(&self, strict: bool) -> Result<(), String> {
        if self.last_le != Some(f64::INFINITY) {
            return Err("histogram is missing its le=\"+Inf\" bucket".to_string());
        }
        if self.count.is_some_and(|c| c != self.last_bucket) {
            return Err("histogram count does not match its +Inf bucket".to_string());
        }
        if (self.has_sum || self.has_gsum) && self.count.is_none() {
            return Err("histogram has _sum/_gsum but no _count/_gcount".to_string());
        }
        if self.count.is_some() && !(self.has_sum || self.has_gsum) {
            return Err("histogram has _count/_gcount but no _sum/_gsum".to_string());
        }
        if strict && self.negative_buckets && self.has_sum {
            return Err("histograms with negative buckets must not have _sum".to_string());
        }
        if !self.negative_buckets && self.negative_gsum {
            return Err("negative _gsum needs negative buckets".to_string());
        }
        Ok(())
    }
}

/// Which labels identify a sample's group within its family.
enum GroupBy<'f> {
    All,
    Without(&'f str),
    Nothing,
}

fn group_key(labels: &[RawLabel<'_>], by: GroupBy<'_>) -> u64 {
    let skip = match by {
        GroupBy::Nothing => return 0,
        GroupBy::All => None,
        GroupBy::Without(name) => Some(name),
    };
    // Fixed keys: the hash only has to be consistent within one parse.
    let mut h = DefaultHasher::new();
    for l in labels.iter().filter(|l| Some(l.name) != skip) {
        l.name.hash(&mut h);
        l.value.hash(&mut h);
    }
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffixes_follow_the_type() {
        assert_eq!(
            suffix_of(MetricType::Counter, "a", "a_total"),
            Some(Suffix::Total)
        );
        assert_eq!(suffix_of(MetricType::Counter, "a", "a"), None);
        assert_eq!(suffix_of(MetricType::Histogram, "a", "a_gsum"), None);
        assert_eq!(suffix_of(MetricType::Info, "a", "a_info"), Some(Suffix::Info));
        let names: Vec<_> = claimed_names(MetricType::Counter, "a").collect();
        assert_eq!(names, ["a_total", "a_created", "a"]);
    }
}
