//! Address policy: which resolved addresses the proxy may dial. A pure function over
//! [`IpAddr`], applied to every address a target resolves to, before anything is dialled.
//!
//! Refused unless `--allow-private` ([`Class::Private`]): loopback, RFC 1918, CGNAT
//! 100.64.0.0/10, link-local (incl. 169.254.169.254 cloud metadata), "this network" 0.0.0.0/8,
//! IETF protocol assignments 192.0.0.0/24, documentation (192.0.2.0/24, 198.51.100.0/24,
//! 203.0.113.0/24, 2001:db8::/32, 3fff::/20), benchmarking 198.18.0.0/15 and 2001:2::/48,
//! 6to4 relay anycast 192.88.99.0/24, reserved 240.0.0.0/4, IPv6 ULA fc00::/7, link-local
//! fe80::/10, site-local fec0::/10, discard 100::/64, IETF protocol 2001::/23, local-use NAT64
//! 64:ff9b:1::/48, and every IPv6 address outside global unicast 2000::/3.
//!
//! Always refused ([`Class::Never`]): unspecified (0.0.0.0, ::), multicast, broadcast.
//!
//! IPv6 forms that embed an IPv4 address are judged by that IPv4 address: IPv4-mapped
//! `::ffff:a.b.c.d`, IPv4-compatible `::a.b.c.d`, SIIT `::ffff:0:a.b.c.d`, NAT64
//! `64:ff9b::a.b.c.d` and 6to4 `2002:AABB:CCDD::/48`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// How strict a refusal is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Refused unless `--allow-private`.
    Private,
    /// Refused even with `--allow-private` (not a unicast destination).
    Never,
}

/// A refused address: the range it falls in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused {
    /// Short range name for logs, e.g. `loopback`, `rfc1918`.
    pub range: &'static str,
    /// Whether `--allow-private` lifts the refusal.
    pub class: Class,
}

const fn private(range: &'static str) -> Option<Refused> {
    Some(Refused {
        range,
        class: Class::Private,
    })
}

const fn never(range: &'static str) -> Option<Refused> {
    Some(Refused {
        range,
        class: Class::Never,
    })
}

/// The range `ip` is refused for, if any (ignoring `--allow-private`).
pub fn classify(ip: IpAddr) -> Option<Refused> {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

/// Whether `ip` may be dialled.
pub fn check(ip: IpAddr, allow_private: bool) -> Result<(), Refused> {
    match classify(ip) {
        None => Ok(()),
        Some(r) if allow_private && r.class == Class::Private => Ok(()),
        Some(r) => Err(r),
    }
}

/// Checks every address; the first refused one decides.
pub fn check_all<'a>(
    ips: impl IntoIterator<Item = &'a IpAddr>,
    allow_private: bool,
) -> Result<(), Refused> {
    ips.into_iter().try_for_each(|ip| check(*ip, allow_private))
}

fn in_v4(ip: Ipv4Addr, net: [u8; 4], prefix: u32) -> bool {
    let mask = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix)
    };
    u32::from(ip) & mask == u32::from(Ipv4Addr::from(net)) & mask
}

fn in_v6(ip: Ipv6Addr, net: [u16; 8], prefix: u32) -> bool {
    let mask = if prefix == 0 {
        0
    } else {
        u128::MAX << (128 - prefix)
    };
    u128::from(ip) & mask == u128::from(Ipv6Addr::from(net)) & mask
}

fn classify_v4(ip: Ipv4Addr) -> Option<Refused> {
    if ip.is_unspecified() {
        return never("unspecified");
    }
    if ip.is_broadcast() {
        return never("broadcast");
    }
    if in_v4(ip, [224, 0, 0, 0], 4) {
        return never("multicast");
    }
    const TABLE: &[([u8; 4], u32, &str)] = &[
        ([0, 0, 0, 0], 8, "this_network"),
        ([10, 0, 0, 0], 8, "rfc1918"),
        ([100, 64, 0, 0], 10, "cgnat"),
        ([127, 0, 0, 0], 8, "loopback"),
        ([169, 254, 0, 0], 16, "link_local"),
        ([172, 16, 0, 0], 12, "rfc1918"),
        ([192, 0, 0, 0], 24, "ietf_protocol"),
        ([192, 0, 2, 0], 24, "documentation"),
        ([192, 88, 99, 0], 24, "6to4_relay"),
        ([192, 168, 0, 0], 16, "rfc1918"),
        ([198, 18, 0, 0], 15, "benchmarking"),
        ([198, 51, 100, 0], 24, "documentation"),
        ([203, 0, 113, 0], 24, "documentation"),
        ([240, 0, 0, 0], 4, "reserved"),
    ];
    TABLE
        .iter()
        .find(|(net, prefix, _)| in_v4(ip, *net, *prefix))
        .and_then(|(_, _, name)| private(name))
}

fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let o = ip.octets();
    let last4 = Ipv4Addr::new(o[12], o[13], o[14], o[15]);
    if in_v6(ip, [0, 0, 0, 0, 0, 0xffff, 0, 0], 96) // IPv4-mapped
        || in_v6(ip, [0, 0, 0, 0, 0, 0, 0, 0], 96) // IPv4-compatible (deprecated)
        || in_v6(ip, [0, 0, 0, 0, 0xffff, 0, 0, 0], 96) // SIIT IPv4-translated
        || in_v6(ip, [0x64, 0xff9b, 0, 0, 0, 0, 0, 0], 96)
    // NAT64 well-known prefix
    {
        return Some(last4);
    }
    if in_v6(ip, [0x2002, 0, 0, 0, 0, 0, 0, 0], 16) {
        // 6to4: 2002:AABB:CCDD::/48 carries IPv4 AA.BB.CC.DD.
        return Some(Ipv4Addr::new(o[2], o[3], o[4], o[5]));
    }
    None
}

fn classify_v6(ip: Ipv6Addr) -> Option<Refused> {
    if ip.is_unspecified() {
        return never("unspecified");
    }
    if ip.is_loopback() {
        return private("loopback");
    }
    if in_v6(ip, [0xff00, 0, 0, 0, 0, 0, 0, 0], 8) {
        return never("multicast");
    }
    if let Some(v4) = embedded_v4(ip) {
        return classify_v4(v4);
    }
    const TABLE: &[([u16; 8], u32, &str)] = &[
        ([0x64, 0xff9b, 1, 0, 0, 0, 0, 0], 48, "nat64_local"),
        ([0x100, 0, 0, 0, 0, 0, 0, 0], 64, "discard"),
        ([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32, "documentation"),
        ([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20, "documentation"),
        ([0x2001, 0x2, 0, 0, 0, 0, 0, 0], 48, "benchmarking"),
        ([0x2001, 0, 0, 0, 0, 0, 0, 0], 23, "ietf_protocol"),
        ([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7, "unique_local"),
        ([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10, "link_local"),
        ([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10, "site_local"),
    ];
    if let Some((_, _, name)) = TABLE
        .iter()
        .find(|(net, prefix, _)| in_v6(ip, *net, *prefix))
    {
        return private(name);
    }
    if !in_v6(ip, [0x2000, 0, 0, 0, 0, 0, 0, 0], 3) {
        return private("reserved");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(s: &str) -> Option<&'static str> {
        classify(s.parse().unwrap()).map(|r| r.range)
    }

    #[test]
    fn public_addresses_allowed() {
        for s in [
            "1.1.1.1",
            "8.8.8.8",
            "100.63.255.255",
            "100.128.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.0.1.1",
            "198.17.255.255",
            "198.20.0.0",
            "223.255.255.255",
            "2606:4700:4700::1111",
            "2a00:1450::1",
            "2001:4860:4860::8888",
            "2002:0808:0808::1", // 6to4 of 8.8.8.8
            "64:ff9b::808:808",  // NAT64 of 8.8.8.8
            "::ffff:8.8.8.8",
        ] {
            assert_eq!(check(s.parse().unwrap(), false), Ok(()), "{s}");
        }
    }

    #[test]
    fn ipv4_ranges_refused() {
        let cases = [
            ("0.0.0.0", "unspecified"),
            ("0.1.2.3", "this_network"),
            ("10.0.0.1", "rfc1918"),
            ("10.255.255.255", "rfc1918"),
            ("100.64.0.1", "cgnat"),
            ("100.127.255.254", "cgnat"),
            ("127.0.0.1", "loopback"),
            ("127.255.255.254", "loopback"),
            ("169.254.169.254", "link_local"),
            ("169.254.0.1", "link_local"),
            ("172.16.0.1", "rfc1918"),
            ("172.31.255.255", "rfc1918"),
            ("192.0.0.8", "ietf_protocol"),
            ("192.0.2.1", "documentation"),
            ("192.88.99.1", "6to4_relay"),
            ("192.168.1.1", "rfc1918"),
            ("198.18.0.1", "benchmarking"),
            ("198.19.255.255", "benchmarking"),
            ("198.51.100.7", "documentation"),
            ("203.0.113.9", "documentation"),
            ("224.0.0.1", "multicast"),
            ("239.255.255.250", "multicast"),
            ("240.0.0.1", "reserved"),
            ("255.255.255.255", "broadcast"),
        ];
        for (ip, range) in cases {
            assert_eq!(refused(ip), Some(range), "{ip}");
            let v4: Ipv4Addr = ip.parse().unwrap();
            // Every IPv6 form that embeds this IPv4 address is refused for the same reason.
            let o = v4.octets();
            let forms = [
                v4.to_ipv6_mapped().to_string(),
                format!("::ffff:0:{ip}"),
                format!("64:ff9b::{ip}"),
                format!("2002:{:02x}{:02x}:{:02x}{:02x}::1", o[0], o[1], o[2], o[3]),
            ];
            for f in forms {
                assert_eq!(refused(&f), Some(range), "{f}");
            }
            // IPv4-compatible ::a.b.c.d (except ::0.0.0.0 = :: and ::0.0.0.1 = ::1).
            if u32::from(v4) > 1 {
                assert_eq!(refused(&format!("::{ip}")), Some(range), "::{ip}");
            }
        }
    }

    #[test]
    fn ipv6_ranges_refused() {
        let cases = [
            ("::", "unspecified"),
            ("::1", "loopback"),
            ("::2", "this_network"), // IPv4-compatible ::0.0.0.2
            ("100::1", "discard"),
            ("100::ffff:ffff:ffff:ffff", "discard"),
            ("64:ff9b:1::1", "nat64_local"),
            ("2001:db8::1", "documentation"),
            ("2001:db8:ffff::1", "documentation"),
            ("3fff::1", "documentation"),
            ("2001:2::1", "benchmarking"),
            ("2001::1", "ietf_protocol"),
            ("fc00::1", "unique_local"),
            ("fd12:3456::1", "unique_local"),
            ("fe80::1", "link_local"),
            ("febf::1", "link_local"),
            ("fec0::1", "site_local"),
            ("ff02::1", "multicast"),
            ("ff05::2", "multicast"),
            ("4000::1", "reserved"),
            ("1234::1", "reserved"),
            ("::ffff:127.0.0.1", "loopback"),
            ("::127.0.0.1", "loopback"),
            ("64:ff9b::7f00:1", "loopback"),
            ("64:ff9b::a9fe:a9fe", "link_local"),
        ];
        for (ip, range) in cases {
            assert_eq!(refused(ip), Some(range), "{ip}");
        }
    }

    #[test]
    fn tunnel_and_translation_forms_refused() {
        let cases = [
            // 6to4 of refused IPv4 addresses.
            ("2002:7f00:1::", "loopback"),
            ("2002:a9fe:a9fe::1", "link_local"),
            ("2002:c0a8:101:ffff::1", "rfc1918"),
            ("2002:6440:1::1", "cgnat"),
            // Teredo 2001::/32 (inside the IETF protocol block).
            ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "ietf_protocol"),
            ("2001:0:53aa:64c:0:0:0:1", "ietf_protocol"),
            // Local-use NAT64 is refused whatever IPv4 address it carries.
            ("64:ff9b:1::808:808", "nat64_local"),
            ("64:ff9b:1:ffff::1", "nat64_local"),
            // Well-known NAT64 prefix, IPv4-mapped and SIIT of the metadata address.
            ("64:ff9b::169.254.169.254", "link_local"),
            ("::ffff:169.254.169.254", "link_local"),
            ("::ffff:0:169.254.169.254", "link_local"),
            ("::169.254.169.254", "link_local"),
            // Site-local, multicast of every scope, the unspecified and loopback addresses.
            ("fec0::1", "site_local"),
            ("feff:ffff::1", "site_local"),
            ("ff00::", "multicast"),
            ("ff0e::1", "multicast"),
            ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "multicast"),
            ("::", "unspecified"),
            ("::1", "loopback"),
            ("fd00:ec2::254", "unique_local"), // AWS IPv6 metadata
        ];
        for (ip, range) in cases {
            assert_eq!(refused(ip), Some(range), "{ip}");
            assert!(check(ip.parse().unwrap(), false).is_err(), "{ip}");
        }
        // Multicast/broadcast/unspecified embedded in IPv6 stay refused with --allow-private.
        for ip in [
            "::ffff:255.255.255.255",
            "64:ff9b::224.0.0.1",
            "2002:e000:1::",
        ] {
            assert_eq!(
                check(ip.parse().unwrap(), true).map_err(|r| r.class),
                Err(Class::Never),
                "{ip}"
            );
        }
    }

    #[test]
    fn allow_private_lifts_only_private() {
        for s in [
            "127.0.0.1",
            "::1",
            "10.1.2.3",
            "fd00::1",
            "::ffff:192.168.0.1",
            "100.64.1.1",
        ] {
            assert_eq!(check(s.parse().unwrap(), true), Ok(()), "{s}");
            assert!(check(s.parse().unwrap(), false).is_err(), "{s}");
        }
        for s in [
            "0.0.0.0",
            "::",
            "255.255.255.255",
            "224.0.0.1",
            "ff02::1",
            "::ffff:0.0.0.0",
        ] {
            assert_eq!(
                check(s.parse().unwrap(), true).map_err(|r| r.class),
                Err(Class::Never),
                "{s}"
            );
        }
    }

    #[test]
    fn check_all_refuses_if_any_refused() {
        let ips: Vec<IpAddr> = vec!["8.8.8.8".parse().unwrap(), "10.0.0.1".parse().unwrap()];
        assert_eq!(check_all(&ips, false).map_err(|r| r.range), Err("rfc1918"));
        assert_eq!(check_all(&ips[..1], false), Ok(()));
    }
}
