//! The simple (`psql -c`) and extended (drivers: Parse/Bind/Execute)
//! query protocols over [`Runner`].

use std::fmt::Debug;
use std::sync::Arc;

use arrow::datatypes::{DataType, SchemaRef};
use async_trait::async_trait;
use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, NaiveDateTime};
use datafusion::common::ScalarValue;
use futures::{Sink, StreamExt, stream};
use pgwire::api::portal::{Format, Portal};
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::results::{FieldFormat, FieldInfo, QueryResponse, Response};
use pgwire::api::stmt::QueryParser;
use pgwire::api::store::PortalStore;
use pgwire::api::{ClientInfo, ClientPortalStore, METADATA_DATABASE, METADATA_USER, Type};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;
use rust_decimal::Decimal;

use super::errors::{error, sqlstate};
use super::notices::send_notices;
use super::statement::{Answer, Described, Runner, one_statement_only, split};
use super::types::{encode_rows, field_infos, pg_type};

/// Answers queries of both protocols.
#[derive(Debug)]
pub(crate) struct QueryHandler {
    runner: Runner,
    parser: Arc<Parser>,
}

impl QueryHandler {
    pub(crate) fn new(runner: Runner) -> Self {
        QueryHandler {
            parser: Arc::new(Parser(runner.clone())),
            runner,
        }
    }
}

/// `answer`'s rows as a result set, each column in `format(i)`.
fn query_response(answer: Answer, format: impl Fn(usize) -> FieldFormat) -> QueryResponse {
    let fields = Arc::new(field_infos(answer.schema.fields(), format));
    let encode_with = fields.clone();
    // Encoded a batch at a time as the client reads, not all up front.
    let rows = stream::iter(answer.batches).flat_map(move |batch| {
        let rows = encode_rows(&batch, &encode_with);
        match rows {
            Ok(rows) => stream::iter(rows.into_iter().map(Ok)).left_stream(),
            Err(e) => stream::once(async move { Err(e) }).right_stream(),
        }
    });
    QueryResponse::new(fields, rows)
}

#[async_trait]
impl SimpleQueryHandler for QueryHandler {
    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let database = database(client);
        let mut out = Vec::new();
        // As Postgres: each statement in turn, and the first error ends the
        // query (the client sees the results before it, then the error).
        for stmt in split(query) {
            match self.runner.run(&stmt, Vec::new(), &database).await {
                Ok(answer) => {
                    // Sent now, while the rows go out after the last
                    // statement: with several statements, each one's
                    // notices come before the earlier ones' rows.
                    send_notices(client, &answer.annotations).await?;
                    out.push(Response::Query(query_response(answer, |_| FieldFormat::Text)));
                }
                Err(e) => {
                    out.push(Response::Error(Box::new(ErrorInfo::from(e))));
                    break;
                }
            }
        }
        Ok(out)
    }
}

/// The database the client asked for, as libpq defaults it (the user
/// name); the catalog shows it as the database's name.
fn database<C: ClientInfo>(client: &C) -> String {
    let meta = client.metadata();
    meta.get(METADATA_DATABASE)
        .or_else(|| meta.get(METADATA_USER))
        .cloned()
        .unwrap_or_else(|| "sluice".to_string())
}

/// A prepared statement: its text and what planning it said.
#[derive(Debug, Clone)]
pub(crate) struct Prepared {
    sql: String,
    described: Described,
}

/// Plans statements at `Parse`, so that `Describe` knows their columns.
#[derive(Debug)]
pub(crate) struct Parser(Runner);

#[async_trait]
impl QueryParser for Parser {
    type Statement = Prepared;

    async fn parse_sql<C>(
        &self,
        client: &C,
        sql: &str,
        _types: &[Option<Type>],
    ) -> PgWireResult<Option<Prepared>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        if split(sql).len() > 1 {
            return Err(one_statement_only());
        }
        let described = self.0.describe(sql, &database(client)).await?;
        Ok(Some(Prepared {
            sql: sql.to_string(),
            described,
        }))
    }

    fn get_parameter_types(&self, stmt: &Prepared) -> PgWireResult<Vec<Type>> {
        Ok(stmt.described.params.iter().map(param_type).collect())
    }

    fn get_result_schema(&self, stmt: &Prepared, format: Option<&Format>) -> PgWireResult<Vec<FieldInfo>> {
        Ok(field_infos(stmt.described.schema.fields(), |i| {
            format.map_or(FieldFormat::Text, |f| f.format_for(i))
        }))
    }
}

/// The Postgres type a parameter is announced as: text when DataFusion
/// could not infer one (`select $1`), as Postgres does for `unknown`.
fn param_type(dt: &Option<DataType>) -> Type {
    dt.as_ref().map_or(Type::TEXT, |dt| pg_type(dt).0)
}

