//! `GET|POST /api/v1/parse_query`: the parsed expression as the JSON tree
//! Prometheus' `translateAST` writes for its UI's tree view.

use axum::extract::State;
use axum::response::Response;
use promql_parser::label::Matcher as PMatcher;
use promql_parser::parser::value::ValueType;
use promql_parser::parser::{
    AtModifier, BinaryExpr, Expr, LabelModifier, Offset, VectorMatchCardinality, VectorSelector,
};
use serde_json::{Value as Json, json};
use sluice_promql::parse_expr;

use super::AppState;
use super::params::Params;
use super::response::{ApiError, success};

pub(super) async fn parse_query(State(st): State<AppState>, p: Params) -> Result<Response, ApiError> {
    let query = p
        .get("query")
        .filter(|q| !q.is_empty())
        .ok_or_else(|| ApiError::bad_data("invalid parameter \"query\": missing"))?;
    let invalid = |e: String| ApiError::bad_data(format!("invalid parameter \"query\": {e}"));
    let expr = parse_expr(query).map_err(invalid)?;
    // Prometheus' parser refuses disabled experimental syntax here too.
    st.engine
        .check_enabled(&expr)
        .map_err(|e| invalid(e.to_string()))?;
    Ok(success(translate(&expr), &[], &[]))
}

/// One node of the tree, keys as Prometheus names them.
pub(crate) fn translate(e: &Expr) -> Json {
    match e {
        Expr::Aggregate(a) => {
            let (grouping, without) = match &a.modifier {
                None => (Vec::new(), false),
                Some(LabelModifier::Include(l)) => (l.labels.clone(), false),
                Some(LabelModifier::Exclude(l)) => (l.labels.clone(), true),
            };
            json!({
                "type": "aggregation",
                "op": a.op.to_string(),
                "expr": translate(&a.expr),
                "param": a.param.as_deref().map_or(Json::Null, translate),
                "grouping": grouping,
                "without": without,
            })
        }
        Expr::Binary(b) => json!({
            "type": "binaryExpr",
            "op": b.op.to_string(),
            "lhs": translate(&b.lhs),
            "rhs": translate(&b.rhs),
            "matching": matching(b),
            "bool": b.modifier.as_ref().is_some_and(|m| m.return_bool),
        }),
        Expr::Call(c) => json!({
            "type": "call",
            "func": {
                "name": c.func.name,
                "argTypes": c.func.arg_types.iter().map(ValueType::to_string).collect::<Vec<_>>(),
                "variadic": c.func.variadic,
                "returnType": c.func.return_type.to_string(),
            },
            "args": c.args.args.iter().map(|a| translate(a)).collect::<Vec<_>>(),
        }),
        Expr::MatrixSelector(m) => {
            let mut node = selector("matrixSelector", &m.vs);
            node["range"] = json!(m.range.as_millis() as i64);
            node
        }
        Expr::Subquery(s) => {
            let (timestamp, start_or_end) = at(&s.at);
            json!({
                "type": "subquery",
                "expr": translate(&s.expr),
                "range": s.range.as_millis() as i64,
                "offset": offset_ms(&s.offset),
                "step": s.step.map_or(0, |d| d.as_millis() as i64),
                "timestamp": timestamp,
                "startOrEnd": start_or_end,
            })
        }
        Expr::NumberLiteral(n) => json!({"type": "numberLiteral", "val": go_float(n.val)}),
        Expr::Paren(p) => json!({"type": "parenExpr", "expr": translate(&p.expr)}),
        Expr::StringLiteral(s) => json!({"type": "stringLiteral", "val": s.val}),
        Expr::Unary(u) => json!({"type": "unaryExpr", "op": "-", "expr": translate(&u.expr)}),
        Expr::VectorSelector(vs) => selector("vectorSelector", vs),
        Expr::Extension(x) => json!({"type": x.expr.name()}),
    }
}

/// Vector matching, only between two instant vectors (Prometheus' parser
/// drops it otherwise).
fn matching(b: &BinaryExpr) -> Json {
    let vectors = b.lhs.value_type() == ValueType::Vector && b.rhs.value_type() == ValueType::Vector;
    let Some(m) = b.modifier.as_ref().filter(|_| vectors) else {
        return if vectors {
            let card = if b.op.is_set_operator() {
                "many-to-many"
            } else {
                "one-to-one"
            };
            json!({"card": card, "labels": [], "on": false, "include": []})
        } else {
            Json::Null
        };
    };
    let (card, include) = match &m.card {
        VectorMatchCardinality::OneToOne => ("one-to-one", Vec::new()),
        VectorMatchCardinality::ManyToOne(l) => ("many-to-one", l.labels.clone()),
        VectorMatchCardinality::OneToMany(l) => ("one-to-many", l.labels.clone()),
        VectorMatchCardinality::ManyToMany => ("many-to-many", Vec::new()),
    };
    let card = if b.op.is_set_operator() {
        "many-to-many"
    } else {
        card
    };
    let (labels, on) = match &m.matching {
        None => (Vec::new(), false),
        Some(LabelModifier::Include(l)) => (l.labels.clone(), true),
        Some(LabelModifier::Exclude(l)) => (l.labels.clone(), false),
    };
    json!({"card": card, "labels": labels, "on": on, "include": include})
}

