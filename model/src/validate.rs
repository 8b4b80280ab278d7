//! Checks shared by the config sections of several roles.

/// The error for a listen address that is not `ip:port`, with its config path.
pub fn check_listen_address(path: &str, listen: &str) -> Option<String> {
    check_address(&format!("{path}.listen"), listen)
}

/// The error for an address that is not `ip:port`, for the key at `key`
/// (for listeners with a key other than `listen`).
pub fn check_address(key: &str, value: &str) -> Option<String> {
    value
        .parse::<std::net::SocketAddr>()
        .is_err()
        .then(|| format!("{key}: {value:?} is not an ip:port address"))
}
