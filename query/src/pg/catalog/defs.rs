//! The tables of `pg_catalog`: each one's columns (Postgres' names, in
//! Postgres' order, the ones clients read) and where its rows come from.
//!
//! Tables for things Sluice does not have (indexes, constraints,
//! inheritance, policies, triggers, rules, publications, column defaults,
//! comments, collations, extensions, role memberships, enum types) exist
//! with no rows, so that psql's queries, which read them for every table
//! (or type) they describe, find nothing rather than fail.

use datafusion::common::Result as DfResult;

use super::procs::{self, Proc};
use super::snapshot::Snapshot;
use super::table::{Columns, Row, Ty};
use super::{database, relations, types};

/// Where a table's rows come from.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Rows {
    /// The same in every session.
    Fixed(fn() -> DfResult<Vec<Row>>),
    /// Read from the session's catalog.
    Live(fn(&Snapshot) -> DfResult<Vec<Row>>),
    /// Read from the session's functions.
    Functions(fn(&[Proc]) -> DfResult<Vec<Row>>),
}

/// One table of `pg_catalog`.
#[derive(Debug)]
pub(crate) struct TableDef {
    pub(crate) name: &'static str,
    pub(crate) columns: Columns,
    pub(crate) rows: Rows,
}

/// No rows.
fn none() -> DfResult<Vec<Row>> {
    Ok(Vec::new())
}

use Ty::*;

pub(crate) const PG_NAMESPACE: Columns = &[
    ("oid", Oid),
    ("nspname", Text),
    ("nspowner", Oid),
    ("nspacl", TextArray),
];

pub(crate) const PG_CLASS: Columns = &[
    ("oid", Oid),
    ("relname", Text),
    ("relnamespace", Oid),
    ("reltype", Oid),
    ("reloftype", Oid),
    ("relowner", Oid),
    ("relam", Oid),
    ("relfilenode", Oid),
    ("reltablespace", Oid),
    ("relpages", Int4),
    ("reltuples", Float4),
    ("relallvisible", Int4),
    ("reltoastrelid", Oid),
    ("relhasindex", Bool),
    ("relisshared", Bool),
    ("relpersistence", Text),
    ("relkind", Text),
    ("relnatts", Int2),
    ("relchecks", Int2),
    ("relhasrules", Bool),
    ("relhastriggers", Bool),
    ("relhassubclass", Bool),
    ("relrowsecurity", Bool),
    ("relforcerowsecurity", Bool),
    ("relispopulated", Bool),
    ("relreplident", Text),
    ("relispartition", Bool),
    ("relrewrite", Oid),
    ("relfrozenxid", Oid),
    ("relminmxid", Oid),
    ("relacl", TextArray),
    ("reloptions", TextArray),
    ("relpartbound", Text),
];

pub(crate) const PG_ATTRIBUTE: Columns = &[
    ("attrelid", Oid),
    ("attname", Text),
    ("atttypid", Oid),
    ("attlen", Int2),
    ("attnum", Int2),
    ("attcacheoff", Int4),
    ("atttypmod", Int4),
    ("attndims", Int2),
    ("attbyval", Bool),
    ("attalign", Text),
    ("attstorage", Text),
    ("attcompression", Text),
    ("attnotnull", Bool),
    ("atthasdef", Bool),
    ("atthasmissing", Bool),
    ("attidentity", Text),
    ("attgenerated", Text),
    ("attisdropped", Bool),
    ("attislocal", Bool),
    ("attinhcount", Int2),
    ("attstattarget", Int2),
    ("attcollation", Oid),
    ("attacl", TextArray),
    ("attoptions", TextArray),
    ("attfdwoptions", TextArray),
];

pub(crate) const PG_TYPE: Columns = &[
    ("oid", Oid),
    ("typname", Text),
    ("typnamespace", Oid),
    ("typowner", Oid),
    ("typlen", Int2),
    ("typbyval", Bool),
    ("typtype", Text),
    ("typcategory", Text),
    ("typispreferred", Bool),
    ("typisdefined", Bool),
    ("typdelim", Text),
    ("typrelid", Oid),
    ("typelem", Oid),
    ("typarray", Oid),
    ("typalign", Text),
    ("typstorage", Text),
    ("typnotnull", Bool),
    ("typbasetype", Oid),
    ("typtypmod", Int4),
    ("typndims", Int4),
    ("typcollation", Oid),
    ("typdefault", Text),
    ("typacl", TextArray),
];

