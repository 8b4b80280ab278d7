//! Resolution-aware planning: which function calls read a downsampled tier
//! instead of the raw samples.
//!
//! A tier keeps five aggregates per series and window (`count`, `sum`,
//! `min`, `max`, and a reset-adjusted `counter` at the window's first and
//! last sample, as Thanos' `AggrChunk`). Only a call whose result those
//! aggregates determine can read one, and only when its range spans at
//! least five windows (so a window-edge effect is at most a fifth of the
//! range), as Thanos' auto-downsampling does:
//!
//! | call | aggregate | evaluated as |
//! |---|---|---|
//! | `rate`, `increase` | `counter` | the same function |
//! | `min_over_time` / `max_over_time` | `min` / `max` | the same function |
//! | `sum_over_time` | `sum` | `sum_over_time` |
//! | `count_over_time` | `count` | `sum_over_time` |
//! | `avg_over_time` | `sum`, `count` | `sum_over_time(sum) / sum_over_time(count)` |
//!
//! Everything else (plain selectors, `irate`, `last_over_time`, quantiles,
//! subquery ranges, ...) reads raw data. The caller bounds the resolution
//! with [`MaxSourceResolution`] (Thanos' `max_source_resolution`).
//!
//! A tier lags the raw data (a window is published once it closes), so a
//! tiered call answers the evaluation times whose whole window is in the
//! tier ([`Tier::complete_until_ms`]) from the tier and later ones from raw
//! data; the raw fetch then only covers what those later times need.
//!
//! Why the answers agree: the downsampler publishes every aggregate at the
//! timestamp of the window's last raw sample, so a range selects a window's
//! aggregate exactly when it selects the window's last raw sample. When the
//! evaluation time and range are multiples of the resolution (windows are
//! `(k·res, (k+1)·res]`, left-open like PromQL ranges), the range covers
//! whole windows and min/max/count/sum are exact, `rate`/`increase` equal up
//! to Prometheus' extrapolation at the range edges. At other times the
//! tier answers for the range moved back to the last window boundary (the
//! window holding the evaluation time is counted only once it ends).

use std::collections::HashMap;
use std::sync::Arc;

use promql_parser::parser::{Expr, VectorSelector};
use sluice_model::TimeSeries;

use crate::eval::dur_ms;
use crate::eval::functions::unwrap_parens;
use crate::eval::selector::selector_key;
use crate::eval::subquery::DEFAULT_SUBQUERY_STEP_MS;
use crate::plan::{Fetch, matcher_sets};
use crate::source::{Aggregate, Tier};
use crate::{QueryError, SeriesSource};

/// A range must span this many windows of a tier to be read from it.
pub const MIN_WINDOWS_PER_RANGE: i64 = 5;

/// The coarsest resolution a query may read: Thanos' `max_source_resolution`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MaxSourceResolution {
    /// Tiers up to this resolution (`0s`, the default: raw data only).
    #[default]
    Raw,
    /// Tiers up to this resolution, in ms.
    UpTo(i64),
    /// A fifth of the step of a range query (so a step covers at least
    /// five windows), as Thanos' `auto`; instant queries only apply the
    /// range rule ([`MIN_WINDOWS_PER_RANGE`]).
    Auto,
}

impl MaxSourceResolution {
    /// Parses the parameter: `auto`, or a duration (`0s`, `5m`, `1h`, or
    /// float seconds).
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s == "auto" {
            return Ok(MaxSourceResolution::Auto);
        }
        let ms = match s.parse::<f64>() {
            Ok(f) if f.is_finite() && f >= 0.0 => (f * 1000.0).round() as i64,
            Ok(_) => return Err(format!("{s:?}: must be a non-negative duration or \"auto\"")),
            Err(_) => sluice_model::parse_duration(s)
                .map(|d| d.as_millis() as i64)
                .map_err(|_| format!("{s:?}: must be a duration (0s, 5m, 1h) or \"auto\""))?,
        };
        Ok(if ms == 0 {
            MaxSourceResolution::Raw
        } else {
            MaxSourceResolution::UpTo(ms)
        })
    }

    /// The largest resolution allowed for a call evaluated every `step_ms`
    /// (0 for an instant query).
    fn limit(self, step_ms: i64) -> i64 {
        match self {
            MaxSourceResolution::Raw => 0,
            MaxSourceResolution::UpTo(ms) => ms,
            MaxSourceResolution::Auto if step_ms > 0 => step_ms / MIN_WINDOWS_PER_RANGE,
            MaxSourceResolution::Auto => i64::MAX,
        }
    }
}

impl std::fmt::Display for MaxSourceResolution {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MaxSourceResolution::Raw => f.write_str("0s"),
            MaxSourceResolution::UpTo(ms) => {
                let d = std::time::Duration::from_millis(*ms as u64);
                write!(f, "{}", sluice_model::PromDuration(d))
            }
            MaxSourceResolution::Auto => f.write_str("auto"),
        }
    }
}

