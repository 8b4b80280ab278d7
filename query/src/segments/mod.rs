//! Reading segments: the footer catalog ([`index`]), the DataFusion table
//! over it ([`table`]) and the PromQL series source built on both
//! ([`source`]), with decoded series of repeatedly read segments kept in
//! memory ([`series_cache`]).

pub mod index;
mod parquet_exec;
pub mod rehearsal;
pub(crate) mod rows;
pub mod series_cache;
pub mod source;
pub mod table;
pub mod warm;