pub(crate) const PG_DATABASE: Columns = &[
    ("oid", Oid),
    ("datname", Text),
    ("datdba", Oid),
    ("encoding", Int4),
    ("datlocprovider", Text),
    ("datistemplate", Bool),
    ("datallowconn", Bool),
    ("datconnlimit", Int4),
    ("datfrozenxid", Oid),
    ("datminmxid", Oid),
    ("dattablespace", Oid),
    ("datcollate", Text),
    ("datctype", Text),
    ("daticulocale", Text),
    ("datcollversion", Text),
    ("datacl", TextArray),
];

pub(crate) const PG_AM: Columns = &[
    ("oid", Oid),
    ("amname", Text),
    ("amhandler", Text),
    ("amtype", Text),
];

pub(crate) const PG_ROLES: Columns = &[
    ("rolname", Text),
    ("rolsuper", Bool),
    ("rolinherit", Bool),
    ("rolcreaterole", Bool),
    ("rolcreatedb", Bool),
    ("rolcanlogin", Bool),
    ("rolreplication", Bool),
    ("rolconnlimit", Int4),
    ("rolpassword", Text),
    ("rolvaliduntil", Text),
    ("rolbypassrls", Bool),
    ("rolconfig", TextArray),
    ("oid", Oid),
];

pub(crate) const PG_TABLESPACE: Columns = &[
    ("oid", Oid),
    ("spcname", Text),
    ("spcowner", Oid),
    ("spcacl", TextArray),
    ("spcoptions", TextArray),
];

pub(crate) const PG_PROC: Columns = &[
    ("oid", Oid),
    ("proname", Text),
    ("pronamespace", Oid),
    ("proowner", Oid),
    ("prolang", Oid),
    ("procost", Float4),
    ("prorows", Float4),
    ("provariadic", Oid),
    ("prosupport", Oid),
    ("prokind", Text),
    ("prosecdef", Bool),
    ("proleakproof", Bool),
    ("proisstrict", Bool),
    ("proretset", Bool),
    ("provolatile", Text),
    ("proparallel", Text),
    ("pronargs", Int2),
    ("pronargdefaults", Int2),
    ("prorettype", Oid),
    ("proargtypes", OidArray),
    ("proallargtypes", OidArray),
    ("proargmodes", TextArray),
    ("proargnames", TextArray),
    ("proargdefaults", Text),
    ("protrftypes", OidArray),
    ("prosrc", Text),
    ("probin", Text),
    ("prosqlbody", Text),
    ("proconfig", TextArray),
    ("proacl", TextArray),
];

const PG_LANGUAGE: Columns = &[
    ("oid", Oid),
    ("lanname", Text),
    ("lanowner", Oid),
    ("lanispl", Bool),
    ("lanpltrusted", Bool),
    ("lanplcallfoid", Oid),
    ("laninline", Oid),
    ("lanvalidator", Oid),
    ("lanacl", TextArray),
];

const PG_AUTH_MEMBERS: Columns = &[
    ("oid", Oid),
    ("roleid", Oid),
    ("member", Oid),
    ("grantor", Oid),
    ("admin_option", Bool),
];

const PG_ENUM: Columns = &[
    ("oid", Oid),
    ("enumtypid", Oid),
    ("enumsortorder", Float4),
    ("enumlabel", Text),
];

const PG_EXTENSION: Columns = &[
    ("oid", Oid),
    ("extname", Text),
    ("extowner", Oid),
    ("extnamespace", Oid),
    ("extrelocatable", Bool),
    ("extversion", Text),
    ("extconfig", OidArray),
    ("extcondition", TextArray),
];

const PG_DESCRIPTION: Columns = &[
    ("objoid", Oid),
    ("classoid", Oid),
    ("objsubid", Int4),
    ("description", Text),
];

