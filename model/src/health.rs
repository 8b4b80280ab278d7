//! Readiness: the named checks a process's `/-/ready` reports.
//!
//! A role registers what it needs before it starts (`expect`: pending,
//! with a reason), and the parts that satisfy a check mark it `ready` (a
//! consumer once its partitions are assigned, a probe while the broker or
//! the segment store answers). The process is ready when every check is.
//! Like the [`telemetry`](crate::telemetry) registry it is process-global,
//! so stages deep in a crate can report without threading a handle through.

use std::collections::BTreeMap;
use std::sync::{Mutex, OnceLock};

/// The readiness checks of one process.
#[derive(Default)]
pub struct Readiness {
    checks: Mutex<BTreeMap<String, Result<(), String>>>,
}

impl Readiness {
    /// Registers `check` as not ready yet, because of `reason`.
    pub fn expect(&self, check: &str, reason: &str) {
        self.set(check, Err(reason.to_string()));
    }

    /// Marks `check` ready.
    pub fn ready(&self, check: &str) {
        self.set(check, Ok(()));
    }

    /// Sets `check` to `state` (an error is the reason it is not ready).
    pub fn set(&self, check: &str, state: Result<(), String>) {
        let mut checks = self.checks.lock().unwrap_or_else(|e| e.into_inner());
        checks.insert(check.to_string(), state);
    }

    /// `Ok` with the names of the checks when all are ready, else `Err`
    /// with `check: reason` of each one that is not.
    pub fn report(&self) -> Result<Vec<String>, Vec<String>> {
        let checks = self.checks.lock().unwrap_or_else(|e| e.into_inner());
        let failing: Vec<String> = checks
            .iter()
            .filter_map(|(name, s)| s.as_ref().err().map(|why| format!("{name}: {why}")))
            .collect();
        if failing.is_empty() {
            Ok(checks.keys().cloned().collect())
        } else {
            Err(failing)
        }
    }
}

/// The name of the check a consumer of `topic` in `group` satisfies once
/// its partitions are assigned.
pub fn consumer_check(group: &str, topic: &str) -> String {
    format!("consumer {group}/{topic}")
}

/// The process-wide readiness checks.
pub fn global() -> &'static Readiness {
    static READINESS: OnceLock<Readiness> = OnceLock::new();
    READINESS.get_or_init(Readiness::default)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_only_when_every_check_is() {
        let r = Readiness::default();
        assert_eq!(r.report(), Ok(vec![]));
        r.expect("kafka", "not probed yet");
        r.expect(&consumer_check("g", "t"), "assigning partitions");
        assert_eq!(
            r.report(),
            Err(vec![
                "consumer g/t: assigning partitions".to_string(),
                "kafka: not probed yet".to_string()
            ])
        );
        r.ready("kafka");
        r.ready(&consumer_check("g", "t"));
        assert_eq!(r.report(), Ok(vec!["consumer g/t".into(), "kafka".into()]));
        r.set("kafka", Err("broker down".into()));
        assert_eq!(r.report(), Err(vec!["kafka: broker down".to_string()]));
    }
}
