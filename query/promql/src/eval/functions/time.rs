//! `timestamp()` and the calendar functions (`hour`, `month`, ...), which
//! read values as Unix seconds in UTC.

use chrono::{DateTime, Datelike, NaiveDate, Timelike};
use promql_parser::parser::Expr;
use sluice_model::Labels;

use super::super::selector::eval_vector_selector;
use super::{Evaluator, Grid, Series, Val, unwrap_parens};
use crate::QueryError;

pub(crate) fn eval(
    ev: &mut Evaluator<'_>,
    name: &str,
    args: &[&Expr],
    grid: Grid,
) -> Result<Val, QueryError> {
    if name == "timestamp" {
        // On a plain selector Prometheus reports the sample's own
        // timestamp; on anything else, the evaluation time.
        let mut v = match unwrap_parens(args[0]) {
            Expr::VectorSelector(vs) => eval_vector_selector(ev, vs, grid, true)?,
            other => {
                let mut v = ev.eval_vector(other, grid)?;
                for s in &mut v {
                    for (i, slot) in s.vals.iter_mut().enumerate() {
                        if slot.is_some() {
                            *slot = Some(grid.ts(i) as f64 / 1000.0);
                        }
                    }
                }
                v
            }
        };
        for s in &mut v {
            s.drop_name = true;
        }
        return Ok(Val::Vector(v));
    }
    let mut v = match args.first() {
        Some(a) => ev.eval_vector(a, grid)?,
        None => vec![Series {
            labels: Labels::default(),
            drop_name: false,
            vals: (0..grid.len())
                .map(|i| Some(grid.ts(i) as f64 / 1000.0))
                .collect(),
        }],
    };
    for s in &mut v {
        s.drop_name = true;
        for x in s.vals.iter_mut().flatten() {
            *x = calendar(name, *x);
        }
    }
    Ok(Val::Vector(v))
}

fn calendar(name: &str, v: f64) -> f64 {
    if v.is_nan() || v.is_infinite() {
        return v;
    }
    let Some(t) = DateTime::from_timestamp(v as i64, 0) else {
        return f64::NAN;
    };
    match name {
        "day_of_month" => t.day() as f64,
        "day_of_week" => t.weekday().num_days_from_sunday() as f64,
        "day_of_year" => t.ordinal() as f64,
        "hour" => t.hour() as f64,
        "minute" => t.minute() as f64,
        "month" => t.month() as f64,
        "year" => t.year() as f64,
        _ => {
            // days_in_month
            let (y, m) = (t.year(), t.month());
            let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
            match (
                NaiveDate::from_ymd_opt(y, m, 1),
                NaiveDate::from_ymd_opt(ny, nm, 1),
            ) {
                (Some(a), Some(b)) => (b - a).num_days() as f64,
                _ => f64::NAN,
            }
        }
    }
}
