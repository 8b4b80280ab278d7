//! Checks shared by the config sections of several roles.

/// The error for a listen address that is not `ip:port`, with its config path.
pub fn check_listen_address(path: &str, listen: &str) -> Option<String> {
    listen
        .parse::<std::net::SocketAddr>()
        .is_err()
        .then(|| format!("{path}.listen: {listen:?} is not an ip:port address"))
}
