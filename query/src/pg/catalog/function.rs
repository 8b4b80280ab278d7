//! A Postgres function over a few rows: arguments coerced to integer,
//! text or boolean, evaluated a row at a time (catalog queries read tens
//! of rows, not millions), registered as `name` and `pg_catalog.name`
//! (psql qualifies every function it calls; DataFusion looks a qualified
//! name up as one string).

use std::fmt;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Int64Array, StringArray};
use arrow::datatypes::{DataType, Int64Type};
use datafusion::common::{Result as DfResult, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TypeSignature, Volatility,
};

/// A parameter's type.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Param {
    /// Any integer (an oid too).
    Int,
    Text,
    Bool,
}

impl Param {
    fn arrow(self) -> DataType {
        match self {
            Param::Int => DataType::Int64,
            Param::Text => DataType::Utf8,
            Param::Bool => DataType::Boolean,
        }
    }
}

/// An argument's value in one row.
#[derive(Debug, Clone)]
pub(crate) enum Value {
    Int(i64),
    Text(String),
    // No function reads a boolean argument's value yet (pg_get_expr's
    // `pretty` changes nothing here), but it is still an argument.
    #[allow(dead_code)]
    Bool(bool),
}

impl Value {
    pub(crate) fn int(&self) -> Option<i64> {
        match self {
            Value::Int(v) => Some(*v),
            _ => None,
        }
    }

    pub(crate) fn text(&self) -> Option<&str> {
        match self {
            Value::Text(v) => Some(v),
            _ => None,
        }
    }
}

/// What a function returns.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Returns {
    Text,
    Bool,
    Int,
}

/// A function's result in one row.
#[derive(Debug, Clone)]
pub(crate) enum Out {
    Text(String),
    Bool(bool),
    Int(i64),
}

type Eval = dyn Fn(&[Option<Value>]) -> Option<Out> + Send + Sync;

/// A Postgres function.
pub(crate) struct PgFunction {
    name: &'static str,
    aliases: Vec<String>,
    params: &'static [Param],
    /// Trailing parameters may be left out down to this many.
    min_args: usize,
    returns: Returns,
    signature: Signature,
    eval: Arc<Eval>,
}

impl fmt::Debug for PgFunction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgFunction").field("name", &self.name).finish()
    }
}

impl PartialEq for PgFunction {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for PgFunction {}

impl std::hash::Hash for PgFunction {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

impl PgFunction {
    /// `name(params...)` returning `returns`, at least `min_args`
    /// arguments; `eval` gets each row's arguments (None for NULL, or for
    /// one left out).
    pub(crate) fn udf(
        name: &'static str,
        params: &'static [Param],
        min_args: usize,
        returns: Returns,
        eval: impl Fn(&[Option<Value>]) -> Option<Out> + Send + Sync + 'static,
    ) -> ScalarUDF {
        ScalarUDF::new_from_impl(PgFunction {
            name,
            aliases: vec![format!("pg_catalog.{name}")],
            params,
            min_args,
            returns,
            // Catalog answers hold for one statement.
            signature: Signature::user_defined(Volatility::Stable),
            eval: Arc::new(eval),
        })
    }

    /// The argument lists it takes, one per number of arguments (its
    /// DataFusion signature is user-defined: it coerces them itself).
    pub(crate) fn argument_lists(&self) -> TypeSignature {
        TypeSignature::OneOf(
            (self.min_args..=self.params.len())
                .map(|n| TypeSignature::Exact(self.params[..n].iter().map(|p| p.arrow()).collect()))
                .collect(),
        )
    }
}

impl ScalarUDFImpl for PgFunction {
    fn name(&self) -> &str {
        self.name
    }

    fn aliases(&self) -> &[String] {
        &self.aliases
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> DfResult<DataType> {
        Ok(match self.returns {
            Returns::Text => DataType::Utf8,
            Returns::Bool => DataType::Boolean,
            Returns::Int => DataType::Int64,
        })
    }

    fn coerce_types(&self, args: &[DataType]) -> DfResult<Vec<DataType>> {
        if args.len() < self.min_args || args.len() > self.params.len() {
            let takes = if self.min_args == self.params.len() {
                self.min_args.to_string()
            } else {
                format!("{} to {}", self.min_args, self.params.len())
            };
            return plan_err!(
                "function {} takes {takes} arguments, not {}",
                self.name,
                args.len()
            );
        }
        Ok(self.params[..args.len()].iter().map(|p| p.arrow()).collect())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let n = args.number_rows;
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let mut row: Vec<Option<Value>> = vec![None; self.params.len()];
        let out: Vec<Option<Out>> = (0..n)
            .map(|i| {
                for (slot, a) in row.iter_mut().zip(&arrays) {
                    *slot = value(a, i);
                }
                (self.eval)(&row)
            })
            .collect();
        let array: ArrayRef = match self.returns {
            Returns::Text => Arc::new(
                out.into_iter()
                    .map(|o| match o {
                        Some(Out::Text(s)) => Some(s),
                        _ => None,
                    })
                    .collect::<StringArray>(),
            ),
            Returns::Bool => Arc::new(
                out.into_iter()
                    .map(|o| match o {
                        Some(Out::Bool(b)) => Some(b),
                        _ => None,
                    })
                    .collect::<BooleanArray>(),
            ),
            Returns::Int => Arc::new(
                out.into_iter()
                    .map(|o| match o {
                        Some(Out::Int(v)) => Some(v),
                        _ => None,
                    })
                    .collect::<Int64Array>(),
            ),
        };
        Ok(ColumnarValue::Array(array))
    }
}

/// Row `i` of `a` (coerced to one of [`Param`]'s types).
fn value(a: &ArrayRef, i: usize) -> Option<Value> {
    if a.is_null(i) {
        return None;
    }
    match a.data_type() {
        DataType::Int64 => Some(Value::Int(a.as_primitive::<Int64Type>().value(i))),
        DataType::Utf8 => Some(Value::Text(a.as_string::<i32>().value(i).to_string())),
        DataType::Boolean => Some(Value::Bool(a.as_boolean().value(i))),
        _ => None,
    }
}
