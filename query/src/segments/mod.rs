//! Reading segments: the footer catalog ([`index`]), the DataFusion table
//! over it ([`table`]) and the PromQL series source built on both
//! ([`source`]).

pub mod index;
mod parquet_exec;
pub(crate) mod rows;
pub mod source;
pub mod table;
pub mod warm;
