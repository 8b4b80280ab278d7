//! Element-wise math on instant vectors: `abs`, `ceil`, trig, `round`,
//! `clamp*`, `sgn`, ... All drop the metric name.

use promql_parser::parser::Expr;

use super::{Evaluator, Grid, Val, scalar_arg};
use crate::QueryError;

fn simple(name: &str) -> Option<fn(f64) -> f64> {
    Some(match name {
        "abs" => f64::abs,
        "ceil" => f64::ceil,
        "floor" => f64::floor,
        "exp" => f64::exp,
        "sqrt" => f64::sqrt,
        "ln" => f64::ln,
        "log2" => f64::log2,
        "log10" => f64::log10,
        "sin" => f64::sin,
        "cos" => f64::cos,
        "tan" => f64::tan,
        "asin" => f64::asin,
        "acos" => f64::acos,
        "atan" => f64::atan,
        "sinh" => f64::sinh,
        "cosh" => f64::cosh,
        "tanh" => f64::tanh,
        "asinh" => f64::asinh,
        "acosh" => f64::acosh,
        "atanh" => f64::atanh,
        "deg" => |v| v * 180.0 / std::f64::consts::PI,
        "rad" => |v| v * std::f64::consts::PI / 180.0,
        "sgn" => |v: f64| {
            if v < 0.0 {
                -1.0
            } else if v > 0.0 {
                1.0
            } else {
                v
            }
        },
        _ => return None,
    })
}

pub(crate) fn handles(name: &str) -> bool {
    simple(name).is_some() || matches!(name, "round" | "clamp" | "clamp_min" | "clamp_max")
}

/// Go's `math.Max`: NaN wins, unlike `f64::max`.
pub(crate) fn go_max(a: f64, b: f64) -> f64 {
    if a.is_infinite() && a > 0.0 || b.is_infinite() && b > 0.0 {
        f64::INFINITY
    } else if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.max(b)
    }
}

/// Go's `math.Min`: NaN wins, unlike `f64::min`.
pub(crate) fn go_min(a: f64, b: f64) -> f64 {
    if a.is_infinite() && a < 0.0 || b.is_infinite() && b < 0.0 {
        f64::NEG_INFINITY
    } else if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.min(b)
    }
}

pub(crate) fn eval(
    ev: &mut Evaluator<'_>,
    name: &str,
    args: &[&Expr],
    grid: Grid,
) -> Result<Val, QueryError> {
    let p1 = match name {
        "round" => Some(scalar_arg(ev, args.get(1), grid, 1.0)?),
        "clamp" | "clamp_min" | "clamp_max" => Some(scalar_arg(ev, args.get(1), grid, 0.0)?),
        _ => None,
    };
    let p2 = if name == "clamp" {
        Some(scalar_arg(ev, args.get(2), grid, 0.0)?)
    } else {
        None
    };
    let mut v = ev.eval_vector(args[0], grid)?;
    let f = simple(name);
    for s in &mut v {
        s.drop_name = true;
        for (i, slot) in s.vals.iter_mut().enumerate() {
            let Some(x) = *slot else { continue };
            *slot = match name {
                "round" => {
                    let inv = 1.0 / p1.as_ref().map_or(1.0, |p| p[i]);
                    Some((x * inv + 0.5).floor() / inv)
                }
                "clamp" => {
                    let (lo, hi) = (
                        p1.as_ref().map_or(0.0, |p| p[i]),
                        p2.as_ref().map_or(0.0, |p| p[i]),
                    );
                    if hi < lo {
                        None
                    } else {
                        Some(go_max(lo, go_min(hi, x)))
                    }
                }
                "clamp_min" => Some(go_max(p1.as_ref().map_or(0.0, |p| p[i]), x)),
                "clamp_max" => Some(go_min(p1.as_ref().map_or(0.0, |p| p[i]), x)),
                _ => f.map(|f| f(x)),
            };
        }
    }
    v.retain(|s| s.vals.iter().any(Option::is_some));
    Ok(Val::Vector(v))
}