fn selector(kind: &str, vs: &VectorSelector) -> Json {
    let (timestamp, start_or_end) = at(&vs.at);
    // Prometheus' parser keeps the metric name as the last matcher.
    let mut matchers: Vec<Json> = vs.matchers.matchers.iter().map(matcher).collect();
    if let Some(name) = &vs.name
        && !vs.matchers.matchers.iter().any(|m| m.name == "__name__")
    {
        matchers.push(json!({"name": "__name__", "value": name, "type": "="}));
    }
    json!({
        "type": kind,
        "name": vs.name.clone().unwrap_or_default(),
        "offset": offset_ms(&vs.offset),
        "matchers": matchers,
        "timestamp": timestamp,
        "startOrEnd": start_or_end,
    })
}

fn matcher(m: &PMatcher) -> Json {
    json!({"name": m.name, "value": m.value, "type": m.op.to_string()})
}

fn offset_ms(o: &Option<Offset>) -> i64 {
    match o {
        None => 0,
        Some(Offset::Pos(d)) => d.as_millis() as i64,
        Some(Offset::Neg(d)) => -(d.as_millis() as i64),
    }
}

/// `@ <t>`: the time in ms; `@ start()` / `@ end()`: which one.
fn at(a: &Option<AtModifier>) -> (Json, Json) {
    match a {
        None => (Json::Null, Json::Null),
        Some(AtModifier::Start) => (Json::Null, json!("start")),
        Some(AtModifier::End) => (Json::Null, json!("end")),
        Some(AtModifier::At(t)) => {
            let ms = match t.duration_since(std::time::UNIX_EPOCH) {
                Ok(d) => d.as_millis() as i64,
                Err(e) => -(e.duration().as_millis() as i64),
            };
            (json!(ms), Json::Null)
        }
    }
}

/// Go's `strconv.FormatFloat(v, 'f', -1, 64)`: shortest, no exponent.
fn go_float(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf".into() } else { "-Inf".into() }
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(q: &str) -> Json {
        translate(&parse_expr(q).unwrap())
    }

    #[test]
    fn selectors_carry_the_name_matcher_last_and_modifiers() {
        assert_eq!(
            tree(r#"rate(x{a=~"b.*"}[5m] offset 1m @ 100)"#),
            json!({
                "type": "call",
                "func": {"name": "rate", "argTypes": ["matrix"], "variadic": 0, "returnType": "vector"},
                "args": [{
                    "type": "matrixSelector", "name": "x", "range": 300000, "offset": 60000,
                    "matchers": [{"name": "a", "value": "b.*", "type": "=~"}, {"name": "__name__", "value": "x", "type": "="}],
                    "timestamp": 100000, "startOrEnd": null
                }]
            })
        );
    }

    #[test]
    fn aggregation_binary_matching_and_literals() {
        assert_eq!(
            tree("sum without (i) (a) / on (j) group_left (k) b > bool 2"),
            json!({
                "type": "binaryExpr", "op": ">", "bool": true, "matching": null,
                "lhs": {
                    "type": "binaryExpr", "op": "/", "bool": false,
                    "matching": {"card": "many-to-one", "labels": ["j"], "on": true, "include": ["k"]},
                    "lhs": {"type": "aggregation", "op": "sum", "param": null, "grouping": ["i"], "without": true,
                        "expr": {"type": "vectorSelector", "name": "a", "offset": 0, "timestamp": null, "startOrEnd": null,
                            "matchers": [{"name": "__name__", "value": "a", "type": "="}]}},
                    "rhs": {"type": "vectorSelector", "name": "b", "offset": 0, "timestamp": null, "startOrEnd": null,
                        "matchers": [{"name": "__name__", "value": "b", "type": "="}]}
                },
                "rhs": {"type": "numberLiteral", "val": "2"}
            })
        );
        assert_eq!(tree("a and b")["matching"]["card"], "many-to-many");
        assert_eq!(
            tree("-(1.5)"),
            json!({"type": "unaryExpr", "op": "-", "expr": {"type": "parenExpr", "expr": {"type": "numberLiteral", "val": "1.5"}}})
        );
        assert_eq!(
            tree("max_over_time(a[10m:1m] @ end())")["args"][0]["startOrEnd"],
            "end"
        );
        assert_eq!(
            tree(r#"label_replace(a, "b", "c", "d", "e")"#)["func"]["variadic"],
            0
        );
    }
}
