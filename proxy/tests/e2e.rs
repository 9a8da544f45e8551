//! End-to-end tests: a real proxy on 127.0.0.1:0, real loopback TCP targets, a real WebSocket
//! client. No test dials a non-loopback address.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use wasm_ln_proxy::{Config, Proxy};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

const WAIT: Duration = Duration::from_secs(10);

async fn within<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(WAIT, f).await.expect("timed out")
}

async fn start_proxy(args: &[&str]) -> Proxy {
    let mut argv = vec!["wasm-ln-proxy", "--listen", "127.0.0.1:0"];
    argv.extend_from_slice(args);
    let config = Config::try_parse_from(argv).expect("flags");
    wasm_ln_proxy::start(config).await.expect("start")
}

/// A TCP echo server on 127.0.0.1; counts accepted connections.
async fn echo_server() -> (SocketAddr, Arc<AtomicU64>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicU64::new(0));
    let acc = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            acc.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let (mut r, mut w) = s.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    (addr, accepted)
}

async fn ws_request(
    proxy: SocketAddr,
    path: &str,
    origin: Option<&str>,
    rcvbuf: Option<u32>,
) -> Result<Ws, WsError> {
    let mut req = format!("ws://{proxy}{path}").into_client_request()?;
    if let Some(o) = origin {
        req.headers_mut()
            .insert("origin", HeaderValue::from_str(o).unwrap());
    }
    let socket = TcpSocket::new_v4().unwrap();
    if let Some(b) = rcvbuf {
        socket.set_recv_buffer_size(b).unwrap();
    }
    let tcp = socket.connect(proxy).await.unwrap();
    let (ws, _) = tokio_tungstenite::client_async(req, MaybeTlsStream::Plain(tcp)).await?;
    Ok(ws)
}

async fn ws(proxy: SocketAddr, path: &str) -> Ws {
    within(ws_request(proxy, path, None, None))
        .await
        .expect("websocket")
}

/// Expects an HTTP refusal; returns (status, reason code from the body).
async fn refused(proxy: SocketAddr, path: &str, origin: Option<&str>) -> (u16, String) {
    match within(ws_request(proxy, path, origin, None)).await {
        Ok(_) => panic!("{path}: expected a refusal, got a WebSocket"),
        Err(WsError::Http(resp)) => {
            let body = String::from_utf8(resp.body().clone().unwrap_or_default()).unwrap();
            let header = resp
                .headers()
                .get("x-refused")
                .unwrap()
                .to_str()
                .unwrap()
                .to_owned();
            assert_eq!(body.trim(), format!("refused: {header}"), "{path}");
            (resp.status().as_u16(), header)
        }
        Err(e) => panic!("{path}: unexpected error {e}"),
    }
}

/// Reads until a close frame; returns its code and reason.
async fn expect_close(ws: &mut Ws) -> (u16, String) {
    within(async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Close(Some(f)))) => {
                    return (u16::from(f.code), f.reason.to_string())
                }
                Some(Ok(Message::Close(None))) => panic!("close without code"),
                Some(Ok(_)) => continue,
                Some(Err(e)) => panic!("error instead of close: {e}"),
                None => panic!("stream ended without close"),
            }
        }
    })
    .await
}

async fn read_binary(ws: &mut Ws, len: usize) -> Vec<u8> {
    let mut got = Vec::new();
    within(async {
        while got.len() < len {
            match ws.next().await {
                Some(Ok(Message::Binary(b))) => got.extend_from_slice(&b),
                other => panic!("unexpected {other:?}"),
            }
        }
    })
    .await;
    got
}

async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    within(s.read_to_string(&mut out)).await.unwrap();
    let status = out[9..12].parse().unwrap();
    let body = out
        .split_once("\r\n\r\n")
        .map(|x| x.1.to_owned())
        .unwrap_or_default();
    (status, body)
}

fn metric(text: &str, line_prefix: &str) -> u64 {
    text.lines()
        .find(|l| l.starts_with(line_prefix))
        .and_then(|l| l.rsplit(' ').next())
        .map(|v| v.parse::<f64>().unwrap() as u64)
        .unwrap_or_else(|| panic!("no metric {line_prefix}"))
}

