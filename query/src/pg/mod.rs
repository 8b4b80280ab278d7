//! SQL over the PostgreSQL wire protocol (`query.postgres_listen`), so that
//! `psql`, BI tools and Postgres drivers read the segments.
//!
//! Every statement runs as `/api/v1/sql` runs it ([`statement`]): a fresh
//! [`SqlService`] session, read-only, in a slot of the query queue. Both
//! protocols are served ([`handler`]): simple queries (`psql -c`, one or
//! more statements) and extended ones (Parse/Bind/Execute with `$n`
//! parameters, results in text or binary format). Results are typed
//! ([`types`]), failures carry SQLSTATEs ([`errors`]), and the web config
//! file's TLS and `basic_auth_users` apply ([`auth`]). Each session has
//! Postgres' catalog, for `psql`'s `\d` commands and schema browsers
//! ([`catalog`]).
//!
//! Not served: `COPY`, transactions, `SET` (refused as every non-query
//! statement), and cancel requests (a query still ends at `query.timeout`).

mod auth;
mod catalog;
mod errors;
mod handler;
mod notices;
mod statement;
mod text;
mod types;

use std::sync::Arc;
use std::time::Duration;

use pgwire::api::PgWireServerHandlers;
use pgwire::api::auth::StartupHandler;
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::tokio::TlsAcceptor;
use pgwire::tokio::process_socket;
use sluice_web::WebSecurity;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{debug, info, warn};

use self::auth::Startup;
use self::handler::QueryHandler;
use self::statement::Runner;
use crate::api::QueryQueue;
use crate::sql::SqlService;

/// What every connection shares.
struct Handlers {
    query: Arc<QueryHandler>,
    startup: Arc<Startup>,
}

impl PgWireServerHandlers for Handlers {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        self.query.clone()
    }

    fn extended_query_handler(&self) -> Arc<impl ExtendedQueryHandler> {
        self.query.clone()
    }

    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        self.startup.clone()
    }
}

/// The Postgres listener of the query role.
pub struct PgServer {
    listener: TcpListener,
    handlers: Arc<Handlers>,
    tls: Option<TlsAcceptor>,
}

impl PgServer {
    /// Serves `sql` on `listener`, queued in `queue` (the HTTP API's), with
    /// `web`'s TLS and users.
    pub fn new(listener: TcpListener, sql: SqlService, queue: QueryQueue, web: &WebSecurity) -> Self {
        let tls = web.tls_config().map(|cfg| {
            let mut cfg = (*cfg).clone();
            // libpq (17+) offers ALPN `postgresql` and a server that
            // offers only HTTP's protocols would fail the handshake.
            cfg.alpn_protocols = vec![b"postgresql".to_vec()];
            TlsAcceptor::from(Arc::new(cfg))
        });
        PgServer {
            listener,
            handlers: Arc::new(Handlers {
                query: Arc::new(QueryHandler::new(Runner::new(sql, queue))),
                startup: Arc::new(Startup::new(web)),
            }),
            tls,
        }
    }

    /// Accepts connections until `shutdown` turns true, then closes the
    /// open ones (their running queries stop at their next await, as when
    /// an HTTP client goes away).
    pub async fn serve(self, mut shutdown: watch::Receiver<bool>) {
        if let Ok(addr) = self.listener.local_addr() {
            info!(listen = %addr, tls = self.tls.is_some(), "Postgres listener");
        }
        let mut conns = JoinSet::new();
        loop {
            tokio::select! {
                _ = shutdown.wait_for(|s| *s) => break,
                accepted = self.listener.accept() => match accepted {
                    Ok((socket, peer)) => {
                        debug!(%peer, "Postgres connection");
                        let handlers = self.handlers.clone();
                        let tls = self.tls.clone();
                        conns.spawn(async move {
                            if let Err(e) = process_socket(socket, tls, handlers).await {
                                debug!(%peer, error = %e, "Postgres connection ended");
                            }
                        });
                    }
                    // Out of file descriptors and the like: pass, not spin.
                    Err(e) => {
                        warn!(error = %e, "accepting a Postgres connection");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
                Some(_) = conns.join_next(), if !conns.is_empty() => {}
            }
        }
        conns.shutdown().await;
    }
}
