//! Query planning: find every selector in the tree and the time span its
//! data is needed for, then fetch each selector's data once.
//!
//! The span of a selector follows from the evaluation times that can reach
//! it: the query's `[start, end]`, shifted by `offset`, pinned by `@`, and
//! widened by enclosing subqueries' ranges; the selector itself then looks
//! back by its range (matrix) or the lookback delta (instant).

use std::collections::HashMap;
use std::sync::Arc;

use promql_parser::label::MatchOp as PMatchOp;
use promql_parser::parser::{AtModifier, Expr, VectorSelector};
use sluice_model::{METRIC_NAME, TimeSeries};

use crate::eval::selector::selector_key;
use crate::eval::util::system_time_ms;
use crate::eval::{dur_ms, offset_ms};
use crate::narrowed_reads::{self, Narrowing, ReadShape};
use crate::{MatchOp, Matcher, QueryError, SeriesSource, SourceError};

/// One selector to fetch: its node and the inclusive span of sample times.
pub(crate) struct Fetch<'e> {
    pub(crate) selector: &'e VectorSelector,
    pub(crate) start_ms: i64,
    pub(crate) end_ms: i64,
}

struct Ctx {
    query_start: i64,
    query_end: i64,
    lookback: i64,
}

impl Ctx {
    fn at(&self, at: &Option<AtModifier>) -> Option<i64> {
        match at {
            None => None,
            Some(AtModifier::Start) => Some(self.query_start),
            Some(AtModifier::End) => Some(self.query_end),
            Some(AtModifier::At(t)) => Some(system_time_ms(t)),
        }
    }
}

/// Every selector of `expr` with the span its data must cover.
pub(crate) fn plan(expr: &Expr, start: i64, end: i64, lookback: i64) -> Vec<Fetch<'_>> {
    let ctx = Ctx {
        query_start: start,
        query_end: end,
        lookback,
    };
    let mut out = Vec::new();
    walk(expr, start, end, &ctx, &mut out);
    out
}

fn walk<'e>(e: &'e Expr, lo: i64, hi: i64, ctx: &Ctx, out: &mut Vec<Fetch<'e>>) {
    match e {
        Expr::VectorSelector(vs) => push(vs, lo, hi, ctx.lookback, ctx, out),
        Expr::MatrixSelector(ms) => push(&ms.vs, lo, hi, dur_ms(&ms.range), ctx, out),
        Expr::Subquery(sq) => {
            let (l, h) = ctx.at(&sq.at).map_or((lo, hi), |a| (a, a));
            let off = offset_ms(&sq.offset);
            walk(&sq.expr, l - off - dur_ms(&sq.range), h - off, ctx, out);
        }
        Expr::Aggregate(a) => {
            if let Some(p) = &a.param {
                walk(p, lo, hi, ctx, out);
            }
            walk(&a.expr, lo, hi, ctx, out);
        }
        Expr::Unary(u) => walk(&u.expr, lo, hi, ctx, out),
        Expr::Binary(b) => {
            walk(&b.lhs, lo, hi, ctx, out);
            walk(&b.rhs, lo, hi, ctx, out);
        }
        Expr::Paren(p) => walk(&p.expr, lo, hi, ctx, out),
        Expr::Call(c) => {
            for a in &c.args.args {
                walk(a, lo, hi, ctx, out);
            }
        }
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
    }
}

fn push<'e>(vs: &'e VectorSelector, lo: i64, hi: i64, back: i64, ctx: &Ctx, out: &mut Vec<Fetch<'e>>) {
    let (l, h) = ctx.at(&vs.at).map_or((lo, hi), |a| (a, a));
    let off = offset_ms(&vs.offset);
    out.push(Fetch {
        selector: vs,
        start_ms: l - off - back,
        end_ms: h - off,
    });
}