async fn bytes_down(proxy: SocketAddr) -> u64 {
    let (_, m) = http_get(proxy, "/metrics").await;
    metric(
        &m,
        "wasm_ln_proxy_bytes_relayed_total{direction=\"target_to_client\"}",
    )
}

async fn bytes_up(proxy: SocketAddr) -> u64 {
    let (_, m) = http_get(proxy, "/metrics").await;
    metric(
        &m,
        "wasm_ln_proxy_bytes_relayed_total{direction=\"client_to_target\"}",
    )
}

fn port_arg(addr: SocketAddr) -> String {
    addr.port().to_string()
}

#[tokio::test]
async fn relays_both_ways_including_multi_frame_messages() {
    let (echo, _) = echo_server().await;
    let port = port_arg(echo);
    let proxy = start_proxy(&["--allow-private", "--allow-port", &port]).await;
    let mut c = ws(proxy.local_addr(), &format!("/v1/127_0_0_1/{port}")).await;
    for size in [1usize, 1000, 65_569, 100_000] {
        let msg: Vec<u8> = (0..size).map(|i| (i * 7 % 251) as u8).collect();
        within(c.send(Message::binary(msg.clone()))).await.unwrap();
        // Larger than --buffer-size (16 KiB): comes back in several frames.
        assert_eq!(read_binary(&mut c, size).await, msg, "size {size}");
    }
    within(c.close(None)).await.unwrap();
    let total = 1 + 1000 + 65_569 + 100_000;
    let (_, m) = http_get(proxy.local_addr(), "/metrics").await;
    assert_eq!(
        metric(
            &m,
            "wasm_ln_proxy_bytes_relayed_total{direction=\"client_to_target\"}"
        ),
        total
    );
    assert_eq!(
        metric(
            &m,
            "wasm_ln_proxy_bytes_relayed_total{direction=\"target_to_client\"}"
        ),
        total
    );
    assert_eq!(metric(&m, "wasm_ln_proxy_connections_total"), 1);
}

#[tokio::test]
async fn name_resolving_to_loopback_relays_with_allow_private() {
    let (echo, _) = echo_server().await;
    let port = port_arg(echo);
    let proxy = start_proxy(&["--allow-private", "--allow-port", &port]).await;
    // `localhost` may resolve to ::1 first (nothing listens there): falls back to 127.0.0.1.
    let mut c = ws(proxy.local_addr(), &format!("/v1/localhost/{port}")).await;
    within(c.send(Message::binary(b"hello".to_vec())))
        .await
        .unwrap();
    assert_eq!(read_binary(&mut c, 5).await, b"hello");
}

#[tokio::test]
async fn target_closing_closes_websocket_with_1000() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = port_arg(listener.local_addr().unwrap());
    tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        s.write_all(b"bye").await.unwrap();
    });
    let proxy = start_proxy(&["--allow-private", "--allow-port", &port]).await;
    let mut c = ws(proxy.local_addr(), &format!("/v1/127_0_0_1/{port}")).await;
    assert_eq!(read_binary(&mut c, 3).await, b"bye");
    assert_eq!(expect_close(&mut c).await, (1000, "target_closed".into()));
}

#[tokio::test]
async fn websocket_closing_closes_target() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = port_arg(listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut got = Vec::new();
        let _ = s.read_to_end(&mut got).await; // returns at EOF
        let _ = tx.send(got);
    });
    let proxy = start_proxy(&["--allow-private", "--allow-port", &port]).await;
    let mut c = ws(proxy.local_addr(), &format!("/v1/127_0_0_1/{port}")).await;
    within(c.send(Message::binary(b"last words".to_vec())))
        .await
        .unwrap();
    within(c.close(None)).await.unwrap();
    // The close is answered, and the target sees EOF after all data.
    let reply = within(c.next()).await;
    assert!(
        matches!(reply, Some(Ok(Message::Close(_))) | None),
        "{reply:?}"
    );
    assert_eq!(within(rx).await.unwrap(), b"last words");
}

