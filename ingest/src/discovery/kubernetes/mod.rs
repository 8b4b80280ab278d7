//! `kubernetes_sd_configs`: targets from the Kubernetes API, driven by
//! watches, with exactly the `__meta_kubernetes_*` labels Prometheus sets.
//!
//! Per config: a client ([`client`]), one watch per watched kind and
//! namespace ([`watch`]; the endpoints roles also watch pods and services,
//! whose labels they attach), a [`state::DiscoveryState`] that keeps the
//! objects and rebuilds the affected groups, and the role builders
//! ([`pod`], [`node`], [`service`], [`endpoints`], [`endpointslice`]) that
//! turn one object into one target group.

mod client;
pub mod config;
mod endpoints;
mod endpointslice;
mod ingress;
mod lookup;
mod meta;
mod node;
mod pod;
mod service;
mod state;
mod watch;

use std::time::Duration;

use futures::StreamExt;
use futures::stream::BoxStream;
use k8s_openapi::api::core::v1::{Endpoints, Node, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::Ingress;
use kube::runtime::watcher;
use tokio::sync::watch as signal;
use tracing::{info, warn};

pub use config::{KubernetesSdConfig, Role};
use state::{Change, DiscoveryState, Object};

use super::{DiscoveryUpdate, UpdateSender};

/// How long to wait before retrying a client that could not be built.
const CONNECT_RETRY: Duration = Duration::from_secs(10);

/// One `kubernetes_sd_configs` entry of one job.
pub struct KubernetesProvider {
    config: KubernetesSdConfig,
    job: String,
    name: String,
}

impl KubernetesProvider {
    /// A provider named `name` (e.g. `kubernetes/0`) for `job`.
    pub fn new(config: KubernetesSdConfig, job: String, name: String) -> Self {
        KubernetesProvider { config, job, name }
    }

    /// Watches until shutdown, sending every change of the job's groups.
    pub async fn run(self, updates: UpdateSender, mut shutdown: signal::Receiver<bool>) {
        let conn = loop {
            match client::connect(&self.config).await {
                Ok(c) => break c,
                Err(e) => {
                    warn!(job = %self.job, provider = %self.name, error = %e, "kubernetes_sd: cannot connect; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(CONNECT_RETRY) => continue,
                        _ = shutdown.wait_for(|s| *s) => return,
                    }
                }
            }
        };
        let namespaces = self.namespaces(conn.own_namespace.as_deref());
        let mut streams = futures::stream::select_all(self.streams(&conn.client, &namespaces));
        let mut state = DiscoveryState::new(self.config.role);
        info!(job = %self.job, role = self.config.role.as_str(), ?namespaces, "kubernetes_sd: watching");
        loop {
            let item = tokio::select! {
                item = streams.next() => item,
                _ = shutdown.wait_for(|s| *s) => return,
            };
            match item {
                Some(Ok(change)) => {
                    let groups = state.apply(change);
                    if groups.is_empty() {
                        continue;
                    }
                    let update = DiscoveryUpdate {
                        job: self.job.clone(),
                        provider: self.name.clone(),
                        groups,
                    };
                    if updates.send(update).await.is_err() {
                        return;
                    }
                }
                Some(Err(e)) => warn!(job = %self.job, error = %e, "kubernetes_sd: watch error (retrying)"),
                None => return,
            }
        }
    }

    /// The namespaces to watch; `[None]` means all.
    fn namespaces(&self, own: Option<&str>) -> Vec<Option<String>> {
        let ns = &self.config.namespaces;
        let mut names: Vec<Option<String>> = ns.names.iter().cloned().map(Some).collect();
        if ns.own_namespace
            && let Some(own) = own
        {
            names.push(Some(own.to_string()));
        }
        if names.is_empty() { vec![None] } else { names }
    }

    /// One watch per watched kind and namespace.
    fn streams(
        &self,
        client: &kube::Client,
        namespaces: &[Option<String>],
    ) -> Vec<BoxStream<'static, Result<Change, watcher::Error>>> {
        let mut out = Vec::new();
        for &kind in self.config.role.watched() {
            let (label, field) = self.config.selector(kind);
            if kind == Role::Node {
                out.push(watch::watch_cluster::<Node>(
                    client.clone(),
                    kind,
                    label,
                    field,
                    |o| Object::Node(Box::new(o)),
                ));
                continue;
            }
            for ns in namespaces {
                let (c, ns) = (client.clone(), ns.clone());
                out.push(match kind {
                    Role::Pod => watch::watch::<Pod>(c, kind, ns, label, field, |o| Object::Pod(Box::new(o))),
                    Role::Service => {
                        watch::watch::<Service>(c, kind, ns, label, field, |o| Object::Service(Box::new(o)))
                    }
                    Role::Endpoints => watch::watch::<Endpoints>(c, kind, ns, label, field, |o| {
                        Object::Endpoints(Box::new(o))
                    }),
                    Role::EndpointSlice => watch::watch::<EndpointSlice>(c, kind, ns, label, field, |o| {
                        Object::EndpointSlice(Box::new(o))
                    }),
                    Role::Ingress => {
                        watch::watch::<Ingress>(c, kind, ns, label, field, |o| Object::Ingress(Box::new(o)))
                    }
                    Role::Node => unreachable!("nodes are cluster-scoped, handled above"),
                });
            }
        }
        out
    }
}