/// The matcher sets of a selector (several with `or` inside braces), the
/// metric name turned into a `__name__` matcher.
pub(crate) fn matcher_sets(vs: &VectorSelector) -> Result<Vec<Vec<Matcher>>, QueryError> {
    let convert = |ms: &[promql_parser::label::Matcher]| -> Result<Vec<Matcher>, QueryError> {
        let mut out = Vec::with_capacity(ms.len() + 1);
        if let Some(name) = &vs.name
            && !ms
                .iter()
                .any(|m| m.name == METRIC_NAME && matches!(m.op, PMatchOp::Equal) && &m.value == name)
        {
            out.push(Matcher::new(METRIC_NAME, MatchOp::Equal, name.clone()).map_err(bad_regex)?);
        }
        for m in ms {
            let op = match m.op {
                PMatchOp::Equal => MatchOp::Equal,
                PMatchOp::NotEqual => MatchOp::NotEqual,
                PMatchOp::Re(_) => MatchOp::Regex,
                PMatchOp::NotRe(_) => MatchOp::NotRegex,
            };
            let matcher = Matcher::new(m.name.clone(), op, m.value.clone()).or_else(|e| match &m.op {
                // Go's RE2 accepts a literal `{` that Rust's regex rejects;
                // the parser already escaped those in its own copy.
                PMatchOp::Re(r) | PMatchOp::NotRe(r) => {
                    let src = r.as_str();
                    let inner = src
                        .strip_prefix("^(?:")
                        .and_then(|x| x.strip_suffix(")$"))
                        .unwrap_or(src);
                    Matcher::new(m.name.clone(), op, inner.to_string())
                }
                _ => Err(e),
            });
            out.push(matcher.map_err(bad_regex)?);
        }
        Ok(out)
    };
    if vs.matchers.or_matchers.is_empty() {
        return Ok(vec![convert(&vs.matchers.matchers)?]);
    }
    vs.matchers.or_matchers.iter().map(|g| convert(g)).collect()
}

fn bad_regex(e: regex::Error) -> QueryError {
    QueryError::BadData(format!("invalid regular expression: {e}"))
}

/// One read the engine makes of its [`SeriesSource`]: every series matching
/// one matcher set, with samples in `[start_ms, end_ms]`. A caller that runs
/// the reads itself (the DataFusion plan of the query layer) gets them from
/// [`crate::Engine::select_requests`] and answers them with
/// [`crate::PrefetchedSource`].
#[derive(Debug, Clone)]
pub struct SelectRequest {
    /// The matchers, the metric name as a `__name__` matcher.
    pub matchers: Vec<Matcher>,
    /// First sample time read (inclusive, ms).
    pub start_ms: i64,
    /// Last sample time read (inclusive, ms).
    pub end_ms: i64,
}

impl SelectRequest {
    /// Identifies the request: equal keys read equal data.
    pub fn key(&self) -> String {
        format!("{}@{}..{}", set_key(&self.matchers), self.start_ms, self.end_ms)
    }
}

fn set_key(ms: &[Matcher]) -> String {
    ms.iter()
        .map(|m| format!("{}{:?}{:?}", m.name, m.op, m.value))
        .collect::<Vec<_>>()
        .join(",")
}

/// Selector data keyed by selector node (see [`selector_key`]). Shared
/// through `Arc` because selectors with equal matchers share one fetch.
pub(crate) type Fetched = HashMap<usize, Arc<Vec<TimeSeries>>>;

/// A planned selector with its converted matcher sets.
type Planned<'f, 'e> = (&'f Fetch<'e>, Vec<Vec<Matcher>>);

/// Selectors whose data is read together: equal matchers and overlapping
/// spans.
struct ReadGroup<'e> {
    /// The matcher sets (several for `or` inside braces).
    sets: Vec<Vec<Matcher>>,
    start_ms: i64,
    end_ms: i64,
    selectors: Vec<&'e VectorSelector>,
}

impl ReadGroup<'_> {
    fn requests(&self) -> impl Iterator<Item = SelectRequest> + '_ {
        self.sets.iter().map(|ms| SelectRequest {
            matchers: ms.clone(),
            start_ms: self.start_ms,
            end_ms: self.end_ms,
        })
    }
}