#[tokio::test]
async fn text_frames_refused_with_1003() {
    let (echo, _) = echo_server().await;
    let port = port_arg(echo);
    let proxy = start_proxy(&["--allow-private", "--allow-port", &port]).await;
    let mut c = ws(proxy.local_addr(), &format!("/v1/127_0_0_1/{port}")).await;
    within(c.send(Message::text("hi"))).await.unwrap();
    assert_eq!(expect_close(&mut c).await, (1003, "text_frame".into()));
}

#[tokio::test]
async fn frame_size_limit_closes_with_1009() {
    let (echo, _) = echo_server().await;
    let port = port_arg(echo);
    let proxy = start_proxy(&[
        "--allow-private",
        "--allow-port",
        &port,
        "--max-frame-size",
        "4096",
    ])
    .await;
    let mut c = ws(proxy.local_addr(), &format!("/v1/127_0_0_1/{port}")).await;
    within(c.send(Message::binary(vec![1u8; 4096])))
        .await
        .unwrap();
    assert_eq!(read_binary(&mut c, 4096).await.len(), 4096);
    within(c.send(Message::binary(vec![2u8; 4097])))
        .await
        .unwrap();
    assert_eq!(expect_close(&mut c).await, (1009, "frame_too_large".into()));
}

#[tokio::test]
async fn port_allowlist() {
    let (echo, accepted) = echo_server().await;
    let port = port_arg(echo);
    // Default allowlist is 9735 only: the echo port is refused before any dial.
    let proxy = start_proxy(&["--allow-private"]).await;
    let (status, code) = refused(proxy.local_addr(), &format!("/v1/127_0_0_1/{port}"), None).await;
    assert_eq!((status, code.as_str()), (403, "port_not_allowed"));
    assert_eq!(accepted.load(Ordering::SeqCst), 0);
    let proxy2 = start_proxy(&[
        "--allow-private",
        "--allow-port",
        "9735",
        "--allow-port",
        &port,
    ])
    .await;
    let mut c = ws(proxy2.local_addr(), &format!("/v1/127_0_0_1/{port}")).await;
    within(c.send(Message::binary(b"ok".to_vec())))
        .await
        .unwrap();
    assert_eq!(read_binary(&mut c, 2).await, b"ok");
}

#[tokio::test]
async fn loopback_refused_without_allow_private_under_every_spelling() {
    let (echo, accepted) = echo_server().await;
    let port = port_arg(echo);
    let proxy = start_proxy(&["--allow-port", &port]).await;
    for host in [
        "127_0_0_1",
        "127.0.0.1",
        "127_1",
        "127_0_0_2",
        "2130706433",
        "0x7f_0_0_1",
        "[::1]",
        "%5B::1%5D",
        "%5b%3A%3A1%5d",
        "--1_ipv6-literal_net",
        "[::ffff:127.0.0.1]",
        "%5B::ffff:7f00:1%5D",
        "--ffff-127_0_0_1_ipv6-literal_net",
        "[::127.0.0.1]",
        "[64:ff9b::127.0.0.1]",
        "localhost",
        "LOCALHOST",
        "localhost_",
        "0_0_0_0",
        "[::]",
    ] {
        let path = format!("/v1/{host}/{port}");
        let (status, code) = refused(proxy.local_addr(), &path, None).await;
        assert_eq!((status, code.as_str()), (403, "private_address"), "{path}");
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 0, "nothing was dialled");
    let (_, m) = http_get(proxy.local_addr(), "/metrics").await;
    assert_eq!(
        metric(
            &m,
            "wasm_ln_proxy_refusals_total{reason=\"private_address\"}"
        ),
        20
    );
}

