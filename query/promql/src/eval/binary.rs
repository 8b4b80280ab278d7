//! Binary operators: arithmetic, comparison (with and without `bool`), set
//! operators, and vector matching (`on`/`ignoring`, `group_left/right`).
//!
//! Matching signatures depend only on labels, so they are computed once
//! per series; the matching itself runs per step over the series that have
//! a value at that step, exactly as Prometheus' per-step `VectorBinop`.

use std::collections::HashMap;

use promql_parser::parser::token::{
    T_ADD, T_ATAN2, T_DIV, T_EQLC, T_GTE, T_GTR, T_LAND, T_LOR, T_LSS, T_LTE, T_LUNLESS, T_MOD, T_MUL, T_NEQ,
    T_POW, T_SUB, TokenId,
};
use promql_parser::parser::{BinModifier, BinaryExpr, LabelModifier, VectorMatchCardinality};
use sluice_model::Labels;

use super::util::{go_labels, project};
use super::{Evaluator, Grid, Series, Val, err_bad, err_exec};
use crate::QueryError;

fn is_comparison(op: TokenId) -> bool {
    matches!(op, T_EQLC | T_NEQ | T_GTR | T_LSS | T_GTE | T_LTE)
}

/// Arithmetic drops the metric name; comparisons keep the left side's.
fn drops_name(op: TokenId) -> bool {
    matches!(op, T_ADD | T_SUB | T_MUL | T_DIV | T_MOD | T_POW | T_ATAN2)
}

/// Prometheus' `vectorElemBinop` for floats: the value and whether the
/// element is kept (comparisons keep the left value when true).
pub(crate) fn elem_binop(op: TokenId, l: f64, r: f64) -> Result<(f64, bool), QueryError> {
    Ok(match op {
        T_ADD => (l + r, true),
        T_SUB => (l - r, true),
        T_MUL => (l * r, true),
        T_DIV => (l / r, true),
        T_POW => (l.powf(r), true),
        T_MOD => (l % r, true),
        T_ATAN2 => (l.atan2(r), true),
        T_EQLC => (l, l == r),
        T_NEQ => (l, l != r),
        T_GTR => (l, l > r),
        T_LSS => (l, l < r),
        T_GTE => (l, l >= r),
        T_LTE => (l, l <= r),
        _ => {
            return Err(err_exec(format!(
                "operator {op} not allowed for float operations"
            )));
        }
    })
}

pub(crate) fn eval_binary(ev: &mut Evaluator<'_>, b: &BinaryExpr, grid: Grid) -> Result<Val, QueryError> {
    let op = b.op.id();
    let return_bool = b.modifier.as_ref().is_some_and(|m| m.return_bool);
    let lhs = ev.eval(&b.lhs, grid)?;
    let rhs = ev.eval(&b.rhs, grid)?;
    match (lhs, rhs) {
        (Val::Scalar(l), Val::Scalar(r)) => {
            let mut out = Vec::with_capacity(l.len());
            for (a, c) in l.into_iter().zip(r) {
                let (v, keep) = elem_binop(op, a, c)?;
                out.push(if is_comparison(op) {
                    if keep { 1.0 } else { 0.0 }
                } else {
                    v
                });
            }
            Ok(Val::Scalar(out))
        }
        (Val::Vector(v), Val::Scalar(s)) => Ok(Val::Vector(vector_scalar(op, v, &s, false, return_bool)?)),
        (Val::Scalar(s), Val::Vector(v)) => Ok(Val::Vector(vector_scalar(op, v, &s, true, return_bool)?)),
        (Val::Vector(l), Val::Vector(r)) => {
            let default = BinModifier::default();
            let m = b.modifier.as_ref().unwrap_or(&default);
            match op {
                T_LAND | T_LUNLESS => Ok(Val::Vector(and_unless(op, l, &r, m, grid.len()))),
                T_LOR => Ok(Val::Vector(or(l, r, m, grid.len()))),
                _ => Ok(Val::Vector(vector_vector(op, l, r, m, return_bool, grid.len())?)),
            }
        }
        (l, r) => Err(err_bad(format!(
            "binary expression must contain only scalar and instant vector types, got {} and {}",
            l.type_name(),
            r.type_name()
        ))),
    }
}

fn vector_scalar(
    op: TokenId,
    mut v: Vec<Series>,
    s: &[f64],
    swap: bool,
    return_bool: bool,
) -> Result<Vec<Series>, QueryError> {
    for series in &mut v {
        for (i, slot) in series.vals.iter_mut().enumerate() {
            let Some(x) = *slot else { continue };
            let (l, r) = if swap { (s[i], x) } else { (x, s[i]) };
            let (mut val, mut keep) = elem_binop(op, l, r)?;
            // The vector's value is kept even when it is on the right.
            if is_comparison(op) && swap {
                val = r;
            }
            if return_bool {
                val = if keep { 1.0 } else { 0.0 };
                keep = true;
            }
            *slot = keep.then_some(val);
        }
        if drops_name(op) || return_bool {
            series.drop_name = true;
        }
    }
    v.retain(|s| s.vals.iter().any(Option::is_some));
    Ok(v)
}

