//! The WebSocket URL at which a WS→TCP proxy relays to a peer's address:
//! `ws[s]://PROXY/v1/<host>/<port>` (DESIGN.md §1 "Transport"; `proxy/README.md`).
//!
//! - IPv4 and DNS names: `.` written as `_` (`203_0_113_7`, `node_example_com`), the form
//!   public proxies already use.
//! - IPv6: the colon-free form, `:` written as `-` and the suffix `_ipv6-literal_net`
//!   (`2001-db8--1_ipv6-literal_net`), so the path needs no brackets or percent-encoding.
//! - Tor onion addresses cannot be reached this way: [`Error::PeerUnreachable`].

use lightning::ln::msgs::SocketAddress;

use crate::Error;

/// Checks a proxy base URL (`ws://` or `wss://`, no query or fragment) and returns it without
/// a trailing `/`.
pub fn check_proxy_base(base: &str) -> Result<&str, Error> {
    let rest = base
        .strip_prefix("wss://")
        .or_else(|| base.strip_prefix("ws://"))
        .ok_or_else(|| {
            Error::InvalidConfig(format!(
                "proxy URL {base:?} must start with ws:// or wss://"
            ))
        })?;
    let host = rest.split('/').next().unwrap_or_default();
    if host.is_empty() || rest.contains(['?', '#']) || rest.chars().any(char::is_whitespace) {
        return Err(Error::InvalidConfig(format!(
            "proxy URL {base:?} needs a host and no query, fragment or spaces"
        )));
    }
    Ok(base.trim_end_matches('/'))
}

/// The URL to open to reach `addr` through the proxy at `base`.
pub fn proxy_url(base: &str, addr: &SocketAddress) -> Result<String, Error> {
    let base = check_proxy_base(base)?;
    let (host, port) = match addr {
        SocketAddress::TcpIpV4 { addr, port } => {
            let [a, b, c, d] = *addr;
            (format!("{a}_{b}_{c}_{d}"), *port)
        }
        SocketAddress::TcpIpV6 { addr, port } => {
            let ip = std::net::Ipv6Addr::from(*addr);
            (
                format!("{}_ipv6-literal_net", ip.to_string().replace(':', "-")),
                *port,
            )
        }
        // LDK's Hostname holds only ASCII letters, digits, '-' and '.'.
        SocketAddress::Hostname { hostname, port } => (hostname.as_str().replace('.', "_"), *port),
        SocketAddress::OnionV2(_) | SocketAddress::OnionV3 { .. } => {
            return Err(Error::PeerUnreachable(format!(
                "{addr} is a Tor onion address, which the WebSocket proxy does not reach"
            )))
        }
    };
    Ok(format!("{base}/v1/{host}/{port}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::parse_socket_address;

    fn url(base: &str, addr: &str) -> Result<String, Error> {
        proxy_url(base, &parse_socket_address(addr).unwrap())
    }

    #[test]
    fn ipv4_and_names_use_underscores() {
        assert_eq!(
            url("ws://127.0.0.1:3003", "127.0.0.1:9735").unwrap(),
            "ws://127.0.0.1:3003/v1/127_0_0_1/9735"
        );
        assert_eq!(
            url("wss://proxy.example/", "node.example.com:9736").unwrap(),
            "wss://proxy.example/v1/node_example_com/9736"
        );
        // A path prefix on the proxy (behind a reverse proxy) is kept.
        assert_eq!(
            url("wss://example.org/ln-proxy", "203.0.113.7:9735").unwrap(),
            "wss://example.org/ln-proxy/v1/203_0_113_7/9735"
        );
    }

    #[test]
    fn ipv6_uses_the_colon_free_form() {
        assert_eq!(
            url("ws://127.0.0.1:3003", "[2001:db8::1]:9735").unwrap(),
            "ws://127.0.0.1:3003/v1/2001-db8--1_ipv6-literal_net/9735"
        );
        assert_eq!(
            url("ws://[::1]:3003", "[::1]:9735").unwrap(),
            "ws://[::1]:3003/v1/--1_ipv6-literal_net/9735"
        );
    }

    #[test]
    fn onion_addresses_are_refused() {
        let onion = "pg6mmjiyjmcrsslvykfwnntlaru7p5svn6y2ymmju6nubxndf4pscryd.onion:9735";
        assert_eq!(
            url("wss://p.example", onion).unwrap_err().code(),
            "PEER_UNREACHABLE"
        );
    }

    #[test]
    fn bad_proxy_urls_are_config_errors() {
        for bad in [
            "http://127.0.0.1:3003",
            "127.0.0.1:3003",
            "ws://",
            "ws:///v1",
            "wss://p.example/?x=1",
            "wss://p.example/#f",
            "wss://p .example",
        ] {
            let err = url(bad, "127.0.0.1:9735").unwrap_err();
            assert_eq!(err.code(), "INVALID_CONFIG", "{bad}");
        }
    }
}