#[tokio::test]
async fn onion_bad_paths_and_plain_http() {
    let proxy = start_proxy(&[]).await;
    let a = proxy.local_addr();
    let onion = "/v1/2gzyxa5ihm7nsggfxnu52rck2vv4rvmdlkiu3zzui5du4xyclen53wid_onion/9735";
    assert_eq!(refused(a, onion, None).await, (403, "onion".into()));
    assert_eq!(
        refused(a, "/v1/a%zz/9735", None).await,
        (400, "bad_target".into())
    );
    assert_eq!(
        refused(a, "/v1/host/0", None).await,
        (400, "bad_target".into())
    );
    assert_eq!(
        refused(a, "/v1/[fe80::1%25eth0]/9735", None).await,
        (400, "bad_target".into())
    );
    assert_eq!(refused(a, "/other", None).await, (404, "not_found".into()));
    assert_eq!(
        http_get(a, "/v1/127_0_0_1/9735").await,
        (426, "refused: not_websocket\n".into())
    );
    assert_eq!(http_get(a, "/healthz").await, (200, "ok\n".into()));
    let (status, m) = http_get(a, "/metrics").await;
    assert_eq!(status, 200);
    assert_eq!(
        metric(&m, "wasm_ln_proxy_refusals_total{reason=\"onion\"}"),
        1
    );
    assert_eq!(
        metric(&m, "wasm_ln_proxy_refusals_total{reason=\"bad_target\"}"),
        3
    );
    assert_eq!(metric(&m, "wasm_ln_proxy_open_connections"), 0);
}

#[tokio::test]
async fn per_ip_cap() {
    let (echo, _) = echo_server().await;
    let port = port_arg(echo);
    let proxy = start_proxy(&[
        "--allow-private",
        "--allow-port",
        &port,
        "--max-connections-per-ip",
        "2",
    ])
    .await;
    let path = format!("/v1/127_0_0_1/{port}");
    let a = proxy.local_addr();
    let c1 = ws(a, &path).await;
    let _c2 = ws(a, &path).await;
    assert_eq!(refused(a, &path, None).await, (429, "per_ip_limit".into()));
    drop(c1);
    // The slot is freed once the proxy notices the close.
    within(async {
        loop {
            match ws_request(a, &path, None, None).await {
                Ok(_) => break,
                Err(WsError::Http(_)) => tokio::time::sleep(Duration::from_millis(50)).await,
                Err(e) => panic!("{e}"),
            }
        }
    })
    .await;
}

#[tokio::test]
async fn total_cap() {
    let (echo, _) = echo_server().await;
    let port = port_arg(echo);
    let proxy = start_proxy(&[
        "--allow-private",
        "--allow-port",
        &port,
        "--max-connections",
        "2",
        "--max-connections-per-ip",
        "100",
    ])
    .await;
    let path = format!("/v1/127_0_0_1/{port}");
    let a = proxy.local_addr();
    let _c1 = ws(a, &path).await;
    let _c2 = ws(a, &path).await;
    assert_eq!(refused(a, &path, None).await, (503, "server_full".into()));
}

#[tokio::test]
async fn idle_timeout_closes_with_4000() {
    let (echo, _) = echo_server().await;
    let port = port_arg(echo);
    let proxy = start_proxy(&[
        "--allow-private",
        "--allow-port",
        &port,
        "--idle-timeout",
        "300ms",
    ])
    .await;
    let mut c = ws(proxy.local_addr(), &format!("/v1/127_0_0_1/{port}")).await;
    within(c.send(Message::binary(b"x".to_vec())))
        .await
        .unwrap();
    assert_eq!(read_binary(&mut c, 1).await, b"x");
    assert_eq!(expect_close(&mut c).await, (4000, "idle_timeout".into()));
}