const PG_INDEX: Columns = &[
    ("indexrelid", Oid),
    ("indrelid", Oid),
    ("indnatts", Int2),
    ("indnkeyatts", Int2),
    ("indisunique", Bool),
    ("indnullsnotdistinct", Bool),
    ("indisprimary", Bool),
    ("indisexclusion", Bool),
    ("indimmediate", Bool),
    ("indisclustered", Bool),
    ("indisvalid", Bool),
    ("indcheckxmin", Bool),
    ("indisready", Bool),
    ("indislive", Bool),
    ("indisreplident", Bool),
    ("indkey", Int2Array),
    ("indcollation", OidArray),
    ("indclass", OidArray),
    ("indoption", Int2Array),
    ("indexprs", Text),
    ("indpred", Text),
];

const PG_INHERITS: Columns = &[
    ("inhrelid", Oid),
    ("inhparent", Oid),
    ("inhseqno", Int4),
    ("inhdetachpending", Bool),
];

const PG_CONSTRAINT: Columns = &[
    ("oid", Oid),
    ("conname", Text),
    ("connamespace", Oid),
    ("contype", Text),
    ("condeferrable", Bool),
    ("condeferred", Bool),
    ("convalidated", Bool),
    ("conrelid", Oid),
    ("contypid", Oid),
    ("conindid", Oid),
    ("conparentid", Oid),
    ("confrelid", Oid),
    ("confupdtype", Text),
    ("confdeltype", Text),
    ("confmatchtype", Text),
    ("conislocal", Bool),
    ("coninhcount", Int2),
    ("connoinherit", Bool),
    ("conkey", Int2Array),
    ("confkey", Int2Array),
    ("conbin", Text),
];

const PG_POLICY: Columns = &[
    ("oid", Oid),
    ("polname", Text),
    ("polrelid", Oid),
    ("polcmd", Text),
    ("polpermissive", Bool),
    ("polroles", OidArray),
    ("polqual", Text),
    ("polwithcheck", Text),
];

const PG_STATISTIC_EXT: Columns = &[
    ("oid", Oid),
    ("stxrelid", Oid),
    ("stxname", Text),
    ("stxnamespace", Oid),
    ("stxowner", Oid),
    ("stxstattarget", Int4),
    ("stxkeys", Int2Array),
    ("stxkind", TextArray),
    ("stxexprs", Text),
];

const PG_PUBLICATION: Columns = &[
    ("oid", Oid),
    ("pubname", Text),
    ("pubowner", Oid),
    ("puballtables", Bool),
    ("pubinsert", Bool),
    ("pubupdate", Bool),
    ("pubdelete", Bool),
    ("pubtruncate", Bool),
    ("pubviaroot", Bool),
];

const PG_PUBLICATION_REL: Columns = &[
    ("oid", Oid),
    ("prpubid", Oid),
    ("prrelid", Oid),
    ("prqual", Text),
    ("prattrs", Int2Array),
];

const PG_PUBLICATION_NAMESPACE: Columns = &[("oid", Oid), ("pnpubid", Oid), ("pnnspid", Oid)];

const PG_ATTRDEF: Columns = &[("oid", Oid), ("adrelid", Oid), ("adnum", Int2), ("adbin", Text)];

const PG_COLLATION: Columns = &[
    ("oid", Oid),
    ("collname", Text),
    ("collnamespace", Oid),
    ("collowner", Oid),
    ("collprovider", Text),
    ("collisdeterministic", Bool),
    ("collencoding", Int4),
    ("collcollate", Text),
    ("collctype", Text),
];

const PG_TRIGGER: Columns = &[
    ("oid", Oid),
    ("tgrelid", Oid),
    ("tgparentid", Oid),
    ("tgname", Text),
    ("tgfoid", Oid),
    ("tgtype", Int2),
    ("tgenabled", Text),
    ("tgisinternal", Bool),
    ("tgconstrrelid", Oid),
    ("tgconstrindid", Oid),
    ("tgconstraint", Oid),
    ("tgdeferrable", Bool),
    ("tginitdeferred", Bool),
    ("tgnargs", Int2),
    ("tgattr", Int2Array),
    ("tgqual", Text),
];

