//! Parsing peer addresses. LDK parses `SocketAddress` only with its `std` feature, which this
//! crate never enables (DESIGN.md §1), so the parsing lives here.

use core::str::FromStr;

use lightning::bitcoin::secp256k1::PublicKey;
use lightning::ln::msgs::{parse_onion_address, SocketAddress};
use lightning::util::ser::Hostname;

use crate::Error;

/// Parses `host:port`: an IPv4 address, a bracketed IPv6 address, a DNS name, or a Tor v3
/// onion address.
pub fn parse_socket_address(s: &str) -> Result<SocketAddress, Error> {
    let bad = |why: &str| Error::InvalidConfig(format!("invalid peer address {s:?}: {why}"));
    match std::net::SocketAddr::from_str(s) {
        Ok(std::net::SocketAddr::V4(a)) if a.port() != 0 => {
            return Ok(SocketAddress::TcpIpV4 {
                addr: a.ip().octets(),
                port: a.port(),
            });
        }
        Ok(std::net::SocketAddr::V6(a)) if a.port() != 0 => {
            return Ok(SocketAddress::TcpIpV6 {
                addr: a.ip().octets(),
                port: a.port(),
            });
        }
        _ => {}
    }
    let (host, port) = s
        .rsplit_once(':')
        .ok_or_else(|| bad("expected host:port"))?;
    let port: u16 = port
        .parse()
        .map_err(|_| bad("the port is not a number from 1 to 65535"))?;
    if port == 0 {
        return Err(bad("the port is not a number from 1 to 65535"));
    }
    if host.contains(':') || host.starts_with('[') {
        return Err(bad("an IPv6 address must be written [addr]:port"));
    }
    if host.ends_with(".onion") {
        return parse_onion_address(host, port)
            .map_err(|_| bad("not a valid Tor v3 onion address"));
    }
    if host.is_empty() || host.starts_with('.') || host.ends_with('.') || host.contains("..") {
        return Err(bad("not a valid host name"));
    }
    let hostname =
        Hostname::try_from(host.to_string()).map_err(|_| bad("not a valid host name"))?;
    Ok(SocketAddress::Hostname { hostname, port })
}

/// Parses a node id: 33 bytes of compressed public key in hex.
pub fn parse_node_id(s: &str) -> Result<PublicKey, Error> {
    PublicKey::from_str(s).map_err(|_| {
        Error::InvalidConfig(format!("invalid node id {s:?}: expected 66 hex characters"))
    })
}

/// Parses `node_id@host:port`, the form `lncli connect` takes.
pub fn parse_peer(s: &str) -> Result<(PublicKey, SocketAddress), Error> {
    let (id, addr) = s.split_once('@').ok_or_else(|| {
        Error::InvalidConfig(format!("invalid peer {s:?}: expected node_id@host:port"))
    })?;
    Ok((parse_node_id(id)?, parse_socket_address(addr)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "02eec7245d6b7d2ccb30380bfbe2a3648cd7a942653f5aa340edcea1f283686619";

    #[test]
    fn parses_every_address_kind() {
        assert_eq!(
            parse_socket_address("127.0.0.1:9735").unwrap(),
            SocketAddress::TcpIpV4 {
                addr: [127, 0, 0, 1],
                port: 9735
            }
        );
        let mut v6 = [0u8; 16];
        v6[15] = 1;
        assert_eq!(
            parse_socket_address("[::1]:9736").unwrap(),
            SocketAddress::TcpIpV6 {
                addr: v6,
                port: 9736
            }
        );
        match parse_socket_address("node.example.com:9735").unwrap() {
            SocketAddress::Hostname { hostname, port } => {
                assert_eq!(hostname.as_str(), "node.example.com");
                assert_eq!(port, 9735);
            }
            other => panic!("{other:?}"),
        }
        let onion = "pg6mmjiyjmcrsslvykfwnntlaru7p5svn6y2ymmju6nubxndf4pscryd.onion:9735";
        assert!(matches!(
            parse_socket_address(onion).unwrap(),
            SocketAddress::OnionV3 { port: 9735, .. }
        ));
    }

    #[test]
    fn refuses_malformed_addresses() {
        for bad in [
            "",
            "127.0.0.1",
            "127.0.0.1:",
            "127.0.0.1:0",
            "127.0.0.1:65536",
            "host:port",
            "::1:9735",
            "[::1:9735",
            ":9735",
            "bad host:9735",
            "a..b:9735",
            "abc.onion:9735",
            "héllo.example:9735",
        ] {
            let err = parse_socket_address(bad).unwrap_err();
            assert_eq!(err.code(), "INVALID_CONFIG", "{bad:?}");
        }
    }

    #[test]
    fn parses_peers_and_refuses_bad_node_ids() {
        let (id, addr) = parse_peer(&format!("{ID}@127.0.0.1:9735")).unwrap();
        assert_eq!(id.to_string(), ID);
        assert_eq!(addr.to_string(), "127.0.0.1:9735");
        for bad in [
            "127.0.0.1:9735".to_string(),
            format!("{}@127.0.0.1:9735", &ID[..64]),
            format!("zz{}@127.0.0.1:9735", &ID[2..]),
            format!("{ID}@"),
        ] {
            assert_eq!(
                parse_peer(&bad).unwrap_err().code(),
                "INVALID_CONFIG",
                "{bad}"
            );
        }
    }
}
