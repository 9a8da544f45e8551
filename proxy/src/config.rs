//! Command-line and environment configuration.
//!
//! Every flag can also be given as an environment variable (`WASM_LN_PROXY_*`); a flag on the
//! command line wins over the environment. List-valued variables are comma-separated; boolean
//! variables accept true/false, 1/0, yes/no, on/off.

use std::net::SocketAddr;
use std::time::Duration;

use clap::builder::BoolishValueParser;
use clap::{Parser, ValueEnum};

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable `key=value` lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// WebSocket-to-TCP proxy for browser Lightning nodes.
///
/// `GET /v1/<host>/<port>` upgrades to a WebSocket whose binary frames are relayed to and from a
/// TCP connection to `<host>:<port>`. Hosts are written with `.` as `_`
/// (`/v1/node_example_com/9735`); IPv6 literals as `[2001:db8::1]` (raw or percent-encoded) or
/// `2001-db8--1_ipv6-literal_net`. Private, loopback and other non-public addresses and onion
/// hosts are refused. See proxy/README.md.
#[derive(Debug, Clone, Parser)]
#[command(name = "wasm-ln-proxy", version, about, long_about)]
pub struct Config {
    /// Address to listen on (plain HTTP/WebSocket; put TLS in front, see README).
    #[arg(long, env = "WASM_LN_PROXY_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Also dial loopback, private (RFC 1918, ULA), link-local and CGNAT addresses.
    /// For tests and private deployments only. Unspecified, multicast and broadcast
    /// addresses stay refused.
    #[arg(long, env = "WASM_LN_PROXY_ALLOW_PRIVATE", value_parser = BoolishValueParser::new())]
    pub allow_private: bool,

    /// Target TCP port that may be dialled (repeatable; env: comma-separated).
    #[arg(
        long = "allow-port",
        value_name = "PORT",
        env = "WASM_LN_PROXY_ALLOW_PORT",
        value_delimiter = ',',
        default_values_t = [9735u16]
    )]
    pub allow_ports: Vec<u16>,

    /// Allowed browser `Origin` (repeatable; env: comma-separated), e.g.
    /// `https://wallet.example`. When any is given, requests without a matching
    /// `Origin` header are refused. Default: any origin.
    #[arg(
        long = "allow-origin",
        value_name = "ORIGIN",
        env = "WASM_LN_PROXY_ALLOW_ORIGIN",
        value_delimiter = ','
    )]
    pub allow_origins: Vec<String>,

    /// Maximum concurrent relayed connections in total.
    #[arg(long, env = "WASM_LN_PROXY_MAX_CONNECTIONS", default_value_t = 10_000)]
    pub max_connections: usize,

    /// Maximum concurrent relayed connections per client IP (IPv6 clients are grouped by /64).
    #[arg(
        long,
        env = "WASM_LN_PROXY_MAX_CONNECTIONS_PER_IP",
        default_value_t = 16
    )]
    pub max_connections_per_ip: usize,

    /// Time allowed to resolve the target and to open its TCP connection (e.g. `10s`, `500ms`).
    #[arg(long, env = "WASM_LN_PROXY_CONNECT_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub connect_timeout: Duration,

    /// Close a relay after this long without data in either direction.
    #[arg(long, env = "WASM_LN_PROXY_IDLE_TIMEOUT", default_value = "300s", value_parser = parse_duration)]
    pub idle_timeout: Duration,

    /// Time a client has to send its HTTP request headers.
    #[arg(long, env = "WASM_LN_PROXY_HANDSHAKE_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub handshake_timeout: Duration,

    /// Maximum size in bytes of a WebSocket frame or message from a client (larger: close 1009).
    /// A Lightning transport message is at most 65,569 bytes on the wire.
    #[arg(long, env = "WASM_LN_PROXY_MAX_FRAME_SIZE", default_value_t = 128 * 1024)]
    pub max_frame_size: usize,

    /// Size in bytes of each read from the target; also the largest frame sent to the client.
    /// At most one such buffer is in flight per direction (backpressure).
    #[arg(long, env = "WASM_LN_PROXY_BUFFER_SIZE", default_value_t = 16 * 1024)]
    pub buffer_size: usize,

    /// Take the client IP (for per-IP limits and logs) from the last `X-Forwarded-For` entry.
    /// Only enable when every request reaches the proxy through your own reverse proxy.
    #[arg(long, env = "WASM_LN_PROXY_TRUST_FORWARDED_FOR", value_parser = BoolishValueParser::new())]
    pub trust_forwarded_for: bool,

    /// On SIGTERM/Ctrl-C, how long to wait for relays to close before exiting.
    #[arg(long, env = "WASM_LN_PROXY_SHUTDOWN_GRACE", default_value = "5s", value_parser = parse_duration)]
    pub shutdown_grace: Duration,

    /// Tokio worker threads; 0 = one per CPU, 1 = a single-threaded runtime.
    #[arg(long, env = "WASM_LN_PROXY_WORKER_THREADS", default_value_t = 0)]
    pub worker_threads: usize,

    /// Log format (filter with RUST_LOG, default `info`).
    #[arg(long, env = "WASM_LN_PROXY_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

