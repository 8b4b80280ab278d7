//! What a DataFusion function's signature says about its arguments, in
//! Postgres' terms: the argument lists (`pg_proc` has a row for each, as
//! Postgres has one per overload) and each argument's Postgres type.
//!
//! Only what the signature states is shown. A position that takes one
//! Arrow type, or a family of them all with the same Postgres counterpart
//! (every string type: `text`), has that type; a position that takes
//! several types, a class of types (any integer, any timestamp) or a type
//! with no counterpart here (an interval, a list) is `"any"`, Postgres'
//! pseudo-type for an argument of more than one type. A signature that
//! does not fix the number of arguments (variadic, or one the function
//! checks itself) is `VARIADIC "any"`.

use arrow::datatypes::DataType;
use datafusion::logical_expr::{ArrayFunctionSignature, Coercion, TypeSignature, TypeSignatureClass};
use pgwire::api::Type;

use super::ident::quote_ident;
use super::types;
use crate::pg::types::pg_type;

/// One argument of an overload.
#[derive(Debug, Clone)]
pub(crate) struct Arg {
    /// Its Postgres type; None for `"any"`.
    pub(crate) pg: Option<Type>,
    /// An Arrow type the function takes there, to ask it the result type
    /// of the overload; None where the signature names no type.
    pub(crate) arrow: Option<DataType>,
}

impl Arg {
    /// An argument of type `dt`.
    pub(crate) fn of(dt: &DataType) -> Arg {
        Arg {
            pg: counterpart(dt),
            arrow: Some(dt.clone()),
        }
    }

    /// An argument the signature does not fix to one type.
    pub(crate) fn any() -> Arg {
        Arg {
            pg: None,
            arrow: None,
        }
    }

    /// The oid of its Postgres type.
    pub(crate) fn type_oid(&self) -> u32 {
        self.pg.as_ref().map_or(Type::ANY.oid(), Type::oid)
    }

    /// An argument of a coercible signature: `class` or a type that
    /// converts to it. A native type (all its Arrow encodings) and the
    /// families whose every type has one Postgres counterpart (times:
    /// `time`, binaries: `bytea`) get it; the wider classes are `"any"`.
    /// Only a native type fixes the Arrow type the function gets, so only
    /// it can tell the result type.
    fn class(class: &TypeSignatureClass) -> Arg {
        let fixed = matches!(class, TypeSignatureClass::Native(_));
        if !fixed && !matches!(class, TypeSignatureClass::Time | TypeSignatureClass::Binary) {
            // Any integer, float, number or decimal (Postgres' `numeric`
            // holds the narrower ones only), a timestamp with or without a
            // time zone, an interval, a duration, anything.
            return Arg::any();
        }
        // The native type's Arrow types; one of each counterpart for the
        // two families.
        let examples = TypeSignature::Coercible(vec![Coercion::new_exact(class.clone())]).get_example_types();
        let mut types = examples.iter().flatten();
        let Some(first) = types.next() else {
            return Arg::any();
        };
        let pg = counterpart(first);
        if !types.all(|t| counterpart(t) == pg) {
            return Arg::any();
        }
        Arg {
            pg,
            arrow: fixed.then(|| first.clone()),
        }
    }
}

/// The arguments of one overload.
#[derive(Debug, Clone)]
pub(crate) enum Params {
    /// This many arguments of these types.
    Fixed(Vec<Arg>),
    /// Any number of arguments of any types (`VARIADIC "any"`).
    Variadic,
}

impl Params {
    /// `pronargs`: a variadic function has its one array argument.
    pub(crate) fn count(&self) -> usize {
        match self {
            Params::Fixed(args) => args.len(),
            Params::Variadic => 1,
        }
    }

    /// `proargtypes`.
    pub(crate) fn type_oids(&self) -> Vec<u32> {
        match self {
            Params::Fixed(args) => args.iter().map(Arg::type_oid).collect(),
            Params::Variadic => vec![Type::ANY.oid()],
        }
    }

    /// The Arrow types of every argument, if the signature names them all.
    pub(crate) fn arrow_types(&self) -> Option<Vec<DataType>> {
        match self {
            Params::Fixed(args) => args.iter().map(|a| a.arrow.clone()).collect(),
            Params::Variadic => None,
        }
    }

    /// As `pg_get_function_arguments` prints them, named by `names` (as
    /// many as there are arguments, or none).
    pub(crate) fn render(&self, names: &[&str]) -> String {
        match self {
            Params::Fixed(args) => args
                .iter()
                .enumerate()
                .map(|(i, a)| {
                    let ty = types::format_type(i64::from(a.type_oid()));
                    match names.get(i) {
                        Some(name) => format!("{} {ty}", quote_ident(name)),
                        None => ty,
                    }
                })
                .collect::<Vec<_>>()
                .join(", "),
            Params::Variadic => format!("VARIADIC {}", types::format_type(i64::from(Type::ANY.oid()))),
        }
    }

    /// What tells two overloads apart: the Postgres types.
    fn key(&self) -> Option<Vec<u32>> {
        match self {
            Params::Fixed(_) => Some(self.type_oids()),
            Params::Variadic => None,
        }
    }
}

/// The overloads `sig` describes, each once (argument lists that differ
/// only in Arrow types with the same Postgres counterpart are one).
pub(crate) fn overloads(sig: &TypeSignature) -> Vec<Params> {
    let mut all = Vec::new();
    collect(sig, &mut all);
    let mut out: Vec<Params> = Vec::new();
    for params in all {
        if !out.iter().any(|p| p.key() == params.key()) {
            out.push(params);
        }
    }
    out
}

