//! Object identifiers: the same object has the same oid in every session.
//!
//! Each statement runs in a fresh session, and psql's `\d samples` looks
//! a table's oid up in one statement and uses it in the next ones, so an
//! oid cannot be a counter: it is derived from the object's name. Objects
//! Postgres itself numbers (the `pg_catalog` and `public` schemas, the
//! built-in types, the bootstrap role) keep Postgres' oids, which clients
//! may know by heart; everything else hashes its kind and name into the
//! range Postgres leaves to user objects (from 16384 up).

/// `pg_catalog`'s oid in Postgres.
pub(crate) const PG_CATALOG_NAMESPACE: u32 = 11;
/// `public`'s oid in Postgres.
pub(crate) const PUBLIC_NAMESPACE: u32 = 2200;
/// The role that owns every object: Postgres' bootstrap superuser.
pub(crate) const OWNER_ROLE: u32 = 10;
/// The owner's name.
pub(crate) const OWNER_NAME: &str = "sluice";

/// `pg_default`'s oid in Postgres: where the tables are stored.
pub(crate) const DEFAULT_TABLESPACE: u32 = 1663;

/// The `internal` language's oid in Postgres: functions built into the
/// server, as every function here is.
pub(crate) const INTERNAL_LANGUAGE: u32 = 12;

/// The first oid Postgres gives user-defined objects.
const FIRST_USER_OID: u32 = 16384;

/// The oid of a schema.
pub(crate) fn namespace(name: &str) -> u32 {
    match name {
        "pg_catalog" => PG_CATALOG_NAMESPACE,
        "public" => PUBLIC_NAMESPACE,
        _ => hashed("namespace", &[name]),
    }
}

/// The oid of the table (or view) `name` in schema `schema`.
pub(crate) fn relation(schema: &str, name: &str) -> u32 {
    hashed("relation", &[schema, name])
}

/// The oid of a function overload: its schema, its kind (an aggregate and
/// a window function may share a name and arguments), its name and the
/// Postgres types of its arguments (`pg_get_function_identity_arguments`).
pub(crate) fn function(schema: &str, kind: &str, name: &str, arguments: &str) -> u32 {
    hashed("function", &[schema, kind, name, arguments])
}

/// The oid of a database.
pub(crate) fn database(name: &str) -> u32 {
    hashed("database", &[name])
}

/// The oid of an access method.
pub(crate) fn access_method(name: &str) -> u32 {
    hashed("access method", &[name])
}

/// FNV-1a (32 bits) over `kind` and `parts`, folded into
/// `FIRST_USER_OID..2^31`: fixed across processes and Rust versions, unlike
/// std's hasher. Two names could collide: among the few hundred objects a
/// Sluice catalog holds (mostly DataFusion's functions) the chance is
/// about one in ten thousand per set of names, and the names are fixed
/// but for the tables' (a test checks that the functions' and the
/// catalog's own tables' oids are all distinct).
fn hashed(kind: &str, parts: &[&str]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    let mut eat = |bytes: &[u8]| {
        for b in bytes {
            h ^= u32::from(*b);
            h = h.wrapping_mul(0x0100_0193);
        }
    };
    eat(kind.as_bytes());
    for p in parts {
        // A separator no name holds, so ("ab", "c") and ("a", "bc") differ.
        eat(&[0]);
        eat(p.as_bytes());
    }
    FIRST_USER_OID + h % ((1 << 31) - FIRST_USER_OID)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oids_depend_on_the_name_only() {
        assert_eq!(relation("public", "samples"), relation("public", "samples"));
        assert_ne!(relation("public", "samples"), relation("public", "samples_5m"));
        assert_ne!(relation("public", "ab"), relation("publica", "b"));
        assert_ne!(
            namespace("information_schema"),
            relation("information_schema", "")
        );
        assert_eq!(namespace("pg_catalog"), 11);
        assert_eq!(namespace("public"), 2200);
        // Fixed across builds: a client may keep an oid between sessions.
        assert_eq!(relation("public", "samples"), 942_831_929);
    }

    #[test]
    fn hashed_oids_stay_in_the_user_range() {
        for name in ["", "a", "samples", "samples_1h", "pg_class"] {
            let oid = relation("public", name);
            assert!((16384..1 << 31).contains(&oid), "{name}: {oid}");
        }
    }
}
