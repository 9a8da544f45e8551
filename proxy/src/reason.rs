//! Refusal and close reason codes (documented in proxy/README.md).
//!
//! Refusals decided before the WebSocket upgrade are HTTP responses whose body is
//! `refused: <code>` (plus optional detail after a space) and whose `X-Refused` header is
//! `<code>`. Ends of a relay after the upgrade are WebSocket close frames with a code and a
//! reason string from [`Close`].

use hyper::StatusCode;

/// A refusal before the upgrade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Refusal {
    /// 404: the path is not `/v1/...`, `/healthz` or `/metrics`.
    NotFound,
    /// 400: `/v1/<host>/<port>` is malformed (see `target`).
    BadTarget,
    /// 426: not a WebSocket upgrade request (or not version 13).
    NotWebsocket,
    /// 403: `Origin` missing or not on `--allow-origin`.
    OriginNotAllowed,
    /// 403: the port is not on `--allow-port`.
    PortNotAllowed,
    /// 403: onion hosts are not routed.
    Onion,
    /// 403: the host is or resolves to an address the policy refuses.
    PrivateAddress,
    /// 502: the name did not resolve (or resolution timed out).
    ResolveFailed,
    /// 503: `--max-connections` reached.
    ServerFull,
    /// 429: `--max-connections-per-ip` reached.
    PerIpLimit,
    /// 503: the proxy is shutting down.
    ShuttingDown,
}

impl Refusal {
    /// Every refusal, for metrics initialisation and docs.
    pub const ALL: [Refusal; 11] = [
        Refusal::NotFound,
        Refusal::BadTarget,
        Refusal::NotWebsocket,
        Refusal::OriginNotAllowed,
        Refusal::PortNotAllowed,
        Refusal::Onion,
        Refusal::PrivateAddress,
        Refusal::ResolveFailed,
        Refusal::ServerFull,
        Refusal::PerIpLimit,
        Refusal::ShuttingDown,
    ];

    /// The machine-readable code.
    pub fn code(self) -> &'static str {
        match self {
            Refusal::NotFound => "not_found",
            Refusal::BadTarget => "bad_target",
            Refusal::NotWebsocket => "not_websocket",
            Refusal::OriginNotAllowed => "origin_not_allowed",
            Refusal::PortNotAllowed => "port_not_allowed",
            Refusal::Onion => "onion",
            Refusal::PrivateAddress => "private_address",
            Refusal::ResolveFailed => "resolve_failed",
            Refusal::ServerFull => "server_full",
            Refusal::PerIpLimit => "per_ip_limit",
            Refusal::ShuttingDown => "shutting_down",
        }
    }

    /// The HTTP status.
    pub fn status(self) -> StatusCode {
        match self {
            Refusal::NotFound => StatusCode::NOT_FOUND,
            Refusal::BadTarget => StatusCode::BAD_REQUEST,
            Refusal::NotWebsocket => StatusCode::UPGRADE_REQUIRED,
            Refusal::OriginNotAllowed
            | Refusal::PortNotAllowed
            | Refusal::Onion
            | Refusal::PrivateAddress => StatusCode::FORBIDDEN,
            Refusal::ResolveFailed => StatusCode::BAD_GATEWAY,
            Refusal::ServerFull | Refusal::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
            Refusal::PerIpLimit => StatusCode::TOO_MANY_REQUESTS,
        }
    }
}

/// How a relay ended: the WebSocket close code and reason sent to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Close {
    /// 1000 `target_closed`: the target closed the TCP connection.
    TargetClosed,
    /// 1000 `client_closed`: the client sent a close frame (echoed back).
    ClientClosed,
    /// No close frame possible: the client's connection dropped or failed.
    ClientGone,
    /// 1001 `shutting_down`: the proxy is stopping.
    ShuttingDown,
    /// 1002 `protocol_error`: the client broke the WebSocket protocol.
    ProtocolError,
    /// 1003 `text_frame`: text frames are refused; only binary frames are relayed.
    TextFrame,
    /// 1009 `frame_too_large`: a frame or message above `--max-frame-size`.
    FrameTooLarge,
    /// 1011 `target_error`: reading from or writing to the target failed (e.g. reset).
    TargetError,
    /// 4000 `idle_timeout`: no data either way for `--idle-timeout`.
    IdleTimeout,
    /// 4001 `connect_failed`: the TCP connection to the target failed (refused, unreachable).
    ConnectFailed,
    /// 4002 `connect_timeout`: the TCP connection was not established within `--connect-timeout`.
    ConnectTimeout,
}

impl Close {
    /// Every close reason, for metrics initialisation.
    pub const ALL: [Close; 11] = [
        Close::TargetClosed,
        Close::ClientClosed,
        Close::ClientGone,
        Close::ShuttingDown,
        Close::ProtocolError,
        Close::TextFrame,
        Close::FrameTooLarge,
        Close::TargetError,
        Close::IdleTimeout,
        Close::ConnectFailed,
        Close::ConnectTimeout,
    ];

    /// WebSocket close code (`None`: no close frame is sent or echoed by us).
    pub fn ws_code(self) -> Option<u16> {
        match self {
            Close::TargetClosed => Some(1000),
            Close::ClientClosed | Close::ClientGone => None,
            Close::ShuttingDown => Some(1001),
            Close::ProtocolError => Some(1002),
            Close::TextFrame => Some(1003),
            Close::FrameTooLarge => Some(1009),
            Close::TargetError => Some(1011),
            Close::IdleTimeout => Some(4000),
            Close::ConnectFailed => Some(4001),
            Close::ConnectTimeout => Some(4002),
        }
    }

    /// The reason string (also the log and metrics label).
    pub fn reason(self) -> &'static str {
        match self {
            Close::TargetClosed => "target_closed",
            Close::ClientClosed => "client_closed",
            Close::ClientGone => "client_gone",
            Close::ShuttingDown => "shutting_down",
            Close::ProtocolError => "protocol_error",
            Close::TextFrame => "text_frame",
            Close::FrameTooLarge => "frame_too_large",
            Close::TargetError => "target_error",
            Close::IdleTimeout => "idle_timeout",
            Close::ConnectFailed => "connect_failed",
            Close::ConnectTimeout => "connect_timeout",
        }
    }
}
