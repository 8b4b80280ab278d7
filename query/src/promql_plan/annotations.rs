//! The annotations (`PromQL warning: ...`, `PromQL info: ...`) of the
//! `promql()` calls in one SQL statement, collected for the client.
//!
//! A table function's rows have no place for them, so each statement's
//! session carries a [`PromqlAnnotations`] as a `SessionConfig` extension:
//! every `PromEvalExec` adds its query's annotations to it, and the caller
//! takes them after the statement ran. `/api/v1/sql` returns them as the
//! response's `warnings` and `infos` (the shape of the PromQL endpoints);
//! the Postgres listener sends them as `WARNING` and `INFO` notices, which
//! `psql` prints.

use std::sync::{Arc, Mutex, PoisonError};

use datafusion::prelude::SessionConfig;

/// One statement's annotations, in the order the queries produced them,
/// each text once.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Annotations {
    pub warnings: Vec<String>,
    pub infos: Vec<String>,
}

/// The collector a session carries.
#[derive(Debug, Default)]
pub struct PromqlAnnotations(Mutex<Annotations>);

impl PromqlAnnotations {
    /// `config` carrying a new, empty collector.
    pub fn attach(config: SessionConfig) -> SessionConfig {
        config.with_extension(Arc::new(PromqlAnnotations::default()))
    }

    /// The collector `config` carries, if any.
    pub fn of(config: &SessionConfig) -> Option<Arc<PromqlAnnotations>> {
        config.get_extension::<PromqlAnnotations>()
    }

    /// Adds one query's annotations; a text already present (the same
    /// query twice in a statement) is kept once.
    pub fn record(&self, warnings: &[String], infos: &[String]) {
        let mut all = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        append_new(&mut all.warnings, warnings);
        append_new(&mut all.infos, infos);
    }

    /// What was recorded so far, leaving the collector empty.
    pub fn take(&self) -> Annotations {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

fn append_new(into: &mut Vec<String>, new: &[String]) {
    for n in new {
        if !into.contains(n) {
            into.push(n.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_collects_each_annotation_once() {
        let config = PromqlAnnotations::attach(SessionConfig::new());
        let notes = PromqlAnnotations::of(&config).expect("attached");
        notes.record(&["w1".into()], &["i1".into()]);
        notes.record(&["w1".into(), "w2".into()], &[]);
        assert_eq!(
            notes.take(),
            Annotations {
                warnings: vec!["w1".into(), "w2".into()],
                infos: vec!["i1".into()],
            }
        );
        assert_eq!(notes.take(), Annotations::default());
        assert!(PromqlAnnotations::of(&SessionConfig::new()).is_none());
    }
}
