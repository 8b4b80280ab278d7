//! Postgres' catalog type names in casts (`'16384'::oid`,
//! `c.reloftype::pg_catalog.regtype::pg_catalog.text`), as the Arrow types
//! the catalog tables use for them.
//!
//! `oid` and the `reg*` alias types are unsigned 32-bit numbers here: a
//! `::regclass` compares and joins as in Postgres, but prints its number,
//! not the relation's name.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::Result as DfResult;
use datafusion::logical_expr::planner::TypePlanner;
use datafusion::sql::sqlparser::ast::{self, ObjectName};

/// Plans the type names DataFusion does not know.
#[derive(Debug)]
pub(crate) struct CatalogTypes;

impl TypePlanner for CatalogTypes {
    fn plan_type_field(&self, sql_type: &ast::DataType) -> DfResult<Option<FieldRef>> {
        Ok(match sql_type {
            ast::DataType::Custom(name, modifiers) if modifiers.is_empty() => catalog_name(name)
                .and_then(|n| by_name(&n))
                .map(|t| Arc::new(Field::new("", t, true))),
            // sqlparser knows the bare name; DataFusion does not.
            ast::DataType::Regclass => Some(Arc::new(Field::new("", DataType::UInt32, true))),
            _ => None,
        })
    }
}

/// `name` or `pg_catalog.name`, lowercased unless quoted (as Postgres
/// folds identifiers).
fn catalog_name(name: &ObjectName) -> Option<String> {
    let parts: Vec<_> = name.0.iter().map(|p| p.as_ident()).collect::<Option<_>>()?;
    let ident = match parts.as_slice() {
        [ident] => ident,
        [schema, ident] if schema.value.eq_ignore_ascii_case("pg_catalog") => ident,
        _ => return None,
    };
    Some(match ident.quote_style {
        Some(_) => ident.value.clone(),
        None => ident.value.to_lowercase(),
    })
}

/// The Arrow type of a Postgres type name.
fn by_name(name: &str) -> Option<DataType> {
    Some(match name {
        "oid" | "regclass" | "regtype" | "regproc" | "regprocedure" | "regnamespace" | "regrole"
        | "regoper" | "regoperator" | "regconfig" | "xid" | "cid" => DataType::UInt32,
        "text" | "name" | "char" | "bpchar" | "varchar" | "pg_node_tree" => DataType::Utf8,
        "bool" | "boolean" => DataType::Boolean,
        "int2" | "smallint" => DataType::Int16,
        "int4" | "int" | "integer" => DataType::Int32,
        "int8" | "bigint" => DataType::Int64,
        "float4" | "real" => DataType::Float32,
        "float8" => DataType::Float64,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use datafusion::sql::sqlparser::ast::Ident;

    use super::*;

    fn plan(parts: &[Ident]) -> Option<DataType> {
        let name = ObjectName::from(parts.to_vec());
        CatalogTypes
            .plan_type_field(&ast::DataType::Custom(name, vec![]))
            .unwrap()
            .map(|f| f.data_type().clone())
    }

    #[test]
    fn catalog_type_names_plan_as_arrow_types() {
        let pg = Ident::new("pg_catalog");
        assert_eq!(plan(&[Ident::new("OID")]), Some(DataType::UInt32));
        assert_eq!(plan(&[pg.clone(), Ident::new("regtype")]), Some(DataType::UInt32));
        assert_eq!(plan(&[pg.clone(), Ident::new("text")]), Some(DataType::Utf8));
        assert_eq!(plan(&[Ident::with_quote('"', "char")]), Some(DataType::Utf8));
        // Quoted names keep their case, as in Postgres.
        assert_eq!(plan(&[Ident::with_quote('"', "OID")]), None);
        assert_eq!(plan(&[Ident::new("other"), Ident::new("oid")]), None);
        assert_eq!(plan(&[Ident::new("geometry")]), None);
        let regclass = CatalogTypes.plan_type_field(&ast::DataType::Regclass).unwrap();
        assert_eq!(regclass.map(|f| f.data_type().clone()), Some(DataType::UInt32));
    }
}
