//! The relay: one WebSocket client, one TCP target.
//!
//! Backpressure both ways: each direction holds at most one buffer. From the target, the relay
//! waits until the socket is readable, reads at most `--buffer-size` bytes into a fresh buffer
//! and sends them as one binary frame; it reads again only after that frame is fully written
//! to the client. From the client, it reads one message (at most `--max-frame-size`) and
//! writes it fully to the target before reading the next. A slow reader on either side thus
//! stops the proxy reading from the other, and TCP flow control pushes back on the sender.
//! An idle relay holds no relay buffer (only the WebSocket codec's small read buffer).

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::error::ProtocolError;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::frame::{CloseFrame, Utf8Bytes};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::WebSocketStream;
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;
use crate::reason::Close;

/// How long to wait for a close frame to be written and answered.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// What a relay needs besides its WebSocket.
pub struct RelayParams {
    /// Checked addresses to dial, in order.
    pub addrs: Vec<SocketAddr>,
    /// Limit for establishing the TCP connection.
    pub connect_timeout: Duration,
    /// Close after this long without data.
    pub idle_timeout: Duration,
    /// Bytes per read from the target.
    pub buffer_size: usize,
    /// Shared metrics.
    pub metrics: Arc<Metrics>,
    /// Cancelled on shutdown.
    pub shutdown: CancellationToken,
}

/// How a relay went.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Why it ended.
    pub close: Close,
    /// The address actually connected to.
    pub connected: Option<SocketAddr>,
    /// Payload bytes client → target.
    pub bytes_up: u64,
    /// Payload bytes target → client.
    pub bytes_down: u64,
}

async fn connect_any(addrs: &[SocketAddr]) -> io::Result<TcpStream> {
    let mut last = io::Error::new(io::ErrorKind::NotFound, "no address");
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(s) => return Ok(s),
            Err(e) => last = e,
        }
    }
    Err(last)
}

async fn write_all(tcp: &TcpStream, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        tcp.writable().await?;
        match tcp.try_write(buf) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => buf = &buf[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Sends the close frame for `close` (if any), then waits briefly for the client's answer so
/// the close frame is not lost to a reset.
async fn finish<S>(ws: &mut WebSocketStream<S>, close: Close)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let frame = close.ws_code().map(|code| CloseFrame {
        code: CloseCode::from(code),
        reason: Utf8Bytes::from_static(close.reason()),
    });
    if frame.is_none() && close != Close::ClientClosed {
        return;
    }
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, async {
        let sent = match frame {
            Some(frame) => ws.close(Some(frame)).await,
            // The client closed: flush the echoed close frame the codec has queued.
            None => ws.flush().await,
        };
        if sent.is_err() {
            return;
        }
        while let Some(Ok(_)) = ws.next().await {}
    })
    .await;
}

/// Runs one relay until either side closes, an error, the idle timeout or shutdown.
pub async fn run<S>(mut ws: WebSocketStream<S>, p: &RelayParams) -> Outcome
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut out = Outcome {
        close: Close::ClientGone,
        connected: None,
        bytes_up: 0,
        bytes_down: 0,
    };
    let connect = tokio::time::timeout(p.connect_timeout, connect_any(&p.addrs));
    let tcp = tokio::select! {
        r = connect => match r {
            Ok(Ok(tcp)) => tcp,
            Ok(Err(_)) => { out.close = Close::ConnectFailed; finish(&mut ws, out.close).await; return out; }
            Err(_) => { out.close = Close::ConnectTimeout; finish(&mut ws, out.close).await; return out; }
        },
        _ = p.shutdown.cancelled() => {
            out.close = Close::ShuttingDown; finish(&mut ws, out.close).await; return out;
        }
    };
    let _ = tcp.set_nodelay(true);
    out.connected = tcp.peer_addr().ok();

    let start = Instant::now();
    let last_activity = AtomicU64::new(0);
    let touch = || {
        let ms = u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
        last_activity.store(ms, Ordering::Relaxed);
    };
    let (mut sink, mut stream) = ws.split();
    let (mut up_bytes, mut down_bytes) = (0u64, 0u64);

    let close = {
        let up = async {
            while let Some(msg) = stream.next().await {
                match msg {
                    Ok(Message::Binary(b)) => {
                        touch();
                        if write_all(&tcp, &b).await.is_err() {
                            return Close::TargetError;
                        }
                        let n = b.len() as u64;
                        up_bytes += n;
                        p.metrics.bytes_up.inc_by(n);
                        touch();
                    }
                    Ok(Message::Text(_)) => return Close::TextFrame,
                    Ok(Message::Close(_)) => return Close::ClientClosed,
                    Ok(_) => {} // ping/pong (pongs are answered by the codec)
                    Err(WsError::Capacity(_)) => return Close::FrameTooLarge,
                    // EOF or reset without a close frame: the client is gone.
                    Err(WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake)) => {
                        return Close::ClientGone
                    }
                    Err(WsError::Protocol(_)) | Err(WsError::Utf8(_)) => {
                        return Close::ProtocolError
                    }
                    Err(_) => return Close::ClientGone,
                }
            }
            Close::ClientGone
        };
        let down = async {
            loop {
                if tcp.readable().await.is_err() {
                    return Close::TargetError;
                }
                let mut buf = BytesMut::with_capacity(p.buffer_size);
                match tcp.try_read_buf(&mut buf) {
                    Ok(0) => return Close::TargetClosed,
                    Ok(n) => {
                        touch();
                        let n = n as u64;
                        down_bytes += n;
                        p.metrics.bytes_down.inc_by(n);
                        if sink.send(Message::Binary(buf.freeze())).await.is_err() {
                            return Close::ClientGone;
                        }
                        touch();
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(_) => return Close::TargetError,
                }
            }
        };
        let idle = async {
            loop {
                let last = Duration::from_millis(last_activity.load(Ordering::Relaxed));
                let deadline = start + last + p.idle_timeout;
                if Instant::now() >= deadline {
                    return Close::IdleTimeout;
                }
                tokio::time::sleep_until(deadline.into()).await;
            }
        };
        tokio::select! {
            c = up => c,
            c = down => c,
            c = idle => c,
            _ = p.shutdown.cancelled() => Close::ShuttingDown,
        }
    };
    out.close = close;
    out.bytes_up = up_bytes;
    out.bytes_down = down_bytes;
    drop(tcp);
    if let Ok(mut ws) = sink.reunite(stream) {
        finish(&mut ws, close).await;
    }
    out
}
