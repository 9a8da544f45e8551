//! A small JSON-RPC client for bitcoind (HTTP basic auth from the cookie file or a user/password).

use std::fmt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::{json, Value};

/// An error from bitcoind's JSON-RPC: `code` is bitcoind's error code (e.g. -26 for a policy
/// rejection), or [`RpcError::TRANSPORT`] when bitcoind could not be reached or answered
/// something that is not JSON-RPC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcError {
    /// bitcoind's error code.
    pub code: i64,
    /// bitcoind's error message (the rejection reason for `sendrawtransaction`).
    pub message: String,
}

impl RpcError {
    /// The code used for transport and decoding failures (not one of bitcoind's codes).
    pub const TRANSPORT: i64 = i64::MIN;

    fn transport(message: impl fmt::Display) -> Self {
        RpcError {
            code: Self::TRANSPORT,
            message: message.to_string(),
        }
    }
}

impl fmt::Display for RpcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.code == Self::TRANSPORT {
            write!(f, "bitcoind RPC transport error: {}", self.message)
        } else {
            write!(f, "bitcoind RPC error {}: {}", self.code, self.message)
        }
    }
}

impl std::error::Error for RpcError {}

/// A JSON-RPC client for bitcoind. Cheap to clone.
#[derive(Clone)]
pub struct BitcoindRpc {
    http: reqwest::Client,
    url: String,
    user: String,
    password: String,
    next_id: Arc<AtomicU64>,
}

impl fmt::Debug for BitcoindRpc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BitcoindRpc")
            .field("url", &self.url)
            .finish()
    }
}

/// Reads bitcoind's `.cookie` file (`user:password`).
pub fn read_cookie(path: &Path) -> anyhow::Result<(String, String)> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("reading cookie file {}: {e}", path.display()))?;
    let text = text.trim();
    match text.split_once(':') {
        Some((user, password)) => Ok((user.to_string(), password.to_string())),
        None => anyhow::bail!("cookie file {} is not user:password", path.display()),
    }
}

impl BitcoindRpc {
    /// A client for `url` (e.g. `http://127.0.0.1:18443`) with a user and password.
    pub fn new(
        url: impl Into<String>,
        user: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(300))
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        BitcoindRpc {
            http,
            url: url.into(),
            user: user.into(),
            password: password.into(),
            next_id: Arc::new(AtomicU64::new(1)),
        }
    }

    /// A client for `url` authenticated with bitcoind's cookie file.
    pub fn from_cookie_file(url: impl Into<String>, cookie_file: &Path) -> anyhow::Result<Self> {
        let (user, password) = read_cookie(cookie_file)?;
        Ok(Self::new(url, user, password))
    }

    /// The RPC URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Calls `method` with positional `params` (a JSON array) and returns the raw result.
    pub async fn call_value(&self, method: &str, params: Value) -> Result<Value, RpcError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let body = json!({"jsonrpc": "1.0", "id": id, "method": method, "params": params});
        let resp = self
            .http
            .post(&self.url)
            .basic_auth(&self.user, Some(&self.password))
            .json(&body)
            .send()
            .await
            .map_err(RpcError::transport)?;
        let status = resp.status();
        let text = resp.text().await.map_err(RpcError::transport)?;
        let reply: Value = serde_json::from_str(&text).map_err(|_| {
            RpcError::transport(format!("{method}: HTTP {status}: {}", text.trim()))
        })?;
        match reply.get("error") {
            Some(err) if !err.is_null() => Err(RpcError {
                code: err.get("code").and_then(Value::as_i64).unwrap_or(-1),
                message: err
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
            }),
            _ => Ok(reply.get("result").cloned().unwrap_or(Value::Null)),
        }
    }

    /// Calls `method` with positional `params` and decodes the result.
    pub async fn call<T: DeserializeOwned>(
        &self,
        method: &str,
        params: Value,
    ) -> Result<T, RpcError> {
        let value = self.call_value(method, params).await?;
        serde_json::from_value(value)
            .map_err(|e| RpcError::transport(format!("{method}: decoding the result: {e}")))
    }
}