#[async_trait]
impl ExtendedQueryHandler for QueryHandler {
    type Statement = Prepared;
    type QueryParser = Parser;

    fn query_parser(&self) -> Arc<Parser> {
        self.parser.clone()
    }

    async fn do_query<C>(
        &self,
        client: &mut C,
        portal: &Portal<Prepared>,
        _max_rows: usize,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Prepared>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let stmt = &portal.statement;
        let params = bind_params(portal, &stmt.statement.described)?;
        let answer = self
            .runner
            .run(&stmt.statement.sql, params, &database(client))
            .await?;
        check_same_columns(&stmt.statement.described.schema, &answer.schema)?;
        send_notices(client, &answer.annotations).await?;
        let format = portal.result_column_format.clone();
        Ok(Response::Query(query_response(answer, move |i| {
            format.format_for(i)
        })))
    }
}

/// The client described the statement when it was prepared; a new label
/// column since (`select *` over `samples`) would change the rows under
/// it. Postgres refuses such a reuse the same way, and drivers re-prepare.
fn check_same_columns(prepared: &SchemaRef, now: &SchemaRef) -> PgWireResult<()> {
    let types = |s: &SchemaRef| -> Vec<(String, Type)> {
        s.fields()
            .iter()
            .map(|f| (f.name().clone(), pg_type(f.data_type()).0))
            .collect()
    };
    if types(prepared) == types(now) {
        Ok(())
    } else {
        Err(error(
            sqlstate::FEATURE_NOT_SUPPORTED,
            "cached plan must not change result type",
        ))
    }
}

/// The portal's parameters as DataFusion values, each decoded as its
/// announced Postgres type (the client's, else the inferred one) and cast
/// to the type DataFusion inferred for it.
fn bind_params(portal: &Portal<Prepared>, described: &Described) -> PgWireResult<Vec<ScalarValue>> {
    let given = &portal.statement.parameter_types;
    (0..portal.parameter_len())
        .map(|i| {
            let inferred = described.params.get(i).cloned().flatten();
            let ty = given
                .get(i)
                .cloned()
                .flatten()
                .unwrap_or_else(|| param_type(&inferred));
            let value = decode_param(portal, i, &ty)?;
            match inferred {
                Some(dt) if dt != value.data_type() => value.cast_to(&dt).map_err(|e| {
                    error(
                        sqlstate::DATA_EXCEPTION,
                        format!("parameter ${}: {}", i + 1, e.strip_backtrace()),
                    )
                }),
                _ => Ok(value),
            }
        })
        .collect()
}

/// Parameter `i` (0-based) as a value of Postgres type `ty`.
fn decode_param(portal: &Portal<Prepared>, i: usize, ty: &Type) -> PgWireResult<ScalarValue> {
    let v = match *ty {
        Type::BOOL => ScalarValue::Boolean(portal.parameter::<bool>(i, ty)?),
        Type::INT2 => ScalarValue::Int16(portal.parameter::<i16>(i, ty)?),
        Type::INT4 => ScalarValue::Int32(portal.parameter::<i32>(i, ty)?),
        Type::INT8 => ScalarValue::Int64(portal.parameter::<i64>(i, ty)?),
        Type::FLOAT4 => ScalarValue::Float32(portal.parameter::<f32>(i, ty)?),
        Type::FLOAT8 => ScalarValue::Float64(portal.parameter::<f64>(i, ty)?),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => {
            ScalarValue::Utf8(portal.parameter::<String>(i, ty)?)
        }
        Type::TIMESTAMPTZ => ScalarValue::TimestampMicrosecond(
            portal
                .parameter::<DateTime<FixedOffset>>(i, ty)?
                .map(|t| t.timestamp_micros()),
            Some("UTC".into()),
        ),
        Type::TIMESTAMP => ScalarValue::TimestampMicrosecond(
            portal
                .parameter::<NaiveDateTime>(i, ty)?
                .map(|t| t.and_utc().timestamp_micros()),
            None,
        ),
        Type::DATE => ScalarValue::Date32(
            portal
                .parameter::<NaiveDate>(i, ty)?
                // Days from 0001-01-01 to 1970-01-01 (Arrow's dates count from 1970).
                .map(|d| d.num_days_from_ce() - 719_163),
        ),
        Type::NUMERIC => match portal.parameter::<Decimal>(i, ty)? {
            Some(d) => ScalarValue::Decimal128(Some(d.mantissa()), 38, d.scale() as i8),
            None => ScalarValue::Decimal128(None, 38, 0),
        },
        _ => {
            return Err(error(
                sqlstate::FEATURE_NOT_SUPPORTED,
                format!("parameter ${}: type {} is not supported", i + 1, ty.name()),
            ));
        }
    };
    Ok(v)
}
