//! Sluice binary (being written).
fn main() {}
