//! A loopback Kubernetes API server for pods and ingresses: LIST from a
//! fixture and WATCH as a chunked stream of the events the test releases,
//! including a `410 Expired` that forces the client to re-list.
//!
//! The server keeps the current objects (fixture lists + every released event),
//! a resourceVersion, and a log of what a watch may stream. A watch from
//! version `v` streams the logged events newer than `v`, then waits for
//! more; if the log holds an expiry newer than `v`, it gets the `ERROR`
//! event and the stream ends, as when etcd compacted `v` away.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::extract::Query;
use axum::http::header::CONTENT_TYPE;
use axum::response::Response;
use axum::routing::get;
use serde_json::Value;
use tokio::sync::watch;

/// What a watch can be told.
#[derive(Clone)]
enum Logged {
    Event {
        rv: u64,
        kind: String,
        line: String,
    },
    /// Watches from a version below `below` get this 410 event.
    Expired {
        below: u64,
        line: String,
    },
}

/// `(kind, namespace, name)`
type ObjKey = (String, String, String);

#[derive(Default)]
struct Cluster {
    objects: BTreeMap<ObjKey, Value>,
    rv: u64,
    log: Vec<Logged>,
    /// LIST requests served (a re-list after 410 makes it 2).
    lists: usize,
}

/// The running fixture server.
pub(crate) struct K8sApi {
    pub port: u16,
    cluster: Arc<Mutex<Cluster>>,
    changed: watch::Sender<usize>,
    _task: tokio::task::JoinHandle<()>,
}

/// `tests/it/fixtures/k8s/<name>`
pub(crate) fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/it/fixtures/k8s")
        .join(name)
}

