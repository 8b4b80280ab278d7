//! `deploy/image/build.sh` builds a container image without a container
//! engine. The image's own root filesystem, unpacked from the archive,
//! runs `sluice query` as its non-root user under `chroot` (no host
//! library reachable) and answers the API.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::support::http::get_json;
use crate::support::process::Proc;
use crate::support::sluice::binary;
use crate::support::{eventually, free_port};

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{cmd:?} failed:\n{text}");
    text
}

#[tokio::test]
async fn deploy_image_runs_from_its_own_root_filesystem() {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("sluice-image.tar");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/image/build.sh");
    let built = run(Command::new(&script)
        .arg("--binary")
        .arg(binary())
        .arg("--tag")
        .arg("sluice:test")
        .arg("--output")
        .arg(&archive));
    eprintln!("image: {}", built.trim());

    // What the runtime reads: entrypoint, default command, user, ports.
    let config: Value = serde_json::from_str(&run(Command::new("skopeo")
        .args(["inspect", "--config"])
        .arg(format!("docker-archive:{}", archive.display()))))
    .unwrap();
    let c = &config["config"];
    assert_eq!(
        c["Entrypoint"],
        serde_json::json!(["/usr/local/bin/sluice"]),
        "{c}"
    );
    assert_eq!(
        c["Cmd"],
        serde_json::json!(["all", "--config", "/etc/sluice/sluice.yml"]),
        "{c}"
    );
    assert_eq!(c["User"], "65532:65532", "{c}");
    assert!(c["ExposedPorts"].get("9464/tcp").is_some(), "{c}");

    // Unpack the image as a runtime would and run the query role from it.
    let layout = dir.path().join("oci");
    run(Command::new("skopeo")
        .args(["copy", "--quiet"])
        .arg(format!("docker-archive:{}", archive.display()))
        .arg(format!("oci:{}:test", layout.display())));
    let bundle = dir.path().join("bundle");
    run(Command::new("umoci")
        .args(["unpack", "--image"])
        .arg(format!("{}:test", layout.display()))
        .arg(&bundle));
    let rootfs = bundle.join("rootfs");
    let port = free_port();
    std::fs::write(
        rootfs.join("etc/sluice/sluice.yml"),
        format!("kafka:\n  brokers: \"127.0.0.1:1\"\nsink:\n  path: /data/segments\nquery:\n  listen: 127.0.0.1:{port}\n"),
    )
    .unwrap();
    let mut cmd = Command::new("chroot");
    cmd.arg("--userspec=65532:65532").arg(&rootfs).args([
        "/usr/local/bin/sluice",
        "query",
        "--config",
        "/etc/sluice/sluice.yml",
    ]);
    let mut query = Proc::spawn("image-query", cmd, &dir.path().join("query.log"));
    let api = format!("http://127.0.0.1:{port}");
    let version = eventually(Duration::from_secs(30), "the image's query role", || {
        let api = api.clone();
        async move {
            let (s, v) = get_json(&format!("{api}/api/v1/status/buildinfo")).await;
            (s == 200).then(|| v["data"]["version"].clone())
        }
    })
    .await;
    let (s, v) = get_json(&format!("{api}/api/v1/query?query=vector(1)%2B1")).await;
    assert_eq!(
        (s, v["data"]["result"][0]["value"][1].clone()),
        (200, Value::from("2")),
        "{v}"
    );
    query.terminate();
    eprintln!("image: query role from the image's rootfs answered, buildinfo {version}");
}
