//! What `deploy/` ships: the health endpoints the Kubernetes probes use,
//! the Kustomize manifests, and the Kubernetes network monitoring pack.

mod health;
mod image;
mod kustomize;
mod manifests;
mod pack;