fn collect(sig: &TypeSignature, out: &mut Vec<Params>) {
    use TypeSignature as S;
    match sig {
        S::Nullary => out.push(Params::Fixed(Vec::new())),
        S::Exact(types) => out.push(Params::Fixed(types.iter().map(Arg::of).collect())),
        S::Uniform(n, types) => {
            for t in types {
                out.push(Params::Fixed(vec![Arg::of(t); *n]));
            }
        }
        // Every string type is `text`.
        S::String(n) => out.push(Params::Fixed(vec![Arg::of(&DataType::Utf8); *n])),
        S::Coercible(coercions) => out.push(Params::Fixed(
            coercions.iter().map(|c| Arg::class(c.desired_type())).collect(),
        )),
        S::Any(n) | S::Comparable(n) | S::Numeric(n) => out.push(Params::Fixed(vec![Arg::any(); *n])),
        S::ArraySignature(ArrayFunctionSignature::Array { arguments, .. }) => {
            out.push(Params::Fixed(vec![Arg::any(); arguments.len()]));
        }
        S::ArraySignature(ArrayFunctionSignature::RecursiveArray | ArrayFunctionSignature::MapArray) => {
            out.push(Params::Fixed(vec![Arg::any()]));
        }
        S::OneOf(sigs) => {
            for s in sigs {
                collect(s, out);
            }
        }
        S::Variadic(_) | S::VariadicAny | S::UserDefined => out.push(Params::Variadic),
    }
}

/// The Postgres type that stands for `dt`'s values: the one the wire
/// protocol sends them as, except for the types it sends as text only
/// because Postgres has no counterpart (lists, intervals, ...), which
/// have none here.
pub(crate) fn counterpart(dt: &DataType) -> Option<Type> {
    match dt {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => Some(Type::TEXT),
        DataType::Dictionary(_, values) => counterpart(values),
        other => Some(pg_type(other).0).filter(|t| *t != Type::TEXT),
    }
}

#[cfg(test)]
mod tests {
    use arrow::datatypes::TimeUnit;
    use datafusion::logical_expr::{ScalarUDFImpl, Signature, Volatility};

    use super::*;

    fn rendered(sig: TypeSignature) -> Vec<String> {
        overloads(&sig).iter().map(|p| p.render(&[])).collect()
    }

    #[test]
    fn concrete_signatures_show_their_types() {
        use DataType::*;
        assert_eq!(
            rendered(TypeSignature::Exact(vec![Float64, Utf8])),
            ["double precision, text"]
        );
        assert_eq!(rendered(TypeSignature::Nullary), [""]);
        // One overload per type of a uniform signature.
        assert_eq!(
            rendered(TypeSignature::Uniform(2, vec![Float64, Float32])),
            ["double precision, double precision", "real, real"]
        );
        // Arrow types with one Postgres counterpart make one overload.
        assert_eq!(
            rendered(TypeSignature::OneOf(vec![
                TypeSignature::Exact(vec![Utf8View, Int64]),
                TypeSignature::Exact(vec![Utf8, Int64]),
                TypeSignature::Exact(vec![LargeUtf8, Int64]),
                TypeSignature::Exact(vec![Utf8, Int64, Utf8]),
            ])),
            ["text, bigint", "text, bigint, text"]
        );
        assert_eq!(
            rendered(TypeSignature::Exact(vec![
                Timestamp(TimeUnit::Nanosecond, Some("+TZ".into())),
                Date32,
                Boolean,
                Binary,
            ])),
            ["timestamp with time zone, date, boolean, bytea"]
        );
        // A string signature: every string type is text.
        assert_eq!(rendered(TypeSignature::String(2)), ["text, text"]);
    }

    #[test]
    fn polymorphic_signatures_show_any() {
        use DataType::*;
        assert_eq!(rendered(TypeSignature::VariadicAny), ["VARIADIC \"any\""]);
        assert_eq!(rendered(TypeSignature::UserDefined), ["VARIADIC \"any\""]);
        assert_eq!(
            rendered(TypeSignature::OneOf(vec![
                TypeSignature::Nullary,
                TypeSignature::Any(1),
                TypeSignature::Any(2),
            ])),
            ["", "\"any\"", "\"any\", \"any\""]
        );
        // A type Postgres has no counterpart for here.
        assert_eq!(
            rendered(TypeSignature::Exact(vec![
                Interval(arrow::datatypes::IntervalUnit::MonthDayNano),
                Timestamp(TimeUnit::Nanosecond, None),
            ])),
            ["\"any\", timestamp without time zone"]
        );
        // DataFusion's own: a string and a timestamp of either kind.
        let date_part = Signature::coercible(
            vec![
                Coercion::new_exact(TypeSignatureClass::Native(
                    datafusion::common::types::logical_string(),
                )),
                Coercion::new_exact(TypeSignatureClass::Timestamp),
            ],
            Volatility::Immutable,
        );
        assert_eq!(rendered(date_part.type_signature), ["text, \"any\""]);
        // The signature of a built-in, as the registry has it.
        let abs = datafusion::functions::math::abs::AbsFunc::new();
        assert_eq!(rendered(abs.signature().type_signature.clone()), ["\"any\""]);
    }

    #[test]
    fn named_arguments_are_quoted_as_needed() {
        let params = Params::Fixed(vec![Arg::of(&DataType::Utf8), Arg::any()]);
        assert_eq!(params.render(&["query", "time"]), "query text, \"time\" \"any\"");
        assert_eq!(params.count(), 2);
        assert_eq!(params.type_oids(), [25, 2276]);
        assert!(params.arrow_types().is_none());
    }
}
