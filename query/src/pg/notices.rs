//! PromQL annotations as Postgres notices: `psql` prints a `WARNING:` or
//! `INFO:` line for each, before the rows, as it does for a server's
//! `RAISE WARNING`.

use std::fmt::Debug;

use futures::{Sink, SinkExt};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;
use pgwire::messages::response::NoticeResponse;

use crate::promql_plan::annotations::Annotations;

/// SQLSTATE of a warning notice (Postgres' `warning` class).
const SQLSTATE_WARNING: &str = "01000";
/// SQLSTATE of an informational notice (`successful_completion`, as
/// Postgres reports `RAISE INFO`).
const SQLSTATE_INFO: &str = "00000";

/// Sends `annotations` to `client`, warnings first.
pub(crate) async fn send_notices<C>(client: &mut C, annotations: &Annotations) -> PgWireResult<()>
where
    C: Sink<PgWireBackendMessage> + Unpin + Send,
    C::Error: Debug,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    let notices = annotations
        .warnings
        .iter()
        .map(|w| ("WARNING", SQLSTATE_WARNING, w))
        .chain(annotations.infos.iter().map(|i| ("INFO", SQLSTATE_INFO, i)));
    for (severity, code, message) in notices {
        let info = ErrorInfo::new(severity.to_string(), code.to_string(), message.clone());
        client
            .feed(PgWireBackendMessage::NoticeResponse(NoticeResponse::from(info)))
            .await?;
    }
    if !annotations.warnings.is_empty() || !annotations.infos.is_empty() {
        client.flush().await?;
    }
    Ok(())
}