/// Groups the planned selectors into reads. Selectors with the same
/// matchers (`rate(x[5m]) / rate(x[5m] offset 1h)`, or one selector used
/// twice) are read once over the union of their spans when those spans
/// overlap.
fn read_groups<'e>(fetches: &[Fetch<'e>]) -> Result<Vec<ReadGroup<'e>>, QueryError> {
    let mut groups: HashMap<String, Vec<Planned<'_, 'e>>> = HashMap::new();
    let mut order: Vec<String> = Vec::new();
    for f in fetches {
        let sets = matcher_sets(f.selector)?;
        let key = sets.iter().map(|ms| set_key(ms)).collect::<Vec<_>>().join(" or ");
        if !groups.contains_key(&key) {
            order.push(key.clone());
        }
        groups.entry(key).or_default().push((f, sets));
    }
    let mut out = Vec::new();
    for key in order {
        let mut members = groups.remove(&key).unwrap_or_default();
        members.sort_by_key(|(f, _)| f.start_ms);
        let mut i = 0;
        while i < members.len() {
            // Merge overlapping spans into one read.
            let (start, mut end) = (members[i].0.start_ms, members[i].0.end_ms);
            let mut j = i + 1;
            while j < members.len() && members[j].0.start_ms <= end {
                end = end.max(members[j].0.end_ms);
                j += 1;
            }
            out.push(ReadGroup {
                sets: members[i].1.clone(),
                start_ms: start,
                end_ms: end,
                selectors: members[i..j].iter().map(|(f, _)| f.selector).collect(),
            });
            i = j;
        }
    }
    Ok(out)
}

/// The shapes of `groups` for [`narrowed_reads::narrowings`].
fn narrowings(groups: &[ReadGroup<'_>]) -> Vec<Option<Narrowing>> {
    let shapes: Vec<ReadShape<'_>> = groups
        .iter()
        .map(|g| ReadShape {
            matchers: match g.sets.as_slice() {
                [one] => Some(one.as_slice()),
                _ => None,
            },
            start_ms: g.start_ms,
            end_ms: g.end_ms,
        })
        .collect();
    narrowed_reads::narrowings(&shapes)
}

/// The reads [`fetch`] would make for these planned selectors, in order
/// (a read answered by narrowing a broader one is not made).
pub(crate) fn requests(fetches: &[Fetch<'_>]) -> Result<Vec<SelectRequest>, QueryError> {
    let groups = read_groups(fetches)?;
    let narrowed = narrowings(&groups);
    Ok(groups
        .iter()
        .zip(&narrowed)
        .filter(|(_, n)| n.is_none())
        .flat_map(|(g, _)| g.requests())
        .collect())
}

/// Fetches the planned selectors from the source. Series come back sorted
/// by labels, as Prometheus' storage returns them.
/// More than `max_samples` raw samples in total is refused (a source
/// may refuse earlier, while reading).
pub(crate) async fn fetch(
    source: &dyn SeriesSource,
    fetches: &[Fetch<'_>],
    max_samples: usize,
) -> Result<Fetched, QueryError> {
    let groups = read_groups(fetches)?;
    let narrowed = narrowings(&groups);
    let mut reads: Vec<Option<Arc<Vec<TimeSeries>>>> = vec![None; groups.len()];
    let mut total = 0usize;
    for ((group, n), slot) in groups.iter().zip(&narrowed).zip(reads.iter_mut()) {
        if n.is_some() {
            continue;
        }
        let mut all: Vec<TimeSeries> = Vec::new();
        for r in group.requests() {
            let read = source.select(&r.matchers, r.start_ms, r.end_ms).await?;
            total += read.iter().map(|s| s.samples.len()).sum::<usize>();
            if total > max_samples {
                return Err(SourceError::sample_limit(max_samples).into());
            }
            all.extend(read);
        }
        all.sort_by(|a, b| a.labels.cmp(&b.labels));
        all.dedup_by(|a, b| a.labels == b.labels);
        *slot = Some(Arc::new(all));
    }
    for (i, n) in narrowed.iter().enumerate() {
        let Some(n) = n else { continue };
        // Filtering keeps the broader read's order: sorted by labels.
        let base = reads[n.from].as_ref().expect("a broader read is read itself");
        let subset: Vec<TimeSeries> = base
            .iter()
            .filter(|s| n.extra.iter().all(|m| m.matches_labels(&s.labels)))
            .cloned()
            .collect();
        reads[i] = Some(Arc::new(subset));
    }
    let mut data = HashMap::with_capacity(fetches.len());
    for (group, read) in groups.iter().zip(reads) {
        let read = read.expect("every read is made or narrowed");
        for vs in &group.selectors {
            data.insert(selector_key(vs), Arc::clone(&read));
        }
    }
    Ok(data)
}
