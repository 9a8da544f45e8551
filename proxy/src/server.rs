//! HTTP front: `/healthz`, `/metrics`, and the `/v1/<host>/<port>` WebSocket upgrade with
//! every pre-upgrade check.

use std::convert::Infallible;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::WebSocketStream;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use crate::config::Config;
use crate::limits::{LimitError, Limiter, Permit};
use crate::metrics::Metrics;
use crate::policy;
use crate::reason::Refusal;
use crate::relay::{self, RelayParams};
use crate::target::{self, Host, Target, TargetError};

/// Read buffer of the WebSocket codec per connection (eagerly allocated, so kept small).
const WS_READ_BUFFER: usize = 4 * 1024;

/// Largest HTTP request head (request line + headers) a client may send; hyper's default
/// (~400 KiB) would let every not-yet-upgraded connection pin that much memory.
pub const MAX_REQUEST_HEAD: usize = 16 * 1024;

struct State {
    config: Config,
    metrics: Arc<Metrics>,
    limiter: Arc<Limiter>,
    /// Caps HTTP connections that have not (yet) become relays, so a client cannot hold an
    /// unbounded number of idle or slow pre-upgrade connections (file descriptors, memory).
    http_limiter: Arc<Limiter>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
    ws_config: WebSocketConfig,
}

/// A running proxy.
pub struct Proxy {
    local_addr: SocketAddr,
    shutdown: CancellationToken,
    metrics: Arc<Metrics>,
    join: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// The address the proxy listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The proxy's metrics.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Starts a graceful shutdown: stop accepting, close relays (1001), finish.
    pub fn shutdown(&self) {
        self.shutdown.cancel();
    }

    /// Waits until the proxy has stopped (after [`Proxy::shutdown`]).
    pub async fn wait(self) {
        let _ = self.join.await;
    }
}

