//! Native TCP under the `transport` driver (tests and native builds; the
//! browser reaches peers through the WebSocket proxy instead). Every function here runs the
//! driver with [`runtime::spawn_local`](crate::runtime::spawn_local), so it must be called
//! inside a tokio `LocalSet`.

use core::ops::Deref;
use core::pin::Pin;
use core::task::{Context, Poll};
use core::time::Duration;
use std::io;
use std::net::SocketAddr;

use lightning::bitcoin::secp256k1::PublicKey;
use lightning::ln::msgs::SocketAddress;
use lightning::ln::peer_handler::APeerManager;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

use super::transport::{self, Connection, Descriptor};
use crate::Error;

/// A TCP stream as a transport [`Connection`].
pub struct TcpConnection {
    stream: TcpStream,
    remote: Option<SocketAddress>,
}

impl TcpConnection {
    /// Wraps a connected stream (sets `TCP_NODELAY`: LDK writes whole messages).
    pub fn new(stream: TcpStream) -> Self {
        let _ = stream.set_nodelay(true);
        let remote = stream.peer_addr().ok().map(to_ldk_address);
        TcpConnection { stream, remote }
    }
}

impl Connection for TcpConnection {
    fn poll_recv(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let mut rb = ReadBuf::new(buf);
        match Pin::new(&mut self.stream).poll_read(cx, &mut rb) {
            Poll::Ready(Ok(())) => Poll::Ready(Ok(rb.filled().len())),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }

    fn poll_send(&mut self, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, data)
    }

    fn remote_address(&self) -> Option<SocketAddress> {
        self.remote.clone()
    }
}

fn to_ldk_address(a: SocketAddr) -> SocketAddress {
    match a {
        SocketAddr::V4(a) => SocketAddress::TcpIpV4 {
            addr: a.ip().octets(),
            port: a.port(),
        },
        SocketAddr::V6(a) => SocketAddress::TcpIpV6 {
            addr: a.ip().octets(),
            port: a.port(),
        },
    }
}

/// The TCP addresses of `addr`: IP literals as they are, `localhost` as the loopback
/// addresses, other host names through the system resolver; onion addresses need a proxy.
async fn resolve(addr: &SocketAddress) -> Result<Vec<SocketAddr>, Error> {
    match addr {
        SocketAddress::TcpIpV4 { addr, port } => Ok(vec![SocketAddr::from((*addr, *port))]),
        SocketAddress::TcpIpV6 { addr, port } => Ok(vec![SocketAddr::from((*addr, *port))]),
        SocketAddress::Hostname { hostname, port } => {
            let host = hostname.as_str();
            if host.eq_ignore_ascii_case("localhost") {
                return Ok(vec![
                    SocketAddr::from(([127, 0, 0, 1], *port)),
                    SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, *port)),
                ]);
            }
            let found: Vec<_> = tokio::net::lookup_host((host, *port))
                .await
                .map_err(|e| Error::PeerUnreachable(format!("{host}: cannot resolve: {e}")))?
                .collect();
            if found.is_empty() {
                return Err(Error::PeerUnreachable(format!("{host}: no address")));
            }
            Ok(found)
        }
        SocketAddress::OnionV2(_) | SocketAddress::OnionV3 { .. } => Err(Error::PeerUnreachable(
            "an onion address needs a Tor proxy".into(),
        )),
    }
}

/// Connects to the peer `node_id` at `addr` and waits, at most `timeout` in all, for the Noise
/// handshake and `init` exchange to finish (the peer is then in `PeerManager::list_peers`).
/// A refused or timed-out TCP connection, or a handshake that fails (a wrong node id, say), is
/// [`Error::PeerUnreachable`]. The connection then runs in the background until either side
/// closes it. Must be called inside a tokio `LocalSet`.
pub async fn connect<PM>(
    peer_manager: PM,
    node_id: PublicKey,
    addr: &SocketAddress,
    timeout: Duration,
) -> Result<(), Error>
where
    PM: Deref + Clone + 'static,
    PM::Target: APeerManager<Descriptor = Descriptor>,
{
    let start = tokio::time::Instant::now();
    let targets = resolve(addr).await?;
    let stream = match tokio::time::timeout(timeout, TcpStream::connect(&targets[..])).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return Err(Error::PeerUnreachable(format!("{addr}: {e}"))),
        Err(_) => {
            return Err(Error::PeerUnreachable(format!(
                "{addr}: no TCP connection within {timeout:?}"
            )))
        }
    };
    let desc =
        transport::spawn_outbound(peer_manager.clone(), node_id, TcpConnection::new(stream))?;
    let left = timeout.saturating_sub(start.elapsed());
    transport::wait_connected(&peer_manager, node_id, &desc, left)
        .await
        .map_err(|e| match e {
            Error::PeerUnreachable(m) => Error::PeerUnreachable(format!("{addr}: {m}")),
            other => other,
        })
}

/// Accepts one inbound connection on `listener` and runs it in the background. Must be called
/// inside a tokio `LocalSet`.
pub async fn accept<PM>(peer_manager: PM, listener: &TcpListener) -> Result<Descriptor, Error>
where
    PM: Deref + 'static,
    PM::Target: APeerManager<Descriptor = Descriptor>,
{
    let (stream, _) = listener
        .accept()
        .await
        .map_err(|e| Error::Internal(format!("accept failed: {e}")))?;
    transport::spawn_inbound(peer_manager, TcpConnection::new(stream))
}

/// Accepts inbound connections on `listener` forever (a failed accept is logged and retried
/// after a moment). Must be run inside a tokio `LocalSet`.
pub async fn listen<PM>(peer_manager: PM, listener: TcpListener)
where
    PM: Deref + Clone + 'static,
    PM::Target: APeerManager<Descriptor = Descriptor>,
{
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                if let Err(e) =
                    transport::spawn_inbound(peer_manager.clone(), TcpConnection::new(stream))
                {
                    crate::runtime::log_warn(&format!("inbound connection dropped: {e}"));
                }
            }
            Err(e) => {
                crate::runtime::log_warn(&format!("accept failed: {e}"));
                crate::runtime::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}