/// A function a tier can answer, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TierFunc {
    /// `rate` (true) or `increase` (false) of the counter aggregate.
    Counter { is_rate: bool },
    /// `min_over_time` of the minima.
    Min,
    /// `max_over_time` of the maxima.
    Max,
    /// `sum_over_time` of the sums.
    Sum,
    /// `sum_over_time` of the counts.
    Count,
    /// Sum of the sums over sum of the counts.
    Avg,
}

impl TierFunc {
    fn of(name: &str) -> Option<Self> {
        Some(match name {
            "rate" => TierFunc::Counter { is_rate: true },
            "increase" => TierFunc::Counter { is_rate: false },
            "min_over_time" => TierFunc::Min,
            "max_over_time" => TierFunc::Max,
            "sum_over_time" => TierFunc::Sum,
            "count_over_time" => TierFunc::Count,
            "avg_over_time" => TierFunc::Avg,
            _ => return None,
        })
    }

    /// The aggregates to fetch, in the order evaluation expects them.
    pub(crate) fn aggregates(self) -> &'static [Aggregate] {
        match self {
            TierFunc::Counter { .. } => &[Aggregate::Counter],
            TierFunc::Min => &[Aggregate::Min],
            TierFunc::Max => &[Aggregate::Max],
            TierFunc::Sum => &[Aggregate::Sum],
            TierFunc::Count => &[Aggregate::Count],
            TierFunc::Avg => &[Aggregate::Sum, Aggregate::Count],
        }
    }
}

/// A call that reads a tier, with the tier's data.
#[derive(Debug)]
pub(crate) struct TieredCall {
    pub(crate) func: TierFunc,
    pub(crate) tier: Tier,
    /// One entry per [`TierFunc::aggregates`].
    pub(crate) data: Vec<Arc<Vec<TimeSeries>>>,
}

/// Tiered calls keyed by call node (see [`call_key`]).
pub(crate) type TieredCalls = HashMap<usize, TieredCall>;

/// The key of a call node (its address, as selectors are keyed).
pub(crate) fn call_key(c: &promql_parser::parser::Call) -> usize {
    c as *const promql_parser::parser::Call as usize
}

/// A call the planner chose a tier for, before its data is fetched.
struct Choice<'e> {
    call: usize,
    func: TierFunc,
    selector: &'e VectorSelector,
    range_ms: i64,
    tier: Tier,
    start_ms: i64,
    end_ms: i64,
}

/// What a query read: the raw table and/or tiers (by resolution).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reads {
    /// Raw samples were read.
    pub raw: bool,
    /// Resolutions of the tiers read, ascending.
    pub tiers_ms: Vec<i64>,
}

/// Chooses tiers for the calls of `expr`, narrows the raw `fetches` of
/// tiered calls to what their raw evaluation times need, and fetches the
/// tiers' data.
pub(crate) async fn plan_and_fetch<'e>(
    source: &dyn SeriesSource,
    expr: &'e Expr,
    fetches: &mut Vec<Fetch<'e>>,
    step_ms: i64,
    max: MaxSourceResolution,
) -> Result<(TieredCalls, Reads), QueryError> {
    let mut calls = TieredCalls::new();
    let mut reads = Reads::default();
    if max != MaxSourceResolution::Raw {
        let mut tiers = source.tiers().await?;
        // Coarsest first: the first that qualifies is read.
        tiers.sort_by_key(|t| std::cmp::Reverse(t.resolution_ms));
        let mut choices = Vec::new();
        if !tiers.is_empty() {
            walk(expr, step_ms, max, &tiers, fetches, &mut choices);
        }
        for c in choices {
            let mut data = Vec::new();
            for &aggr in c.func.aggregates() {
                data.push(Arc::new(select_aggregate(source, &c, aggr).await?));
            }
            narrow_raw_fetch(fetches, &c);
            if !reads.tiers_ms.contains(&c.tier.resolution_ms) {
                reads.tiers_ms.push(c.tier.resolution_ms);
            }
            calls.insert(
                c.call,
                TieredCall {
                    func: c.func,
                    tier: c.tier,
                    data,
                },
            );
        }
        reads.tiers_ms.sort_unstable();
    }
    reads.raw = !fetches.is_empty();
    Ok((calls, reads))
}

