//! Parsing of the target in the request path: `/v1/<host>/<port>`.
//!
//! # Host encoding
//!
//! The host is one path segment. It is first percent-decoded (`%XX`, any case), then read as
//! one of:
//!
//! | form | example | meaning |
//! | --- | --- | --- |
//! | name or IPv4, `.` written as `_` | `node_example_com`, `203_0_113_7` | `node.example.com`, `203.0.113.7` (a literal `.` is accepted too) |
//! | bracketed IPv6 literal | `[2001:db8::1]` or `%5B2001:db8::1%5D` | `2001:db8::1` |
//! | colon-free IPv6 literal | `2001-db8--1_ipv6-literal_net` | `2001:db8::1` (`:` written as `-`, suffix `.ipv6-literal.net`, the convention Windows UNC paths use; never resolved through DNS) |
//!
//! Names may contain only ASCII letters, digits, `-`, `_` and `.` (after decoding), at most
//! 253 characters, no empty labels; one trailing dot is dropped; names are lower-cased. IPv6
//! zone identifiers (`%25eth0`) are refused. Onion hosts (`*.onion`, written `*_onion`) are
//! refused with reason `onion`: this proxy does not route to Tor.
//!
//! Names other than literals (including legacy IPv4 spellings such as `127_1`) are resolved by
//! the proxy, and every resolved address is checked by [`crate::policy`].

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Suffix of the colon-free IPv6 form (after `_` → `.`).
pub const IPV6_LITERAL_SUFFIX: &str = ".ipv6-literal.net";

/// The host part of a target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    /// An IP literal: dialled without any DNS lookup.
    Ip(IpAddr),
    /// A DNS name (lower-case, without trailing dot), resolved by the proxy.
    Name(String),
}

/// A parsed `/v1/<host>/<port>` target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Host to dial.
    pub host: Host,
    /// TCP port.
    pub port: u16,
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.host {
            Host::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]:{}", self.port),
            Host::Ip(IpAddr::V4(ip)) => write!(f, "{ip}:{}", self.port),
            Host::Name(n) => write!(f, "{n}:{}", self.port),
        }
    }
}

/// Why a path is not a valid target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetError {
    /// The path is not under `/v1/`.
    NotFound,
    /// `/v1/...` but not `/v1/<host>/<port>` with a valid host and port.
    BadTarget,
    /// An onion host.
    Onion,
}

/// Parses a request path (without query string) such as `/v1/127_0_0_1/9735`.
pub fn parse_path(path: &str) -> Result<Target, TargetError> {
    let rest = path.strip_prefix("/v1/").ok_or(TargetError::NotFound)?;
    let mut parts = rest.split('/');
    let host = parts.next().ok_or(TargetError::BadTarget)?;
    let port = parts.next().ok_or(TargetError::BadTarget)?;
    if parts.next().is_some() {
        return Err(TargetError::BadTarget);
    }
    let port = parse_port(port).ok_or(TargetError::BadTarget)?;
    let host = parse_host(host)?;
    Ok(Target { host, port })
}

fn parse_port(s: &str) -> Option<u16> {
    if s.is_empty() || s.len() > 5 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    match s.parse::<u16>() {
        Ok(0) | Err(_) => None,
        Ok(p) => Some(p),
    }
}

/// Parses one encoded host segment (see the module documentation).
pub fn parse_host(segment: &str) -> Result<Host, TargetError> {
    let decoded = percent_decode(segment).ok_or(TargetError::BadTarget)?;
    if decoded.is_empty() || decoded.len() > 300 {
        return Err(TargetError::BadTarget);
    }
    if let Some(inner) = decoded.strip_prefix('[') {
        let inner = inner.strip_suffix(']').ok_or(TargetError::BadTarget)?;
        let ip: Ipv6Addr = inner.parse().map_err(|_| TargetError::BadTarget)?;
        return Ok(Host::Ip(IpAddr::V6(ip)));
    }
    if !decoded
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return Err(TargetError::BadTarget);
    }
    let mut name = decoded.replace('_', ".").to_ascii_lowercase();
    if name.ends_with('.') {
        name.pop();
    }
    if name.is_empty()
        || name.len() > 253
        || name
            .split('.')
            .any(|label| label.is_empty() || label.len() > 63)
    {
        return Err(TargetError::BadTarget);
    }
    if name == "onion" || name.ends_with(".onion") {
        return Err(TargetError::Onion);
    }
    if let Some(groups) = name.strip_suffix(IPV6_LITERAL_SUFFIX) {
        let ip: Ipv6Addr = groups
            .replace('-', ":")
            .parse()
            .map_err(|_| TargetError::BadTarget)?;
        return Ok(Host::Ip(IpAddr::V6(ip)));
    }
    if let Ok(ip) = name.parse::<Ipv4Addr>() {
        return Ok(Host::Ip(IpAddr::V4(ip)));
    }
    Ok(Host::Name(name))
}

