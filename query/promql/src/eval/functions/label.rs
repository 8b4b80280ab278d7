//! `label_replace` and `label_join`.

use promql_parser::parser::Expr;
use regex::Regex;
use sluice_model::METRIC_NAME;

use super::super::{err_exec, finalize_series};
use super::{Evaluator, Grid, Val, string_arg};
use crate::QueryError;

pub(crate) fn eval(
    ev: &mut Evaluator<'_>,
    name: &str,
    args: &[&Expr],
    grid: Grid,
) -> Result<Val, QueryError> {
    let mut v = ev.eval_vector(args[0], grid)?;
    let mut strs = Vec::new();
    for a in &args[1..] {
        strs.push(string_arg(ev, Some(a), grid)?);
    }
    let dst = strs[0].clone();
    if dst.is_empty() {
        return Err(err_exec(format!(
            "invalid destination label name in {name}(): {dst}"
        )));
    }
    if name == "label_replace" {
        let (repl, src, re) = (&strs[1], &strs[2], &strs[3]);
        let re = Regex::new(&format!("^(?s:{re})$"))
            .map_err(|_| err_exec(format!("invalid regular expression in label_replace(): {re}")))?;
        for s in &mut v {
            let val = s.labels.get(src).unwrap_or("").to_string();
            if let Some(caps) = re.captures(&val) {
                let mut out = String::new();
                caps.expand(repl, &mut out);
                s.labels.set(&dst, &out);
                if dst == METRIC_NAME {
                    s.drop_name = false;
                }
            }
        }
    } else {
        let sep = &strs[1];
        for s in &mut v {
            let joined: Vec<&str> = strs[2..].iter().map(|l| s.labels.get(l).unwrap_or("")).collect();
            let joined = joined.join(sep);
            s.labels.set(&dst, &joined);
            if dst == METRIC_NAME {
                s.drop_name = false;
            }
        }
    }
    // Relabelling may make series collide, which Prometheus rejects.
    if v.iter().any(|s| s.drop_name) {
        return Ok(Val::Vector(v));
    }
    Ok(Val::Vector(finalize_series(v)?))
}
