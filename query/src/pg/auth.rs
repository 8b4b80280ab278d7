//! Who may connect: the web config file's rules, as for the HTTP API.
//!
//! Without `basic_auth_users` every client is trusted (as the HTTP API
//! serves everyone then); with them, the client is asked for a cleartext
//! password (`AuthenticationCleartextPassword`, what `psql` answers with
//! `PGPASSWORD` or a prompt) checked against the same bcrypt hashes and
//! verdict cache. With `tls_server_config`, clients must negotiate TLS
//! (`sslmode=require` or libpq's default `prefer`) before they start up:
//! as the HTTP listener serves only HTTPS then, a password never crosses
//! the network in the clear.

use std::fmt::Debug;

use async_trait::async_trait;
use futures::Sink;
use pgwire::api::ClientInfo;
use pgwire::api::auth::cleartext::CleartextPasswordAuthStartupHandler;
use pgwire::api::auth::noop::NoopStartupHandler;
use pgwire::api::auth::{AuthSource, DefaultServerParameterProvider, LoginInfo, Password, StartupHandler};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use sluice_web::WebSecurity;

/// The startup phase: TLS check, then trust or password.
pub(crate) struct Startup {
    require_tls: bool,
    password: Option<CleartextPasswordAuthStartupHandler<WebUsers, DefaultServerParameterProvider>>,
}

impl Startup {
    pub(crate) fn new(web: &WebSecurity) -> Self {
        Startup {
            require_tls: web.tls_config().is_some(),
            password: web.requires_password().then(|| {
                CleartextPasswordAuthStartupHandler::new(
                    WebUsers(web.clone()),
                    DefaultServerParameterProvider::default(),
                )
            }),
        }
    }
}

/// No password asked.
struct Trust;

impl NoopStartupHandler for Trust {}

#[async_trait]
impl StartupHandler for Startup {
    async fn on_startup<C>(&self, client: &mut C, message: PgWireFrontendMessage) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if self.require_tls && !client.is_secure() && matches!(message, PgWireFrontendMessage::Startup(_)) {
            // FATAL: the connection closes after the message.
            return Err(PgWireError::UserError(Box::new(ErrorInfo::new(
                "FATAL".to_string(),
                "28000".to_string(),
                "TLS is required (the web config file sets tls_server_config): connect with sslmode=require"
                    .to_string(),
            ))));
        }
        match &self.password {
            Some(h) => h.on_startup(client, message).await,
            None => Trust.on_startup(client, message).await,
        }
    }
}

/// `basic_auth_users` of the web config file.
struct WebUsers(WebSecurity);

impl Debug for WebUsers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebUsers")
    }
}

#[async_trait]
impl AuthSource for WebUsers {
    /// Never called: passwords are only checked ([`Self::verify_password`]),
    /// the file holds no password to hand out.
    async fn get_password(&self, login: &LoginInfo) -> PgWireResult<Password> {
        Err(PgWireError::InvalidPassword(
            login.user().unwrap_or_default().to_string(),
        ))
    }

    async fn verify_password(&self, login: &LoginInfo, presented: &[u8]) -> PgWireResult<Option<()>> {
        let user = login.user().unwrap_or_default();
        let password = String::from_utf8_lossy(presented);
        if self.0.check_password(user, &password).await {
            Ok(None)
        } else {
            // Postgres' own words (pgwire capitalizes them): scripts and
            // tools match on this text.
            Err(PgWireError::UserError(Box::new(ErrorInfo::new(
                "FATAL".to_string(),
                "28P01".to_string(),
                format!("password authentication failed for user \"{user}\""),
            ))))
        }
    }
}
