//! Load generator and echo server for `pkg-scripts/bench-proxy.sh` (not a test).
//!
//! * `bench echo --listen 127.0.0.2:19735` — TCP echo server.
//! * `bench load --proxy 127.0.0.1:18080 --echo 127.0.0.2:19735 --connections 9000
//!   --proxy-pid PID` — ramps up relayed connections through the proxy, then reports the
//!   proxy's RSS per idle connection, relay throughput and the latency the proxy adds to a
//!   1 KB round trip (compared with the same round trip straight to the echo server).

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use futures_util::{stream, SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

type Ws = WebSocketStream<TcpStream>;
type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Parser)]
struct Args {
    #[command(subcommand)]
    role: Role,
}

#[derive(Subcommand)]
enum Role {
    /// TCP echo server.
    Echo {
        #[arg(long)]
        listen: SocketAddr,
    },
    /// Load generator.
    Load {
        #[arg(long)]
        proxy: SocketAddr,
        #[arg(long)]
        echo: SocketAddr,
        #[arg(long, default_value_t = 9000)]
        connections: usize,
        #[arg(long)]
        proxy_pid: u32,
        /// Source addresses for connections to the proxy (round-robin).
        #[arg(long, value_delimiter = ',', default_value = "127.0.0.3,127.0.0.4")]
        source_ips: Vec<IpAddr>,
        #[arg(long, default_value_t = 128)]
        ramp_concurrency: usize,
        #[arg(long, default_value_t = 2000)]
        latency_samples: usize,
        #[arg(long, default_value_t = 5)]
        throughput_secs: u64,
        #[arg(long, default_value_t = 8)]
        throughput_connections: usize,
    },
}

fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

async fn echo(listen: SocketAddr) -> Result<(), BoxError> {
    let sock = TcpSocket::new_v4()?;
    sock.set_reuseaddr(true)?;
    sock.bind(listen)?;
    let listener: TcpListener = sock.listen(4096)?;
    println!("echo listening on {listen}");
    loop {
        let (mut s, _) = listener.accept().await?;
        let _ = s.set_nodelay(true);
        tokio::spawn(async move {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if s.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                }
            }
        });
    }
}

fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0)
        .max_message_size(Some(1 << 20))
}

async fn read_n(ws: &mut Ws, n: usize) -> Result<(), BoxError> {
    let mut got = 0;
    while got < n {
        match ws.next().await {
            Some(Ok(Message::Binary(b))) => got += b.len(),
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(e.into()),
            None => return Err("closed".into()),
        }
    }
    Ok(())
}

