//! Scrape ingestion: exposition parsing, scrape loop and Kafka publishing.
pub mod exposition;