/// Binds `config.listen` and starts serving in the background on the current runtime.
pub async fn start(config: Config) -> io::Result<Proxy> {
    config
        .validate()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let socket = match config.listen {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.bind(config.listen)?;
    let listener = socket.listen(4096)?;
    let local_addr = listener.local_addr()?;
    let metrics = Arc::new(Metrics::new());
    let shutdown = CancellationToken::new();
    let ws_config = WebSocketConfig::default()
        .read_buffer_size(WS_READ_BUFFER)
        .write_buffer_size(0)
        .max_write_buffer_size(config.buffer_size.max(config.max_frame_size) + 64 * 1024)
        .max_message_size(Some(config.max_frame_size))
        .max_frame_size(Some(config.max_frame_size));
    let state = Arc::new(State {
        limiter: Limiter::new(config.max_connections, config.max_connections_per_ip),
        // Behind a trusted reverse proxy every TCP peer is that proxy, and the real client is
        // only known from the request headers: then only the total applies here.
        http_limiter: Limiter::new(
            config.max_connections,
            if config.trust_forwarded_for {
                config.max_connections
            } else {
                config.max_connections_per_ip
            },
        ),
        config,
        metrics: Arc::clone(&metrics),
        shutdown: shutdown.clone(),
        tracker: TaskTracker::new(),
        ws_config,
    });
    info!(listen = %local_addr, allow_private = state.config.allow_private,
        allow_ports = ?state.config.allow_ports, "wasm-ln-proxy listening");
    let join = tokio::spawn(accept_loop(listener, state));
    Ok(Proxy {
        local_addr,
        shutdown,
        metrics,
        join,
    })
}

async fn accept_loop(listener: TcpListener, state: Arc<State>) {
    loop {
        tokio::select! {
            _ = state.shutdown.cancelled() => break,
            r = listener.accept() => match r {
                Ok((stream, peer)) => match state.http_limiter.try_acquire(peer.ip()) {
                    Ok(permit) => {
                        let st = Arc::clone(&state);
                        state.tracker.spawn(serve_conn(stream, peer, st, permit));
                    }
                    Err(e) => refuse_accepted(&stream, peer, e, &state),
                },
                Err(e) => {
                    // E.g. out of file descriptors: back off instead of spinning.
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }
    drop(listener);
    info!(
        open = state.limiter.total(),
        "shutting down: stopped accepting"
    );
    state.tracker.close();
    if tokio::time::timeout(state.config.shutdown_grace, state.tracker.wait())
        .await
        .is_err()
    {
        warn!("shutdown grace period over; dropping remaining connections");
    }
    info!("shutdown complete");
}

/// Refuses a just-accepted connection over the pre-upgrade cap: a best-effort canned HTTP
/// refusal (never waits for the client), then the connection is closed.
fn refuse_accepted(stream: &TcpStream, peer: SocketAddr, e: LimitError, state: &State) {
    let r = match e {
        LimitError::Total => Refusal::ServerFull,
        LimitError::PerIp => Refusal::PerIpLimit,
    };
    state.metrics.refused(r);
    info!(client = %peer.ip().to_canonical(), path = "-", reason = r.code(),
        detail = "too many pending HTTP connections", "refused");
    let body = format!("refused: {}\n", r.code());
    let status = r.status();
    let resp = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: text/plain; charset=utf-8\r\nx-refused: {}\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{body}",
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        r.code(),
        body.len(),
    );
    let _ = stream.try_write(resp.as_bytes());
}

async fn serve_conn(stream: TcpStream, peer: SocketAddr, state: Arc<State>, permit: Permit) {
    // Held until the connection ends or is upgraded (then the relay's own permit counts).
    let _permit = permit;
    let _ = stream.set_nodelay(true);
    let st = Arc::clone(&state);
    let svc = service_fn(move |req| {
        let st = Arc::clone(&st);
        async move { Ok::<_, Infallible>(handle(req, peer, st).await) }
    });
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(state.config.handshake_timeout)
        .max_buf_size(MAX_REQUEST_HEAD)
        .serve_connection(TokioIo::new(stream), svc)
        .with_upgrades();
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = state.shutdown.cancelled() => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(Duration::from_secs(1), conn).await;
        }
    }
}

fn text_response(
    status: StatusCode,
    body: String,
    content_type: &'static str,
) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

fn refusal_response(r: Refusal) -> Response<Full<Bytes>> {
    let mut resp = text_response(
        r.status(),
        format!("refused: {}\n", r.code()),
        "text/plain; charset=utf-8",
    );
    resp.headers_mut()
        .insert("x-refused", HeaderValue::from_static(r.code()));
    if r == Refusal::NotWebsocket {
        resp.headers_mut().insert(
            header::SEC_WEBSOCKET_VERSION,
            HeaderValue::from_static("13"),
        );
    }
    resp
}

async fn handle(
    req: Request<Incoming>,
    peer: SocketAddr,
    state: Arc<State>,
) -> Response<Full<Bytes>> {
    match (req.method(), req.uri().path()) {
        (&Method::GET, "/healthz") => {
            text_response(StatusCode::OK, "ok\n".into(), "text/plain; charset=utf-8")
        }
        (&Method::GET, "/metrics") => text_response(
            StatusCode::OK,
            state.metrics.encode(),
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        ),
        _ => proxy_request(req, peer, state).await,
    }
}

/// The client IP: the TCP peer, or the last `X-Forwarded-For` entry when trusted.
fn client_ip(headers: &HeaderMap, peer: SocketAddr, trust_forwarded_for: bool) -> IpAddr {
    if trust_forwarded_for {
        let last = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .last()
            .and_then(|s| s.trim().parse::<IpAddr>().ok());
        if let Some(ip) = last {
            return ip;
        }
    }
    peer.ip().to_canonical()
}

fn has_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

fn is_websocket_upgrade(req: &Request<Incoming>) -> bool {
    let h = req.headers();
    req.method() == Method::GET
        && has_token(h, header::CONNECTION, "upgrade")
        && has_token(h, header::UPGRADE, "websocket")
        && h.get(header::SEC_WEBSOCKET_VERSION).map(|v| v.as_bytes()) == Some(b"13")
        && h.contains_key(header::SEC_WEBSOCKET_KEY)
}

fn origin_allowed(headers: &HeaderMap, allowed: &[String]) -> bool {
    if allowed.is_empty() {
        return true;
    }
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    allowed
        .iter()
        .any(|a| a.trim_end_matches('/').eq_ignore_ascii_case(origin))
}

async fn resolve(target: &Target, timeout: Duration) -> Result<Vec<SocketAddr>, Refusal> {
    let mut addrs: Vec<SocketAddr> = match &target.host {
        Host::Ip(ip) => vec![SocketAddr::new(*ip, target.port)],
        Host::Name(name) => {
            let lookup = tokio::net::lookup_host((name.as_str(), target.port));
            match tokio::time::timeout(timeout, lookup).await {
                Ok(Ok(it)) => it.collect(),
                _ => return Err(Refusal::ResolveFailed),
            }
        }
    };
    for a in &mut addrs {
        a.set_ip(a.ip().to_canonical());
    }
    addrs.dedup();
    if addrs.is_empty() {
        return Err(Refusal::ResolveFailed);
    }
    Ok(addrs)
}

async fn proxy_request(
    mut req: Request<Incoming>,
    peer: SocketAddr,
    state: Arc<State>,
) -> Response<Full<Bytes>> {
    let cfg = &state.config;
    let client = client_ip(req.headers(), peer, cfg.trust_forwarded_for);
    let path = req.uri().path().to_owned();
    let refuse = |r: Refusal, detail: &str| {
        state.metrics.refused(r);
        info!(client = %client, path = %path, reason = r.code(), detail, "refused");
        refusal_response(r)
    };
    if state.shutdown.is_cancelled() {
        return refuse(Refusal::ShuttingDown, "");
    }
    let target = match target::parse_path(&path) {
        Ok(t) => t,
        Err(TargetError::NotFound) => return refuse(Refusal::NotFound, ""),
        Err(TargetError::BadTarget) => return refuse(Refusal::BadTarget, ""),
        Err(TargetError::Onion) => {
            return refuse(Refusal::Onion, "onion hosts are not routed (no Tor)")
        }
    };
    if !is_websocket_upgrade(&req) {
        return refuse(Refusal::NotWebsocket, "");
    }
    if !origin_allowed(req.headers(), &cfg.allow_origins) {
        let origin = req
            .headers()
            .get(header::ORIGIN)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-")
            .to_owned();
        return refuse(Refusal::OriginNotAllowed, &origin);
    }
    if !cfg.allow_ports.contains(&target.port) {
        return refuse(Refusal::PortNotAllowed, &target.to_string());
    }
    let permit = match state.limiter.try_acquire(client) {
        Ok(p) => p,
        Err(LimitError::Total) => return refuse(Refusal::ServerFull, ""),
        Err(LimitError::PerIp) => return refuse(Refusal::PerIpLimit, ""),
    };
    let addrs = match resolve(&target, cfg.connect_timeout).await {
        Ok(a) => a,
        Err(r) => return refuse(r, &target.to_string()),
    };
    let ips: Vec<IpAddr> = addrs.iter().map(|a| a.ip()).collect();
    if let Err(r) = policy::check_all(&ips, cfg.allow_private) {
        let detail = format!("{target} range={}", r.range);
        return refuse(Refusal::PrivateAddress, &detail);
    }
    let Some(key) = req.headers().get(header::SEC_WEBSOCKET_KEY) else {
        return refuse(Refusal::NotWebsocket, "");
    };
    let accept = derive_accept_key(key.as_bytes());
    let on_upgrade = hyper::upgrade::on(&mut req);
    let params = RelayParams {
        addrs,
        connect_timeout: cfg.connect_timeout,
        idle_timeout: cfg.idle_timeout,
        buffer_size: cfg.buffer_size,
        metrics: Arc::clone(&state.metrics),
        shutdown: state.shutdown.clone(),
    };
    let ws_config = state.ws_config;
    let target_str = target.to_string();
    state.tracker.spawn(async move {
        let _permit = permit;
        let started = Instant::now();
        let upgraded = match on_upgrade.await {
            Ok(u) => u,
            Err(e) => {
                info!(client = %client, target = %target_str, error = %e, "upgrade failed");
                return;
            }
        };
        let ws =
            WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, Some(ws_config))
                .await;
        params.metrics.connections.inc();
        params.metrics.open_connections.inc();
        let out = relay::run(ws, &params).await;
        params.metrics.open_connections.dec();
        params.metrics.closed(out.close);
        info!(
            client = %client,
            target = %target_str,
            addr = %out.connected.map(|a| a.to_string()).unwrap_or_else(|| "-".into()),
            bytes_up = out.bytes_up,
            bytes_down = out.bytes_down,
            duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            close_code = out.close.ws_code().unwrap_or(0),
            close_reason = out.close.reason(),
            "relay closed"
        );
    });
    let mut resp = Response::new(Full::new(Bytes::new()));
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = resp.headers_mut();
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    if let Ok(v) = HeaderValue::from_str(&accept) {
        h.insert(header::SEC_WEBSOCKET_ACCEPT, v);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_for() {
        let peer: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let mut h = HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            HeaderValue::from_static("1.1.1.1, 2.2.2.2"),
        );
        assert_eq!(client_ip(&h, peer, false), peer.ip());
        assert_eq!(
            client_ip(&h, peer, true),
            "2.2.2.2".parse::<IpAddr>().unwrap()
        );
        let h = HeaderMap::new();
        assert_eq!(client_ip(&h, peer, true), peer.ip());
    }

    #[test]
    fn origins() {
        let mut h = HeaderMap::new();
        assert!(origin_allowed(&h, &[]));
        let allowed = vec!["https://wallet.example/".to_string()];
        assert!(!origin_allowed(&h, &allowed));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://wallet.example"),
        );
        assert!(origin_allowed(&h, &allowed));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://evil.example"),
        );
        assert!(!origin_allowed(&h, &allowed));
    }
}