/// Decodes `%XX` escapes; `None` on a malformed escape or a non-ASCII result.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hi = hex(*bytes.get(i + 1)?)?;
            let lo = hex(*bytes.get(i + 2)?)?;
            out.push(hi << 4 | lo);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    if !out.is_ascii() {
        return None;
    }
    String::from_utf8(out).ok()
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Host {
        Host::Ip(s.parse().unwrap())
    }

    #[test]
    fn public_proxy_encoding() {
        let t = parse_path("/v1/127_0_0_1/9735").unwrap();
        assert_eq!(t.host, ip("127.0.0.1"));
        assert_eq!(t.port, 9735);
        let t = parse_path("/v1/node_Example_com/9735").unwrap();
        assert_eq!(t.host, Host::Name("node.example.com".into()));
        assert_eq!(
            parse_path("/v1/node.example.com./1").unwrap().host,
            Host::Name("node.example.com".into())
        );
        assert_eq!(
            parse_path("/v1/localhost/9735").unwrap().host,
            Host::Name("localhost".into())
        );
        // Legacy IPv4 spellings are names: resolved, then checked by the policy.
        assert_eq!(
            parse_path("/v1/127_1/9735").unwrap().host,
            Host::Name("127.1".into())
        );
    }

    #[test]
    fn ipv6_forms() {
        for p in [
            "/v1/[2001:db8::1]/9735",
            "/v1/%5B2001:db8::1%5D/9735",
            "/v1/%5b2001%3Adb8%3A%3A1%5d/9735",
            "/v1/2001-db8--1_ipv6-literal_net/9735",
            "/v1/2001-DB8--1.IPV6-LITERAL.NET/9735",
        ] {
            assert_eq!(parse_path(p).unwrap().host, ip("2001:db8::1"), "{p}");
        }
        assert_eq!(parse_path("/v1/[::1]/9735").unwrap().host, ip("::1"));
        assert_eq!(
            parse_path("/v1/--1_ipv6-literal_net/9735").unwrap().host,
            ip("::1")
        );
        assert_eq!(
            parse_path("/v1/[::ffff:127.0.0.1]/9735").unwrap().host,
            ip("::ffff:127.0.0.1")
        );
        assert_eq!(
            parse_path("/v1/--ffff-127_0_0_1_ipv6-literal_net/9735")
                .unwrap()
                .host,
            ip("::ffff:127.0.0.1")
        );
        // Zone identifiers, unbalanced brackets, bad groups.
        for p in [
            "/v1/[fe80::1%25eth0]/9735",
            "/v1/[::1/9735",
            "/v1/::1/9735",
            "/v1/fe80--1seth0_ipv6-literal_net/9735",
            "/v1/12345--1_ipv6-literal_net/9735",
            "/v1/[127.0.0.1]/9735",
        ] {
            assert_eq!(parse_path(p), Err(TargetError::BadTarget), "{p}");
        }
    }

    #[test]
    fn onion_refused() {
        let onion = "/v1/2gzyxa5ihm7nsggfxnu52rck2vv4rvmdlkiu3zzui5du4xyclen53wid_onion/9735";
        assert_eq!(parse_path(onion), Err(TargetError::Onion));
        assert_eq!(parse_path("/v1/abc.ONION/9735"), Err(TargetError::Onion));
    }

    #[test]
    fn bad_paths() {
        assert_eq!(parse_path("/"), Err(TargetError::NotFound));
        assert_eq!(parse_path("/v2/a/1"), Err(TargetError::NotFound));
        for p in [
            "/v1/",
            "/v1/host",
            "/v1/host/",
            "/v1/host/0",
            "/v1/host/65536",
            "/v1/host/+80",
            "/v1/host/9735/x",
            "/v1//9735",
            "/v1/a__b/9735",
            "/v1/a%2Fb/9735",
            "/v1/a%zz/9735",
            "/v1/h%C3%A9/9735",
            "/v1/a b/9735",
            "/v1/a@b/9735",
        ] {
            assert_eq!(parse_path(p), Err(TargetError::BadTarget), "{p}");
        }
    }
}