#[tokio::test]
async fn active_relay_outlives_idle_timeout() {
    let (echo, _) = echo_server().await;
    let port = port_arg(echo);
    let proxy = start_proxy(&[
        "--allow-private",
        "--allow-port",
        &port,
        "--idle-timeout",
        "3s",
    ])
    .await;
    let mut c = ws(proxy.local_addr(), &format!("/v1/127_0_0_1/{port}")).await;
    for _ in 0..40 {
        within(c.send(Message::binary(b"p".to_vec())))
            .await
            .unwrap();
        assert_eq!(read_binary(&mut c, 1).await, b"p");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn origin_allowlist() {
    let (echo, _) = echo_server().await;
    let port = port_arg(echo);
    let proxy = start_proxy(&[
        "--allow-private",
        "--allow-port",
        &port,
        "--allow-origin",
        "https://wallet.example",
    ])
    .await;
    let a = proxy.local_addr();
    let path = format!("/v1/127_0_0_1/{port}");
    assert_eq!(
        refused(a, &path, None).await,
        (403, "origin_not_allowed".into())
    );
    assert_eq!(
        refused(a, &path, Some("https://evil.example")).await,
        (403, "origin_not_allowed".into())
    );
    let mut c = within(ws_request(a, &path, Some("https://wallet.example"), None))
        .await
        .unwrap();
    within(c.send(Message::binary(b"o".to_vec())))
        .await
        .unwrap();
    assert_eq!(read_binary(&mut c, 1).await, b"o");
}

#[tokio::test]
async fn connect_failure_closes_with_4001() {
    let closed_port = {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap().port().to_string()
    };
    let proxy = start_proxy(&["--allow-private", "--allow-port", &closed_port]).await;
    let mut c = ws(proxy.local_addr(), &format!("/v1/127_0_0_1/{closed_port}")).await;
    assert_eq!(expect_close(&mut c).await, (4001, "connect_failed".into()));
}

#[tokio::test]
async fn connect_timeout_closes_with_4002() {
    // A loopback listener that never accepts, with its accept queue filled: further SYNs are
    // dropped, so a connect to it hangs.
    let sock = TcpSocket::new_v4().unwrap();
    sock.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = sock.listen(1).unwrap();
    let addr = listener.local_addr().unwrap();
    let mut fillers = Vec::new();
    for _ in 0..4 {
        fillers.push(tokio::spawn(async move {
            let s = tokio::time::timeout(WAIT, TcpStream::connect(addr)).await;
            tokio::time::sleep(WAIT).await;
            drop(s);
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let port = port_arg(addr);
    let proxy = start_proxy(&[
        "--allow-private",
        "--allow-port",
        &port,
        "--connect-timeout",
        "500ms",
    ])
    .await;
    let mut c = ws(proxy.local_addr(), &format!("/v1/127_0_0_1/{port}")).await;
    assert_eq!(expect_close(&mut c).await, (4002, "connect_timeout".into()));
    drop(listener);
    for f in fillers {
        f.abort();
    }
}

/// Polls `f` until it returns the same value for a full second; returns that value.
async fn settle<F, Fut>(mut f: F, max_wait: Duration) -> u64
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = u64>,
{
    let deadline = tokio::time::Instant::now() + max_wait;
    let mut last = f().await;
    let mut stable_since = tokio::time::Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now = f().await;
        if now != last {
            last = now;
            stable_since = tokio::time::Instant::now();
        } else if stable_since.elapsed() >= Duration::from_secs(1) {
            return now;
        }
        assert!(tokio::time::Instant::now() < deadline, "did not settle");
    }
}

const FLOOD_CAP: u64 = 1 << 30;
const BOUND: u64 = 128 << 20;

#[tokio::test]
async fn slow_websocket_reader_stops_proxy_reading_from_target() {
    // The target floods (up to 1 GiB), the WebSocket client never reads.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = port_arg(listener.local_addr().unwrap());
    let written = Arc::new(AtomicU64::new(0));
    let w = written.clone();
    tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let chunk = vec![0x5au8; 64 * 1024];
        while w.load(Ordering::SeqCst) < FLOOD_CAP {
            if s.write_all(&chunk).await.is_err() {
                break;
            }
            w.fetch_add(chunk.len() as u64, Ordering::SeqCst);
        }
    });
    let proxy = start_proxy(&["--allow-private", "--allow-port", &port]).await;
    let a = proxy.local_addr();
    let _c = within(ws_request(
        a,
        &format!("/v1/127_0_0_1/{port}"),
        None,
        Some(64 * 1024),
    ))
    .await
    .unwrap();
    let w2 = written.clone();
    let stalled_at = settle(
        || {
            let w = w2.clone();
            async move { w.load(Ordering::SeqCst) }
        },
        Duration::from_secs(30),
    )
    .await;
    assert!(
        stalled_at < BOUND,
        "target wrote {stalled_at} bytes: proxy kept reading"
    );
    // And the proxy's own count of bytes read from the target is flat and bounded.
    let m1 = bytes_down(a).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let m2 = bytes_down(a).await;
    assert_eq!(m1, m2, "proxy still reading from target");
    assert!(m2 <= stalled_at);
}

#[tokio::test]
async fn slow_target_reader_stops_proxy_reading_from_websocket() {
    // The client floods (up to 1 GiB), the target never reads.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = port_arg(listener.local_addr().unwrap());
    let (hold_tx, hold_rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let (s, _) = listener.accept().await.unwrap();
        let _ = hold_rx.await; // keep the socket open, never read
        drop(s);
    });
    let proxy = start_proxy(&["--allow-private", "--allow-port", &port]).await;
    let a = proxy.local_addr();
    let mut c = ws(a, &format!("/v1/127_0_0_1/{port}")).await;
    let chunk = vec![0xa5u8; 64 * 1024];
    let mut sent = 0u64;
    let mut stalled = false;
    while sent < FLOOD_CAP {
        match tokio::time::timeout(
            Duration::from_secs(2),
            c.send(Message::binary(chunk.clone())),
        )
        .await
        {
            Ok(Ok(())) => sent += chunk.len() as u64,
            Ok(Err(e)) => panic!("{e}"),
            Err(_) => {
                stalled = true;
                break;
            }
        }
    }
    assert!(stalled, "client sent {sent} bytes without backpressure");
    assert!(sent < BOUND, "client sent {sent} bytes");
    let up = settle(|| bytes_up(a), Duration::from_secs(30)).await;
    assert!(up <= sent);
    drop(hold_tx);
}

#[tokio::test]
async fn graceful_shutdown_closes_relays_with_1001() {
    let (echo, _) = echo_server().await;
    let port = port_arg(echo);
    let proxy = start_proxy(&["--allow-private", "--allow-port", &port]).await;
    let a = proxy.local_addr();
    let mut c = ws(a, &format!("/v1/127_0_0_1/{port}")).await;
    within(c.send(Message::binary(b"x".to_vec())))
        .await
        .unwrap();
    assert_eq!(read_binary(&mut c, 1).await, b"x");
    proxy.shutdown();
    assert_eq!(expect_close(&mut c).await, (1001, "shutting_down".into()));
    within(proxy.wait()).await;
    assert!(
        TcpStream::connect(a).await.is_err(),
        "still accepting after shutdown"
    );
}

#[test]
fn close_code_values() {
    assert_eq!(u16::from(CloseCode::from(4000)), 4000);
}

#[tokio::test]
async fn legacy_numeric_ipv4_spellings_resolve_to_refused_loopback() {
    // Not dotted-quad literals, so they go to the system resolver, which reads them as
    // inet_aton numbers (octal, hex, short forms) = 127.0.0.1; the policy refuses the result.
    let (echo, accepted) = echo_server().await;
    let port = port_arg(echo);
    let proxy = start_proxy(&["--allow-port", &port]).await;
    for host in [
        "017700000001",
        "0177_0_0_1",
        "0x7f000001",
        "0X7F_1",
        "127_0_0_01",
        "127_0_1",
        "%30x7f%2E1",
    ] {
        let path = format!("/v1/{host}/{port}");
        let (status, code) = refused(proxy.local_addr(), &path, None).await;
        assert_eq!((status, code.as_str()), (403, "private_address"), "{path}");
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 0, "nothing was dialled");
}

#[tokio::test]
async fn pending_http_connections_capped_per_ip() {
    let (echo, _) = echo_server().await;
    let port = port_arg(echo);
    let proxy = start_proxy(&[
        "--allow-private",
        "--allow-port",
        &port,
        "--max-connections-per-ip",
        "2",
    ])
    .await;
    let a = proxy.local_addr();
    // Two connections that never send a request hold this client's pre-upgrade slots...
    let idle1 = TcpStream::connect(a).await.unwrap();
    let idle2 = TcpStream::connect(a).await.unwrap();
    // ...so a third is refused at once, without the proxy waiting for its request.
    let mut third = TcpStream::connect(a).await.unwrap();
    let mut out = String::new();
    within(third.read_to_string(&mut out)).await.unwrap();
    assert!(out.starts_with("HTTP/1.1 429 "), "{out}");
    assert!(out.contains("x-refused: per_ip_limit\r\n"), "{out}");
    assert!(out.ends_with("\r\n\r\nrefused: per_ip_limit\n"), "{out}");
    // Once they are gone, relays are admitted again.
    drop((idle1, idle2));
    let path = format!("/v1/127_0_0_1/{port}");
    let mut c = within(async {
        loop {
            match ws_request(a, &path, None, None).await {
                Ok(c) => break c,
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    })
    .await;
    within(c.send(Message::binary(b"ok".to_vec())))
        .await
        .unwrap();
    assert_eq!(read_binary(&mut c, 2).await, b"ok");
}

#[tokio::test]
async fn handshake_timeout_closes_slow_http_clients() {
    let proxy = start_proxy(&["--handshake-timeout", "300ms"]).await;
    let a = proxy.local_addr();
    let mut silent = TcpStream::connect(a).await.unwrap();
    let mut partial = TcpStream::connect(a).await.unwrap();
    partial
        .write_all(b"GET /v1/127_0_0_1/9735 HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    // Keep-alive: after one answered request, the wait for the next head is limited too.
    let mut kept = TcpStream::connect(a).await.unwrap();
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let t = std::time::Instant::now();
    for s in [&mut silent, &mut partial, &mut kept] {
        let mut buf = Vec::new();
        // EOF (or a reset) once the proxy gives up on the request head.
        let _ = within(s.read_to_end(&mut buf)).await;
        assert!(!String::from_utf8_lossy(&buf).contains(" 101 "));
    }
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
}

#[tokio::test]
async fn oversized_request_head_refused() {
    let proxy = start_proxy(&[]).await;
    let a = proxy.local_addr();
    let get = |extra: usize| async move {
        let mut s = TcpStream::connect(a).await.unwrap();
        let req = format!(
            "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: {}\r\nConnection: close\r\n\r\n",
            "a".repeat(extra)
        );
        let _ = s.write_all(req.as_bytes()).await; // may fail: the proxy gave up
        let mut out = Vec::new();
        let _ = within(s.read_to_end(&mut out)).await; // EOF, or a reset
        String::from_utf8_lossy(&out).into_owned()
    };
    assert!(get(4 * 1024).await.starts_with("HTTP/1.1 200"));
    // 64 KiB of headers: within hyper's default (~400 KiB), over the proxy's 16 KiB.
    let out = get(64 * 1024).await;
    assert!(!out.starts_with("HTTP/1.1 200"), "{out}");
}

#[tokio::test]
async fn fragmented_message_over_limit_closes_with_1009() {
    use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
    use tokio_tungstenite::tungstenite::protocol::frame::Frame;
    let (echo, accepted) = echo_server().await;
    let port = port_arg(echo);
    let proxy = start_proxy(&[
        "--allow-private",
        "--allow-port",
        &port,
        "--max-frame-size",
        "4096",
    ])
    .await;
    let mut c = ws(proxy.local_addr(), &format!("/v1/127_0_0_1/{port}")).await;
    // Each frame is within the limit; the reassembled message (3 x 2000 bytes) is not.
    let part = || bytes::Bytes::from(vec![3u8; 2000]);
    let frames = [
        Frame::message(part(), OpCode::Data(Data::Binary), false),
        Frame::message(part(), OpCode::Data(Data::Continue), false),
        Frame::message(part(), OpCode::Data(Data::Continue), true),
    ];
    for f in frames {
        within(c.send(Message::Frame(f))).await.unwrap();
    }
    assert_eq!(expect_close(&mut c).await, (1009, "frame_too_large".into()));
    assert_eq!(bytes_up(proxy.local_addr()).await, 0, "nothing relayed");
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
}