const PG_REWRITE: Columns = &[
    ("oid", Oid),
    ("rulename", Text),
    ("ev_class", Oid),
    ("ev_type", Text),
    ("ev_enabled", Text),
    ("is_instead", Bool),
    ("ev_qual", Text),
    ("ev_action", Text),
];

/// Every table, by name.
pub(crate) const TABLES: &[TableDef] = &[
    TableDef {
        name: "pg_am",
        columns: PG_AM,
        rows: Rows::Fixed(database::access_methods),
    },
    TableDef {
        name: "pg_attrdef",
        columns: PG_ATTRDEF,
        rows: Rows::Fixed(none),
    },
    TableDef {
        name: "pg_attribute",
        columns: PG_ATTRIBUTE,
        rows: Rows::Live(relations::attributes),
    },
    TableDef {
        name: "pg_auth_members",
        columns: PG_AUTH_MEMBERS,
        rows: Rows::Fixed(none),
    },
    TableDef {
        name: "pg_class",
        columns: PG_CLASS,
        rows: Rows::Live(relations::classes),
    },
    TableDef {
        name: "pg_collation",
        columns: PG_COLLATION,
        rows: Rows::Fixed(none),
    },
    TableDef {
        name: "pg_constraint",
        columns: PG_CONSTRAINT,
        rows: Rows::Fixed(none),
    },
    TableDef {
        name: "pg_database",
        columns: PG_DATABASE,
        rows: Rows::Live(database::databases),
    },
    TableDef {
        name: "pg_description",
        columns: PG_DESCRIPTION,
        rows: Rows::Fixed(none),
    },
    TableDef {
        name: "pg_enum",
        columns: PG_ENUM,
        rows: Rows::Fixed(none),
    },
    TableDef {
        name: "pg_extension",
        columns: PG_EXTENSION,
        rows: Rows::Fixed(none),
    },
    TableDef {
        name: "pg_index",
        columns: PG_INDEX,
        rows: Rows::Fixed(none),
    },
    TableDef {
        name: "pg_inherits",
        columns: PG_INHERITS,
        rows: Rows::Fixed(none),
    },
    TableDef {
        name: "pg_language",
        columns: PG_LANGUAGE,
        rows: Rows::Fixed(procs::languages),
    },
    TableDef {
        name: "pg_namespace",
        columns: PG_NAMESPACE,
        rows: Rows::Live(relations::namespaces),
    },
    TableDef {
        name: "pg_policy",
        columns: PG_POLICY,
        rows: Rows::Fixed(none),
    },
    TableDef {
        name: "pg_proc",
        columns: PG_PROC,
        rows: Rows::Functions(procs::rows),
    },
    TableDef {
        name: "pg_publication",
        columns: PG_PUBLICATION,
        rows: Rows::Fixed(none),
    },
    TableDef {
        name: "pg_publication_namespace",
        columns: PG_PUBLICATION_NAMESPACE,
        rows: Rows::Fixed(none),
    },
    TableDef {
        name: "pg_publication_rel",
        columns: PG_PUBLICATION_REL,
        rows: Rows::Fixed(none),
    },
    TableDef {
        name: "pg_rewrite",
        columns: PG_REWRITE,
        rows: Rows::Fixed(none),
    },
    TableDef {
        name: "pg_roles",
        columns: PG_ROLES,
        rows: Rows::Fixed(database::roles),
    },
    TableDef {
        name: "pg_statistic_ext",
        columns: PG_STATISTIC_EXT,
        rows: Rows::Fixed(none),
    },
    TableDef {
        name: "pg_tablespace",
        columns: PG_TABLESPACE,
        rows: Rows::Fixed(database::tablespaces),
    },
    TableDef {
        name: "pg_trigger",
        columns: PG_TRIGGER,
        rows: Rows::Fixed(none),
    },
    TableDef {
        name: "pg_type",
        columns: PG_TYPE,
        rows: Rows::Fixed(types::rows),
    },
];

/// The table called `name`.
pub(crate) fn find(name: &str) -> Option<&'static TableDef> {
    TABLES.iter().find(|t| t.name == name)
}