impl Config {
    /// Checks values clap cannot check on its own.
    pub fn validate(&self) -> Result<(), String> {
        if self.allow_ports.is_empty() {
            return Err("at least one --allow-port is needed".into());
        }
        if self.allow_ports.contains(&0) {
            return Err("--allow-port 0 is not a port".into());
        }
        if self.max_connections == 0 || self.max_connections_per_ip == 0 {
            return Err("connection limits must be at least 1".into());
        }
        if self.max_frame_size < 1024 {
            return Err("--max-frame-size must be at least 1024".into());
        }
        if !(512..=1 << 20).contains(&self.buffer_size) {
            return Err("--buffer-size must be between 512 and 1048576".into());
        }
        for d in [
            self.connect_timeout,
            self.idle_timeout,
            self.handshake_timeout,
        ] {
            if d.is_zero() {
                return Err("timeouts must be greater than zero".into());
            }
        }
        // Deadlines are computed as `Instant + duration`, which panics on overflow (e.g.
        // `--idle-timeout 9999999999h` would panic every relay).
        for d in [
            self.connect_timeout,
            self.idle_timeout,
            self.handshake_timeout,
            self.shutdown_grace,
        ] {
            if d > MAX_DURATION {
                return Err("durations must be at most 365 days".into());
            }
        }
        Ok(())
    }
}

/// Longest accepted timeout or grace period.
pub const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 3600);

/// Parses `300ms`, `10s`, `5m`, `1h` or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("invalid duration {s:?} (use e.g. 300ms, 10s, 5m)"))?;
    let d = match unit {
        "ms" => Duration::from_millis(n),
        "" | "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n.saturating_mul(60)),
        "h" => Duration::from_secs(n.saturating_mul(3600)),
        _ => return Err(format!("invalid duration unit in {s:?} (ms, s, m, h)")),
    };
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("300ms"), Ok(Duration::from_millis(300)));
        assert_eq!(parse_duration("10"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("x").is_err());
        assert!(parse_duration("5d").is_err());
    }

    #[test]
    fn defaults_parse_and_validate() {
        let c = Config::try_parse_from(["wasm-ln-proxy"]).unwrap();
        assert_eq!(c.allow_ports, vec![9735]);
        assert!(!c.allow_private);
        c.validate().unwrap();
        let c = Config::try_parse_from([
            "wasm-ln-proxy",
            "--allow-port",
            "9735",
            "--allow-port",
            "19735",
            "--allow-origin",
            "https://a.example",
        ])
        .unwrap();
        assert_eq!(c.allow_ports, vec![9735, 19735]);
        assert_eq!(c.allow_origins, vec!["https://a.example".to_string()]);
    }

    #[test]
    fn absurd_durations_refused() {
        for flag in [
            "--idle-timeout",
            "--connect-timeout",
            "--handshake-timeout",
            "--shutdown-grace",
        ] {
            let c =
                Config::try_parse_from(["wasm-ln-proxy", flag, "18446744073709551615h"]).unwrap();
            assert!(c.validate().is_err(), "{flag}");
            let c = Config::try_parse_from(["wasm-ln-proxy", flag, "8760h"]).unwrap();
            c.validate().unwrap();
        }
    }
}
