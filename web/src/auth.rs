//! HTTP basic authentication against bcrypt hashes, as Prometheus'
//! `basic_auth_users`.
//!
//! bcrypt is slow on purpose (tens of milliseconds at cost 10), so verdicts
//! are cached per user and SHA-256 of the password, as the exporter-toolkit
//! does: a dashboard's many requests cost one bcrypt, and a client retrying
//! a wrong password cannot make the server hash it again and again. The
//! password itself is never stored.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{HeaderValue, Request, Response, StatusCode, header};
use axum::middleware::Next;
use axum::response::IntoResponse;
use base64::Engine;
use sha2::{Digest, Sha256};

use crate::config::PasswordHash;

/// Entries kept before the cache is emptied (a crude bound; entries are
/// tiny and a full cache means someone is guessing).
const CACHE_LIMIT: usize = 4096;

/// A hash of a password no one has, checked for unknown users so that the
/// answer takes as long as for known ones (no user enumeration by timing).
const DUMMY_HASH: &str = "$2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DSmV5xLw4UoWEZq6nh8fO";

/// The users and the verdict cache.
pub(crate) struct BasicAuth {
    users: BTreeMap<String, PasswordHash>,
    verdicts: Mutex<HashMap<(String, [u8; 32]), bool>>,
}

impl BasicAuth {
    pub(crate) fn new(users: BTreeMap<String, PasswordHash>) -> BasicAuth {
        BasicAuth {
            users,
            verdicts: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `authorization` (the header's value) names a user and the
    /// right password.
    pub(crate) async fn allows(&self, authorization: Option<&HeaderValue>) -> bool {
        let Some((user, password)) = authorization.and_then(parse_basic) else {
            return false;
        };
        self.check(user, password).await
    }

    /// Whether `user` exists and `password` is theirs (also for listeners
    /// that take a password some other way, as the Postgres one does).
    pub(crate) async fn check(&self, user: String, password: String) -> bool {
        let digest: [u8; 32] = Sha256::digest(password.as_bytes()).into();
        let key = (user, digest);
        if let Some(v) = self.lock().get(&key) {
            return *v;
        }
        let hash = self
            .users
            .get(&key.0)
            .map_or(DUMMY_HASH, |h| h.0.as_str())
            .to_string();
        let known = self.users.contains_key(&key.0);
        let ok = tokio::task::spawn_blocking(move || bcrypt::verify(password, &hash).unwrap_or(false))
            .await
            .unwrap_or(false)
            && known;
        let mut cache = self.lock();
        if cache.len() >= CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(key, ok);
        ok
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, [u8; 32]), bool>> {
        // A panic while holding the lock leaves only a cache behind.
        self.verdicts.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// `Basic base64(user:password)` → (user, password).
fn parse_basic(value: &HeaderValue) -> Option<(String, String)> {
    let value = value.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

/// The middleware: 401 with a `WWW-Authenticate` challenge unless the
/// request carries valid credentials.
pub(crate) async fn require(auth: Arc<BasicAuth>, req: Request<Body>, next: Next) -> Response<Body> {
    if auth.allows(req.headers().get(header::AUTHORIZATION)).await {
        return next.run(req).await;
    }
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Basic realm=\"sluice\"")],
        "Unauthorized\n",
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(user: &str, password: &str) -> HeaderValue {
        let enc = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        HeaderValue::from_str(&format!("Basic {enc}")).unwrap()
    }

    fn auth() -> BasicAuth {
        let hash = bcrypt::hash("s3cret", 4).unwrap();
        BasicAuth::new(BTreeMap::from([("alice".to_string(), PasswordHash(hash))]))
    }

    #[tokio::test]
    async fn right_password_passes_and_everything_else_is_refused() {
        let a = auth();
        assert!(a.allows(Some(&header("alice", "s3cret"))).await);
        // Again, from the cache.
        assert!(a.allows(Some(&header("alice", "s3cret"))).await);
        assert!(!a.allows(Some(&header("alice", "wrong"))).await);
        assert!(!a.allows(Some(&header("bob", "s3cret"))).await);
        assert!(!a.allows(None).await);
        assert!(!a.allows(Some(&HeaderValue::from_static("Bearer s3cret"))).await);
        assert!(!a.allows(Some(&HeaderValue::from_static("Basic !!!"))).await);
    }

    #[tokio::test]
    async fn unknown_users_never_pass_even_with_the_dummy_hash_password() {
        // Whatever password the dummy hash has, it must not open the door.
        let a = auth();
        for pw in ["", "password", "sluice"] {
            assert!(!a.allows(Some(&header("nobody", pw))).await);
        }
    }

    #[test]
    fn the_dummy_hash_is_a_valid_bcrypt_hash() {
        use std::str::FromStr;
        assert!(bcrypt::HashParts::from_str(DUMMY_HASH).is_ok());
    }
}