async fn open(proxy: SocketAddr, path: &str, src: IpAddr) -> Result<Ws, BoxError> {
    let sock = TcpSocket::new_v4()?;
    sock.bind(SocketAddr::new(src, 0))?;
    let tcp = sock.connect(proxy).await?;
    tcp.set_nodelay(true)?;
    let url = format!("ws://{proxy}{path}");
    let (mut ws, _) =
        tokio_tungstenite::client_async_with_config(url, tcp, Some(ws_config())).await?;
    // One round trip proves the relay is up (an idle peer connection has seen traffic).
    ws.send(Message::binary(b"hi".to_vec())).await?;
    read_n(&mut ws, 2).await?;
    Ok(ws)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

#[allow(clippy::too_many_arguments)]
async fn load(
    proxy: SocketAddr,
    echo: SocketAddr,
    n: usize,
    pid: u32,
    sources: Vec<IpAddr>,
    ramp: usize,
    samples: usize,
    tp_secs: u64,
    tp_conns: usize,
) -> Result<(), BoxError> {
    let host = echo.ip().to_string().replace('.', "_");
    let path = format!("/v1/{host}/{}", echo.port());
    let rss_before = rss_kb(pid);
    println!("proxy_rss_before_kb={rss_before}");

    let t0 = Instant::now();
    let errors = Arc::new(AtomicU64::new(0));
    let mut conns: Vec<Ws> = stream::iter(0..n)
        .map(|i| {
            let src = sources[i % sources.len()];
            let path = path.clone();
            let errors = errors.clone();
            async move {
                match open(proxy, &path, src).await {
                    Ok(ws) => Some(ws),
                    Err(e) => {
                        if errors.fetch_add(1, Ordering::Relaxed) < 5 {
                            eprintln!("connection {i} failed: {e}");
                        }
                        None
                    }
                }
            }
        })
        .buffer_unordered(ramp)
        .filter_map(|x| async move { x })
        .collect()
        .await;
    let ramp_secs = t0.elapsed().as_secs_f64();
    let open_n = conns.len();
    println!(
        "connections_open={open_n} connection_errors={} ramp_secs={ramp_secs:.1}",
        errors.load(Ordering::Relaxed)
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_after = rss_kb(pid);
    let per_conn = (rss_after.saturating_sub(rss_before)) as f64 / open_n.max(1) as f64;
    println!("proxy_rss_after_kb={rss_after}");
    println!("rss_per_idle_connection_kb={per_conn:.1}");

    // Latency: 1 KB round trips, through the proxy vs straight to the echo server.
    let payload = vec![0x42u8; 1024];
    let mut via = Vec::with_capacity(samples);
    {
        let ws = conns.first_mut().ok_or("no connection")?;
        for i in 0..samples + 100 {
            let t = Instant::now();
            ws.send(Message::binary(payload.clone())).await?;
            read_n(ws, payload.len()).await?;
            if i >= 100 {
                via.push(t.elapsed());
            }
        }
    }
    let mut direct = Vec::with_capacity(samples);
    {
        let mut tcp = TcpStream::connect(echo).await?;
        tcp.set_nodelay(true)?;
        let mut back = vec![0u8; payload.len()];
        for i in 0..samples + 100 {
            let t = Instant::now();
            tcp.write_all(&payload).await?;
            tcp.read_exact(&mut back).await?;
            if i >= 100 {
                direct.push(t.elapsed());
            }
        }
    }
    via.sort();
    direct.sort();
    let (v50, v99) = (percentile(&via, 0.50), percentile(&via, 0.99));
    let (d50, d99) = (percentile(&direct, 0.50), percentile(&direct, 0.99));
    println!(
        "rtt_1k_direct_us p50={:.0} p99={:.0}; via_proxy_us p50={:.0} p99={:.0}",
        us(d50),
        us(d99),
        us(v50),
        us(v99)
    );
    println!(
        "added_latency_us p50={:.0} p99={:.0}",
        us(v50) - us(d50),
        us(v99) - us(d99)
    );

    // Throughput: pipelined 64 KiB messages on a few of the open connections.
    let received = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    let k = tp_conns.min(conns.len());
    for ws in conns.drain(..k) {
        let (mut tx, mut rx) = ws.split();
        let stop_tx = stop.clone();
        tasks.push(tokio::spawn(async move {
            let chunk = vec![0x17u8; 64 * 1024];
            while !stop_tx.load(Ordering::Relaxed) {
                if tx.send(Message::binary(chunk.clone())).await.is_err() {
                    break;
                }
            }
        }));
        let received = received.clone();
        let stop_rx = stop.clone();
        tasks.push(tokio::spawn(async move {
            while let Some(Ok(m)) = rx.next().await {
                if stop_rx.load(Ordering::Relaxed) {
                    break;
                }
                if let Message::Binary(b) = m {
                    received.fetch_add(b.len() as u64, Ordering::Relaxed);
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(1)).await; // warm up
    let start_bytes = received.load(Ordering::Relaxed);
    let t = Instant::now();
    tokio::time::sleep(Duration::from_secs(tp_secs)).await;
    let bytes = received.load(Ordering::Relaxed) - start_bytes;
    let secs = t.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.abort();
    }
    println!(
        "throughput_mb_s={:.1} (echoed payload over {k} connections; each byte crosses the proxy twice, so {:.1} MB/s relayed)",
        bytes as f64 / secs / 1e6,
        2.0 * bytes as f64 / secs / 1e6
    );
    println!("proxy_rss_end_kb={}", rss_kb(pid));
    drop(conns);
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    match Args::parse().role {
        Role::Echo { listen } => echo(listen).await,
        Role::Load {
            proxy,
            echo,
            connections,
            proxy_pid,
            source_ips,
            ramp_concurrency,
            latency_samples,
            throughput_secs,
            throughput_connections,
        } => {
            load(
                proxy,
                echo,
                connections,
                proxy_pid,
                source_ips,
                ramp_concurrency,
                latency_samples,
                throughput_secs,
                throughput_connections,
            )
            .await
        }
    }
}