/// Matching signature: `on(...)` keeps the listed labels, otherwise the
/// listed ones and the metric name are ignored.
fn signature(l: &Labels, m: &BinModifier) -> Labels {
    match &m.matching {
        Some(LabelModifier::Include(ls)) => project(l, &ls.labels, true),
        Some(LabelModifier::Exclude(ls)) => project(l, &ls.labels, false),
        None => project(l, &[], false),
    }
}

/// Interns the matching signatures of both sides: equal signatures get
/// equal small ids, so the per-step matching compares integers instead of
/// hashing label sets at every step. Returns the ids per series of `a` and
/// `b`, and the signature of each id (for error messages).
fn signature_ids(a: &[Series], b: &[Series], m: &BinModifier) -> (Vec<usize>, Vec<usize>, Vec<Labels>) {
    let mut ids: HashMap<Labels, usize> = HashMap::new();
    let mut sigs = Vec::new();
    let mut intern = |s: &Series| {
        let sig = signature(&s.labels, m);
        *ids.entry(sig.clone()).or_insert_with(|| {
            sigs.push(sig);
            sigs.len() - 1
        })
    };
    let ia: Vec<usize> = a.iter().map(&mut intern).collect();
    let ib: Vec<usize> = b.iter().map(&mut intern).collect();
    (ia, ib, sigs)
}

fn and_unless(op: TokenId, mut l: Vec<Series>, r: &[Series], m: &BinModifier, n: usize) -> Vec<Series> {
    let (lsig, rsig, sigs) = signature_ids(&l, r, m);
    // present[sig] == i + 1 when a right-hand series with that signature
    // has a value at step i (a step stamp avoids clearing per step).
    let mut present = vec![0usize; sigs.len()];
    for i in 0..n {
        for (s, &sig) in r.iter().zip(&rsig) {
            if s.vals[i].is_some() {
                present[sig] = i + 1;
            }
        }
        for (s, &sig) in l.iter_mut().zip(&lsig) {
            if s.vals[i].is_some() && (present[sig] == i + 1) != (op == T_LAND) {
                s.vals[i] = None;
            }
        }
    }
    l.retain(|s| s.vals.iter().any(Option::is_some));
    l
}

fn or(mut l: Vec<Series>, mut r: Vec<Series>, m: &BinModifier, n: usize) -> Vec<Series> {
    let (lsig, rsig, sigs) = signature_ids(&l, &r, m);
    let mut present = vec![0usize; sigs.len()];
    for i in 0..n {
        for (s, &sig) in l.iter().zip(&lsig) {
            if s.vals[i].is_some() {
                present[sig] = i + 1;
            }
        }
        for (s, &sig) in r.iter_mut().zip(&rsig) {
            if present[sig] == i + 1 {
                s.vals[i] = None;
            }
        }
    }
    r.retain(|s| s.vals.iter().any(Option::is_some));
    l.extend(r);
    l
}

/// Labels of a matched pair's result, as Prometheus' `resultMetric`.
fn result_labels(many: &Labels, one: &Labels, m: &BinModifier) -> Labels {
    let mut out = many.clone();
    if matches!(m.card, VectorMatchCardinality::OneToOne) {
        match &m.matching {
            Some(LabelModifier::Include(ls)) => out = project(many, &ls.labels, true),
            Some(LabelModifier::Exclude(ls)) => {
                for n in &ls.labels {
                    out.remove(n);
                }
            }
            None => {}
        }
    }
    if let Some(include) = m.card.labels() {
        for n in &include.labels {
            match one.get(n) {
                Some(v) => out.set(n, v),
                None => out.remove(n),
            }
        }
    }
    out
}