fn read_json(name: &str) -> Value {
    let text = std::fs::read_to_string(fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn key_of(kind: &str, obj: &Value) -> ObjKey {
    let m = &obj["metadata"];
    (
        kind.to_string(),
        m["namespace"].as_str().unwrap_or_default().to_string(),
        m["name"].as_str().unwrap_or_default().to_string(),
    )
}

/// The resources served: kind, list kind, apiVersion, fixture, path.
const RESOURCES: [(&str, &str, &str, &str, &str); 2] = [
    ("Pod", "PodList", "v1", "pods-list.json", "/api/v1/pods"),
    (
        "Ingress",
        "IngressList",
        "networking.k8s.io/v1",
        "ingresses-list.json",
        "/apis/networking.k8s.io/v1/ingresses",
    ),
];

fn rv_of(obj: &Value) -> u64 {
    obj["metadata"]["resourceVersion"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("fixture object has a numeric resourceVersion")
}

#[derive(serde::Deserialize)]
struct ListParams {
    watch: Option<String>,
    #[serde(rename = "resourceVersion")]
    resource_version: Option<String>,
}

impl K8sApi {
    /// Serves `pods-list.json` and `ingresses-list.json` as the cluster's
    /// initial objects.
    pub(crate) async fn start() -> K8sApi {
        let mut cluster = Cluster::default();
        for (kind, _, _, file, _) in RESOURCES {
            let list = read_json(file);
            let rv: u64 = list["metadata"]["resourceVersion"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap();
            cluster.rv = cluster.rv.max(rv);
            for item in list["items"].as_array().unwrap() {
                cluster.objects.insert(key_of(kind, item), item.clone());
            }
        }
        let cluster = Arc::new(Mutex::new(cluster));
        let (changed, _) = watch::channel(0usize);
        let mut app = Router::new();
        for (kind, list_kind, api_version, _, path) in RESOURCES {
            let state = (cluster.clone(), changed.clone());
            app = app.route(
                path,
                get(move |q: Query<ListParams>| list_or_watch(state, kind, list_kind, api_version, q)),
            );
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        K8sApi {
            port,
            cluster,
            changed,
            _task: task,
        }
    }

    /// Applies the event in `events/<name>` and streams it to watches.
    pub(crate) fn stream(&self, name: &str) {
        self.apply(name, true);
    }

    /// Applies the event without streaming it (it happened while no watch
    /// could see it).
    pub(crate) fn apply_unseen(&self, name: &str) {
        self.apply(name, false);
    }

    /// Expires every watch: each gets `events/<name>` (a 410 Status) and
    /// must re-list.
    pub(crate) fn expire_watches(&self, name: &str) {
        let line = std::fs::read_to_string(fixture(&format!("events/{name}"))).unwrap();
        let mut c = self.cluster.lock().unwrap();
        c.rv += 1;
        let below = c.rv;
        c.log.push(Logged::Expired {
            below,
            line: line.trim().to_string(),
        });
        self.notify(&c);
    }

    /// How many LIST requests were served.
    pub(crate) fn lists(&self) -> usize {
        self.cluster.lock().unwrap().lists
    }

    fn apply(&self, name: &str, streamed: bool) {
        let line = std::fs::read_to_string(fixture(&format!("events/{name}"))).unwrap();
        let event: Value = serde_json::from_str(&line).unwrap();
        let obj = &event["object"];
        let mut c = self.cluster.lock().unwrap();
        let rv = rv_of(obj);
        assert!(rv > c.rv, "{name}: resourceVersion {rv} must be above {}", c.rv);
        c.rv = rv;
        // A list shows objects without kind/apiVersion, as the API server does.
        let mut item = obj.clone();
        if let Some(m) = item.as_object_mut() {
            m.remove("kind");
            m.remove("apiVersion");
        }
        let kind = obj["kind"].as_str().expect("event object has a kind").to_string();
        match event["type"].as_str() {
            Some("DELETED") => {
                c.objects.remove(&key_of(&kind, obj));
            }
            _ => {
                c.objects.insert(key_of(&kind, obj), item);
            }
        }
        if streamed {
            c.log.push(Logged::Event {
                rv,
                kind,
                line: line.trim().to_string(),
            });
        }
        self.notify(&c);
    }

    fn notify(&self, c: &Cluster) {
        self.changed.send_replace(c.log.len());
    }
}

type AppState = (Arc<Mutex<Cluster>>, watch::Sender<usize>);

async fn list_or_watch(
    (cluster, changed): AppState,
    kind: &'static str,
    list_kind: &'static str,
    api_version: &'static str,
    Query(q): Query<ListParams>,
) -> Response {
    let is_watch = matches!(q.watch.as_deref(), Some("true" | "1"));
    if !is_watch {
        let mut c = cluster.lock().unwrap();
        c.lists += 1;
        let items: Vec<Value> = c
            .objects
            .iter()
            .filter(|((k, _, _), _)| k == kind)
            .map(|(_, v)| v.clone())
            .collect();
        let body = serde_json::json!({
            "kind": list_kind,
            "apiVersion": api_version,
            "metadata": {"resourceVersion": c.rv.to_string()},
            "items": items,
        });
        return Response::builder()
            .header(CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .unwrap();
    }
    let from: u64 = q.resource_version.and_then(|v| v.parse().ok()).unwrap_or(0);
    let rx = changed.subscribe();
    // (next log index, done)
    let stream = futures::stream::unfold((0usize, false, rx), move |(mut pos, done, mut rx)| {
        let cluster = cluster.clone();
        async move {
            if done {
                return None;
            }
            loop {
                let next = {
                    let c = cluster.lock().unwrap();
                    let mut found = None;
                    while pos < c.log.len() {
                        let item = c.log[pos].clone();
                        pos += 1;
                        match item {
                            Logged::Event { rv, kind: k, line } if rv > from && k == kind => {
                                found = Some((line, false));
                                break;
                            }
                            Logged::Expired { below, line } if from < below => {
                                found = Some((line, true));
                                break;
                            }
                            _ => {}
                        }
                    }
                    found
                };
                if let Some((line, ends)) = next {
                    let chunk = Ok::<_, std::io::Error>(axum::body::Bytes::from(format!("{line}\n")));
                    return Some((chunk, (pos, ends, rx)));
                }
                if rx.changed().await.is_err() {
                    return None;
                }
            }
        }
    });
    Response::builder()
        .header(CONTENT_TYPE, "application/json")
        .body(Body::from_stream(stream))
        .unwrap()
}