/// Finds the calls a tier can answer; `step_ms` is the step of the
/// enclosing evaluation (the query's, or a subquery's).
fn walk<'e>(
    e: &'e Expr,
    step_ms: i64,
    max: MaxSourceResolution,
    tiers: &[Tier],
    fetches: &[Fetch<'e>],
    out: &mut Vec<Choice<'e>>,
) {
    match e {
        Expr::Call(c) => {
            if let (Some(func), Some(Expr::MatrixSelector(ms))) = (
                TierFunc::of(c.func.name),
                c.args.args.first().map(|a| unwrap_parens(a)),
            ) && let Some(f) = fetches
                .iter()
                .find(|f| selector_key(f.selector) == selector_key(&ms.vs))
            {
                let range = dur_ms(&ms.range);
                // The earliest window end: a tier is worth reading only if
                // it is complete up to at least there.
                let first_end = f.start_ms + range;
                let limit = max.limit(step_ms);
                if let Some(tier) = tiers.iter().find(|t| {
                    t.resolution_ms > 0
                        && t.resolution_ms <= limit
                        && range >= MIN_WINDOWS_PER_RANGE * t.resolution_ms
                        && t.complete_until_ms >= first_end
                }) {
                    out.push(Choice {
                        call: call_key(c),
                        func,
                        selector: &ms.vs,
                        range_ms: range,
                        tier: *tier,
                        start_ms: f.start_ms,
                        end_ms: f.end_ms.min(tier.complete_until_ms),
                    });
                }
                // The matrix argument is handled; other arguments (none of
                // these functions has any) need no walk.
                return;
            }
            for a in &c.args.args {
                walk(a, step_ms, max, tiers, fetches, out);
            }
        }
        Expr::Subquery(sq) => {
            let step = sq
                .step
                .as_ref()
                .map(dur_ms)
                .filter(|s| *s > 0)
                .unwrap_or(DEFAULT_SUBQUERY_STEP_MS);
            walk(&sq.expr, step, max, tiers, fetches, out);
        }
        Expr::Aggregate(a) => {
            if let Some(p) = &a.param {
                walk(p, step_ms, max, tiers, fetches, out);
            }
            walk(&a.expr, step_ms, max, tiers, fetches, out);
        }
        Expr::Unary(u) => walk(&u.expr, step_ms, max, tiers, fetches, out),
        Expr::Binary(b) => {
            walk(&b.lhs, step_ms, max, tiers, fetches, out);
            walk(&b.rhs, step_ms, max, tiers, fetches, out);
        }
        Expr::Paren(p) => walk(&p.expr, step_ms, max, tiers, fetches, out),
        Expr::VectorSelector(_)
        | Expr::MatrixSelector(_)
        | Expr::NumberLiteral(_)
        | Expr::StringLiteral(_)
        | Expr::Extension(_) => {}
    }
}

/// The raw data a tiered call still needs: windows ending after the tier's
/// complete part, i.e. samples after `complete_until - range`.
fn narrow_raw_fetch(fetches: &mut Vec<Fetch<'_>>, c: &Choice<'_>) {
    let key = selector_key(c.selector);
    fetches.retain_mut(|f| {
        if selector_key(f.selector) != key {
            return true;
        }
        if f.end_ms <= c.tier.complete_until_ms {
            // Every evaluation time is answered by the tier.
            return false;
        }
        f.start_ms = f.start_ms.max(c.tier.complete_until_ms - c.range_ms);
        true
    });
}

/// One aggregate of a chosen call's selector from its tier, with
/// several matcher sets (`{a="x" or b="y"}`) unioned.
async fn select_aggregate(
    source: &dyn SeriesSource,
    c: &Choice<'_>,
    aggr: Aggregate,
) -> Result<Vec<TimeSeries>, QueryError> {
    let mut all = Vec::new();
    for ms in matcher_sets(c.selector)? {
        all.extend(
            source
                .select_aggregate(c.tier.resolution_ms, aggr, &ms, c.start_ms, c.end_ms)
                .await?,
        );
    }
    all.sort_by(|a, b| a.labels.cmp(&b.labels));
    all.dedup_by(|a, b| a.labels == b.labels);
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_source_resolution_parses_like_thanos() {
        let p = |s| MaxSourceResolution::parse(s);
        assert_eq!(p("auto"), Ok(MaxSourceResolution::Auto));
        assert_eq!(p("0s"), Ok(MaxSourceResolution::Raw));
        assert_eq!(p("0"), Ok(MaxSourceResolution::Raw));
        assert_eq!(p("5m"), Ok(MaxSourceResolution::UpTo(300_000)));
        assert_eq!(p("3600"), Ok(MaxSourceResolution::UpTo(3_600_000)));
        assert!(p("-1").is_err());
        assert!(p("soon").is_err());
        assert_eq!(MaxSourceResolution::UpTo(3_600_000).to_string(), "1h");
        // `auto`: a fifth of the step; no step limit for instant queries.
        assert_eq!(MaxSourceResolution::Auto.limit(3_600_000), 720_000);
        assert_eq!(MaxSourceResolution::Auto.limit(0), i64::MAX);
        assert_eq!(MaxSourceResolution::Raw.limit(3_600_000), 0);
    }
}