fn vector_vector(
    op: TokenId,
    l: Vec<Series>,
    r: Vec<Series>,
    m: &BinModifier,
    return_bool: bool,
    n: usize,
) -> Result<Vec<Series>, QueryError> {
    // The "one" side is the right unless group_right swaps roles.
    let one_to_many = matches!(m.card, VectorMatchCardinality::OneToMany(_));
    let one_to_one = matches!(m.card, VectorMatchCardinality::OneToOne);
    let (many, one) = if one_to_many { (&r, &l) } else { (&l, &r) };
    let (many_sig, one_sig, sigs) = signature_ids(many, one, m);
    let mut out: Vec<Series> = Vec::new();
    let mut index: HashMap<Labels, usize> = HashMap::new();
    // Output series per matched (many, one) pair: labels are step-invariant.
    let mut pair_out: HashMap<(usize, usize), usize> = HashMap::new();
    // Per-signature and per-output step stamps (value i + 1 = seen at step i).
    let mut one_at: Vec<(usize, usize)> = vec![(0, 0); sigs.len()];
    let mut matched = vec![0usize; sigs.len()];
    let mut inserted: Vec<usize> = Vec::new();
    // Experimental fill modifiers: the value standing in for a missing
    // element on the one side (`fill_one`) or on the many side (`fill_many`).
    // As in Prometheus, which swaps the operands for group_right, "right"
    // means the one side and "left" the many side.
    let (fill_one, fill_many) = (m.fill_values.rhs, m.fill_values.lhs);
    let mut matched_one = vec![0usize; one.len()];
    for i in 0..n {
        let stamp = i + 1;
        for (k, s) in one.iter().enumerate() {
            if s.vals[i].is_none() {
                continue;
            }
            let sig = one_sig[k];
            if one_at[sig].0 == stamp {
                let prev = one_at[sig].1;
                let side = if one_to_many { "left" } else { "right" };
                return Err(err_exec(format!(
                    "found duplicate series for the match group {} on the {side} hand-side of the operation: [{}, {}];many-to-many matching not allowed: matching labels must be unique on one side",
                    go_labels(&sigs[sig]),
                    go_labels(&one[prev].labels),
                    go_labels(&s.labels),
                )));
            }
            one_at[sig] = (stamp, k);
        }
        for (k, s) in many.iter().enumerate() {
            let Some(mv) = s.vals[i] else { continue };
            let sig = many_sig[k];
            if one_at[sig].0 != stamp {
                if let Some(fill) = fill_one {
                    let (lv, rv) = if one_to_many { (fill, mv) } else { (mv, fill) };
                    let labels = result_labels(&s.labels, &Labels::default(), m);
                    let drop_name = drops_name(op) || return_bool || s.drop_name;
                    emit(
                        &mut out,
                        &mut index,
                        op,
                        lv,
                        rv,
                        return_bool,
                        labels,
                        drop_name,
                        i,
                        n,
                    )?;
                }
                continue;
            }
            matched_one[one_at[sig].1] = stamp;
            let o = one_at[sig].1;
            let ov = one[o].vals[i].unwrap_or(f64::NAN);
            let (lv, rv) = if one_to_many { (ov, mv) } else { (mv, ov) };
            let (mut val, mut keep) = elem_binop(op, lv, rv)?;
            if return_bool {
                val = if keep { 1.0 } else { 0.0 };
                keep = true;
            }
            // Checked before the comparison filter, so the error does not depend
            // on which elements happen to be dropped (Prometheus 3.x).
            if one_to_one {
                if matched[sig] == stamp {
                    return Err(err_exec(
                        "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)",
                    ));
                }
                matched[sig] = stamp;
            }
            if !keep {
                continue;
            }
            let idx = match pair_out.get(&(k, o)) {
                Some(&idx) => idx,
                None => {
                    let labels = result_labels(&s.labels, &one[o].labels, m);
                    let drop_name =
                        drops_name(op) || return_bool || (one_to_many && one[o].drop_name) || s.drop_name;
                    let idx = *index.entry(labels.clone()).or_insert_with(|| {
                        out.push(Series {
                            labels,
                            drop_name,
                            vals: vec![None; n],
                        });
                        out.len() - 1
                    });
                    pair_out.insert((k, o), idx);
                    idx
                }
            };
            // Filled elements may have added outputs too.
            inserted.resize(out.len(), 0);
            if !one_to_one && inserted[idx] == stamp {
                return Err(err_exec(
                    "multiple matches for labels: grouping labels must ensure unique matches",
                ));
            }
            inserted[idx] = stamp;
            if out[idx].vals[i].is_some() {
                return Err(err_exec("vector cannot contain metrics with the same labelset"));
            }
            out[idx].vals[i] = Some(val);
        }
        // fill: one-side elements nothing matched, against the fill value.
        if let Some(fill) = fill_many {
            for (o, s) in one.iter().enumerate() {
                let Some(ov) = s.vals[i] else { continue };
                if matched_one[o] == stamp {
                    continue;
                }
                let (lv, rv) = if one_to_many { (ov, fill) } else { (fill, ov) };
                // Only the matching labels identify such an element (it stands
                // in for a missing many-side one, whose labels are unknown).
                let labels = signature(&s.labels, m);
                emit(&mut out, &mut index, op, lv, rv, return_bool, labels, false, i, n)?;
            }
        }
    }
    Ok(out)
}

/// Adds one filled element to the output (fill modifiers only).
#[allow(clippy::too_many_arguments)]
fn emit(
    out: &mut Vec<Series>,
    index: &mut HashMap<Labels, usize>,
    op: TokenId,
    lv: f64,
    rv: f64,
    return_bool: bool,
    labels: Labels,
    drop_name: bool,
    i: usize,
    n: usize,
) -> Result<(), QueryError> {
    let (mut val, mut keep) = elem_binop(op, lv, rv)?;
    if return_bool {
        val = if keep { 1.0 } else { 0.0 };
        keep = true;
    }
    if !keep {
        return Ok(());
    }
    let idx = *index.entry(labels.clone()).or_insert_with(|| {
        out.push(Series {
            labels,
            drop_name,
            vals: vec![None; n],
        });
        out.len() - 1
    });
    if out[idx].vals[i].is_some() {
        return Err(err_exec("vector cannot contain metrics with the same labelset"));
    }
    out[idx].vals[i] = Some(val);
    Ok(())
}
