//! Debian's `chromium`, headless: the DOM a page leaves after its scripts
//! ran (`--dump-dom`), or a screenshot. Each run gets a fresh profile and no
//! network but what the page asks for (no background traffic, no updates).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Hung browsers are killed after this (a guard, not an assertion).
const GUARD: Duration = Duration::from_secs(120);

pub(crate) struct Chromium {
    bin: PathBuf,
    /// Profiles go here, one per run.
    dir: PathBuf,
    runs: u32,
}

impl Chromium {
    /// `SLUICE_CHROMIUM`, else `chromium` on the PATH (installed by
    /// `scripts/setup-test-deps.sh`).
    pub(crate) fn new(dir: &Path) -> Chromium {
        let bin = std::env::var_os("SLUICE_CHROMIUM")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("chromium"));
        let ok = Command::new(&bin)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            ok,
            "{} not found: scripts/setup-test-deps.sh installs Debian's chromium (or set SLUICE_CHROMIUM)",
            bin.display()
        );
        Chromium {
            bin,
            dir: dir.to_path_buf(),
            runs: 0,
        }
    }

    fn run(&mut self, url: &str, mode: &[&str]) -> String {
        self.runs += 1;
        let profile = self.dir.join(format!("chromium-profile-{}", self.runs));
        let stderr_log = self.dir.join(format!("chromium-{}.log", self.runs));
        let mut child = Command::new(&self.bin)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--virtual-time-budget=10000",
                "--window-size=1280,800",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .args(mode)
            .arg(url)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr_log).unwrap())
            .spawn()
            .expect("start chromium");
        let mut stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut stdout, &mut s).map(|_| s)
        });
        let deadline = Instant::now() + GUARD;
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("chromium still running after {GUARD:?} on {url}");
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        let out = reader.join().unwrap().unwrap_or_default();
        assert!(
            status.success(),
            "chromium {mode:?} {url}: {status}; see {}",
            stderr_log.display()
        );
        let _ = std::fs::remove_dir_all(&profile);
        out
    }

    /// The serialized DOM after the page's scripts ran.
    pub(crate) fn dump_dom(&mut self, url: &str) -> String {
        self.run(url, &["--dump-dom"])
    }

    /// A 1280x800 PNG of the page at `path`.
    pub(crate) fn screenshot(&mut self, url: &str, path: &Path) {
        let arg = format!("--screenshot={}", path.display());
        self.run(url, &[&arg]);
        assert!(path.is_file(), "no screenshot at {}", path.display());
    }
}

/// The elements `<tag ...>` of `html` as their attribute maps (enough for
/// the DOM Chromium serializes: double-quoted values, entities escaped).
pub(crate) fn elements(html: &str, tag: &str) -> Vec<std::collections::BTreeMap<String, String>> {
    let open = format!("<{tag}");
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(i) = rest.find(&open) {
        rest = &rest[i + open.len()..];
        if !rest.starts_with([' ', '>', '/']) {
            continue;
        }
        let end = rest.find('>').unwrap_or(rest.len());
        let mut attrs = std::collections::BTreeMap::new();
        let mut a = &rest[..end];
        while let Some(eq) = a.find("=\"") {
            let name = a[..eq].trim().to_string();
            let v = &a[eq + 2..];
            let close = v.find('"').unwrap_or(v.len());
            attrs.insert(name, unescape(&v[..close]));
            a = &v[(close + 1).min(v.len())..];
        }
        out.push(attrs);
        rest = &rest[end..];
    }
    out
}

/// The text of HTML with tags removed and entities decoded.
pub(crate) fn text(html: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    unescape(&out)
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&nbsp;", "\u{a0}")
        .replace("&amp;", "&")
}

/// The part of `html` from the element with `id` to the end of its closing
/// `</tag>` (no nesting of the same tag inside).
pub(crate) fn by_id<'a>(html: &'a str, tag: &str, id: &str) -> &'a str {
    let start = html
        .find(&format!("<{tag} id=\"{id}\""))
        .unwrap_or_else(|| panic!("no <{tag} id={id}> in the DOM"));
    let close = format!("</{tag}>");
    let end = html[start..]
        .find(&close)
        .map_or(html.len(), |e| start + e + close.len());
    &html[start..end]
}
