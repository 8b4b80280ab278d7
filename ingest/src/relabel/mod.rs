//! Relabeling, exactly as Prometheus does it: `relabel_configs` on targets
//! and `metric_relabel_configs` on scraped series share these rules.
//!
//! [`RelabelConfig`] deserialises Prometheus' YAML (same keys, defaults and
//! case-insensitive actions) and [`RelabelConfig::validate`] reports every
//! problem with Prometheus' messages. [`relabel`] applies a list of steps to
//! a label set and returns `None` when a step drops it.
//!
//! Regexes are compiled by the `regex` crate after `goregex` has
//! rewritten the few constructs where it and Go's regexp differ (ASCII-only
//! `\d \w \s \b`, class literals, `\Q...\E`), so a pattern matches what it
//! matches in Prometheus. Templates (`$1`, `${name}`) follow Go's
//! `regexp.Expand` exactly.

mod config;
mod expand;
mod goregex;

#[cfg(test)]
mod tests;

pub use config::{
    Action, DEFAULT_REGEX, DEFAULT_REPLACEMENT, DEFAULT_SEPARATOR, RelabelConfig, RelabelRegex,
    is_valid_label_name,
};

use md5::{Digest, Md5};
use sluice_model::Labels;

/// Applies `cfgs` in order. `None` means a keep/drop step dropped the
/// series. The result may be empty (e.g. after `labelkeep`); what an empty
/// set means is the caller's business, as in Prometheus.
///
/// Configs are expected to have passed [`RelabelConfig::validate`]; a regex
/// that failed to compile matches nothing.
pub fn relabel(labels: &Labels, cfgs: &[RelabelConfig]) -> Option<Labels> {
    let mut out = labels.clone();
    for cfg in cfgs {
        if !step(&mut out, cfg) {
            return None;
        }
    }
    Some(out)
}

/// One step; false when the series is dropped.
fn step(lb: &mut Labels, cfg: &RelabelConfig) -> bool {
    // Absent source labels contribute "" (so `a;` is a possible input).
    let val = cfg
        .source_labels
        .iter()
        .map(|n| lb.get(n).unwrap_or(""))
        .collect::<Vec<_>>()
        .join(&cfg.separator);
    match cfg.action {
        Action::Drop => return !cfg.regex.is_match(&val),
        Action::Keep => return cfg.regex.is_match(&val),
        Action::DropEqual => return lb.get(&cfg.target_label).unwrap_or("") != val,
        Action::KeepEqual => return lb.get(&cfg.target_label).unwrap_or("") == val,
        Action::Replace => replace(lb, cfg, &val),
        Action::Lowercase => lb.set(&cfg.target_label, &go_case(&val, char::to_lowercase)),
        Action::Uppercase => lb.set(&cfg.target_label, &go_case(&val, char::to_uppercase)),
        Action::HashMod => {
            let m = hashmod(&val, cfg.modulus);
            lb.set(&cfg.target_label, &m.to_string());
        }
        Action::LabelMap => {
            let Ok(re) = cfg.regex.regex() else { return true };
            // Iterate a snapshot: Prometheus reads the step's input and writes
            // into a builder, so a label created here is not mapped again.
            for l in lb.clone().iter() {
                if let Some(caps) = re.captures(&l.name) {
                    let mut name = String::new();
                    expand::expand(&mut name, re, &caps, &cfg.replacement);
                    lb.set(&name, &l.value);
                }
            }
        }
        Action::LabelDrop => retain_names(lb, |n| !cfg.regex.is_match(n)),
        Action::LabelKeep => retain_names(lb, |n| cfg.regex.is_match(n)),
    }
    true
}

/// `replace`: no match leaves the set alone; an expanded target that is not
/// a valid label name is ignored; an empty expanded value deletes the label.
fn replace(lb: &mut Labels, cfg: &RelabelConfig, val: &str) {
    let Ok(re) = cfg.regex.regex() else { return };
    let Some(caps) = re.captures(val) else { return };
    let mut target = String::new();
    expand::expand(&mut target, re, &caps, &cfg.target_label);
    if !is_valid_label_name(&target) {
        return;
    }
    let mut value = String::new();
    expand::expand(&mut value, re, &caps, &cfg.replacement);
    // `Labels::set` with "" removes, which is what Prometheus does too.
    lb.set(&target, &value);
}

/// Prometheus' hashmod: MD5 of the joined value, its last 8 bytes read as a
/// big-endian u64 (kept for compatibility with older Prometheus versions,
/// which summed the digest that way), modulo `modulus`.
pub fn hashmod(value: &str, modulus: u64) -> u64 {
    let digest = Md5::digest(value.as_bytes());
    let mut last8 = [0u8; 8];
    last8.copy_from_slice(&digest[8..16]);
    u64::from_be_bytes(last8) % modulus.max(1)
}

/// Go's `strings.ToLower`/`ToUpper`: rune by rune with Unicode's *simple*
/// mappings, so unlike `str::to_lowercase` there is no final-sigma rule
/// ("ΟΔΟΣ" → "οδοσ") and no one-to-many mapping ("ß" stays "ß"). Where
/// Rust's mapping has several characters, the simple mapping is the rune
/// itself, except for "İ", whose simple lower case is "i" (and Greek
/// letters with iota subscript, rare enough to leave unmapped here).
fn go_case<I: Iterator<Item = char>>(s: &str, map: fn(char) -> I) -> String {
    s.chars()
        .map(|c| {
            let mut m = map(c);
            match (m.next(), m.next()) {
                (Some(one), None) => one,
                _ if c == '\u{130}' => 'i',
                _ => c,
            }
        })
        .collect()
}

fn retain_names(lb: &mut Labels, keep: impl Fn(&str) -> bool) {
    let drop: Vec<String> = lb
        .iter()
        .filter(|l| !keep(&l.name))
        .map(|l| l.name.clone())
        .collect();
    for name in drop {
        lb.remove(&name);
    }
}
