//! Watches: one kube-runtime watcher per watched kind and namespace, turned
//! into [`Change`]s.
//!
//! The watcher lists, then watches from the list's resourceVersion; when a
//! watch ends it resumes from the last version seen, and when the server
//! answers 410 Gone (the version is too old) it lists again. A list arrives
//! as `Init`, `InitApply`…, `InitDone`; the objects are buffered and handed
//! on as one [`Change::Relisted`], so objects deleted while no watch was
//! running disappear too.

use std::fmt::Debug;

use futures::stream::BoxStream;
use futures::{StreamExt, future};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;

use super::config::Role;
use super::state::{Change, Object};

/// A stream of changes of one kind in one namespace (all when `None`).
pub(crate) fn watch<K>(
    client: Client,
    kind: Role,
    namespace: Option<String>,
    label_selector: Option<&str>,
    field_selector: Option<&str>,
    wrap: fn(K) -> Object,
) -> BoxStream<'static, Result<Change, watcher::Error>>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + 'static,
    K: Resource<Scope = kube::core::NamespaceResourceScope>,
{
    let api: Api<K> = match &namespace {
        Some(ns) => Api::namespaced(client, ns),
        None => Api::all(client),
    };
    changes(api, kind, namespace, label_selector, field_selector, wrap)
}

/// Like [`watch`], for cluster-scoped kinds (nodes).
pub(crate) fn watch_cluster<K>(
    client: Client,
    kind: Role,
    label_selector: Option<&str>,
    field_selector: Option<&str>,
    wrap: fn(K) -> Object,
) -> BoxStream<'static, Result<Change, watcher::Error>>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + 'static,
{
    changes(Api::all(client), kind, None, label_selector, field_selector, wrap)
}

fn changes<K>(
    api: Api<K>,
    kind: Role,
    namespace: Option<String>,
    label_selector: Option<&str>,
    field_selector: Option<&str>,
    wrap: fn(K) -> Object,
) -> BoxStream<'static, Result<Change, watcher::Error>>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + 'static,
{
    let mut config = watcher::Config::default();
    if let Some(l) = label_selector {
        config = config.labels(l);
    }
    if let Some(f) = field_selector {
        config = config.fields(f);
    }
    watcher(api, config)
        // Errors still come through (and are logged by the caller); the
        // backoff only spaces out the retries that follow them.
        .default_backoff()
        .scan(Vec::new(), move |buffer: &mut Vec<Object>, event| {
            let out = match event {
                Err(e) => Some(Err(e)),
                Ok(watcher::Event::Apply(o)) => Some(Ok(Change::Applied(wrap(o)))),
                Ok(watcher::Event::Delete(o)) => Some(Ok(Change::Deleted(wrap(o)))),
                Ok(watcher::Event::Init) => {
                    buffer.clear();
                    None
                }
                Ok(watcher::Event::InitApply(o)) => {
                    buffer.push(wrap(o));
                    None
                }
                Ok(watcher::Event::InitDone) => Some(Ok(Change::Relisted {
                    kind,
                    namespace: namespace.clone(),
                    objects: std::mem::take(buffer),
                })),
            };
            future::ready(Some(out))
        })
        .filter_map(future::ready)
        .boxed()
}
