//! A `peer` process (tests/peer: ldk-node with an HTTP control API) driven from tests: spawned
//! so it dies with the test, its startup line read, its API wrapped. Shared by the peer's own
//! tests and wasm-ln's node tests, which find the binary next to their own test executable.
//!
//! Its storage lives in a directory the harness owns (removed when the [`Peer`] is dropped),
//! so a test can [`Peer::stop`] it, [`Peer::start`] it again on the same storage (same node
//! id, same Lightning port), take a [`Peer::snapshot`] of its storage and [`Peer::restore`] it
//! later: a peer restarted on an old copy broadcasts a revoked commitment if it force-closes.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::{RegtestEsplora, RpcInfo};

/// How long waits for the peer (startup, events, balances) last before the test fails.
pub const WAIT: Duration = Duration::from_secs(60);

/// The `peer` binary in the cargo target directory of the running test executable
/// (`target/<profile>/deps/<test>` → `target/<profile>/peer`), or `$WASM_LN_PEER_EXE`.
pub fn peer_exe() -> PathBuf {
    if let Some(p) = std::env::var_os("WASM_LN_PEER_EXE") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("current exe");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test executable in target/<profile>/deps");
    let peer = profile_dir.join("peer");
    assert!(
        peer.exists(),
        "{} is missing: build it first with `cargo build -p peer` (its own invocation)",
        peer.display()
    );
    peer
}

/// Where the peer reads the chain from.
#[derive(Clone, Copy)]
pub enum Chain<'a> {
    /// bitcoind's RPC.
    Rpc(&'a RpcInfo),
    /// A regtest-esplora server's `/regtest/rpc`.
    Esplora(&'a str),
}

/// A `peer` process; SIGTERM (then SIGKILL) on drop, SIGTERM if the spawning thread dies
/// first (the peer then stops cleanly and exits within 15 s regardless). Its storage
/// directory is removed on drop.
pub struct Peer {
    /// Its name in messages.
    pub name: &'static str,
    /// The process, while running.
    pub child: Option<Child>,
    /// Its node id, hex.
    pub node_id: String,
    /// Its Lightning address, `127.0.0.1:port` (kept across restarts).
    pub p2p_address: String,
    /// Its control API (a new port after each start).
    pub url: String,
    /// Its storage directory (ldk-node's data, seed included).
    pub storage_dir: PathBuf,
    exe: PathBuf,
    chain_args: Vec<String>,
    extra_args: Vec<String>,
    http: reqwest::Client,
}

/// A copy of a stopped peer's storage directory, removed on drop.
pub struct PeerSnapshot {
    dir: PathBuf,
}

impl Drop for PeerSnapshot {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A new, empty directory under the temporary directory.
fn fresh_dir(what: &str) -> PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "wasm-ln-{what}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
    dir
}

/// Copies the directory tree `from` into `to` (created).
fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

impl Peer {
    /// Spawns the binary `exe` (on the calling thread: `PR_SET_PDEATHSIG` follows the thread)
    /// on a new storage directory, and reads its startup line.
    pub fn spawn(exe: &Path, name: &'static str, chain: Chain<'_>) -> Peer {
        Self::spawn_with_args(exe, name, chain, &[])
    }

    /// [`Peer::spawn`] with more command-line flags (`--alias`, `--lsps2`, …; see the peer's
    /// docs), given again on every [`Peer::start`].
    pub fn spawn_with_args(
        exe: &Path,
        name: &'static str,
        chain: Chain<'_>,
        extra_args: &[&str],
    ) -> Peer {
        let chain_args: Vec<String> = match chain {
            Chain::Rpc(rpc) => vec![
                "--bitcoind-rpc-url".into(),
                rpc.url.clone(),
                "--bitcoind-rpc-user".into(),
                rpc.user.clone(),
                "--bitcoind-rpc-password".into(),
                rpc.password.clone(),
            ],
            Chain::Esplora(url) => vec!["--regtest-esplora".into(), url.to_string()],
        };
        let mut peer = Peer {
            name,
            child: None,
            node_id: String::new(),
            p2p_address: "127.0.0.1:0".into(),
            url: String::new(),
            storage_dir: fresh_dir("peer"),
            exe: exe.to_path_buf(),
            chain_args,
            extra_args: extra_args.iter().map(|a| a.to_string()).collect(),
            http: reqwest::Client::new(),
        };
        peer.start();
        peer
    }

    /// Starts the stopped peer again on its storage directory (its node id and channels, or
    /// those of a restored snapshot) and Lightning port; on the calling thread, as
    /// [`Peer::spawn`].
    pub fn start(&mut self) {
        assert!(self.child.is_none(), "{}: already running", self.name);
        let name = self.name;
        let mut cmd = Command::new(&self.exe);
        cmd.args(&self.chain_args)
            .args(&self.extra_args)
            .arg("--storage-dir")
            .arg(&self.storage_dir)
            .args(["--listen", &self.p2p_address])
            .arg("--exit-on-stdin-close")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                if libc::getppid() == 1 {
                    libc::_exit(1);
                }
                Ok(())
            });
        }
        let mut child = cmd.spawn().expect("spawn peer");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let _ = tx.send(lines.next());
            for _ in lines {}
        });
        let line = match rx.recv_timeout(WAIT) {
            Ok(Some(Ok(line))) => line,
            other => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{name}: no startup line: {other:?}");
            }
        };
        let v: Value = serde_json::from_str(&line).expect("startup line is JSON");
        let s = |k: &str| v[k].as_str().expect(k).to_string();
        let node_id = s("node_id");
        assert!(
            self.node_id.is_empty() || self.node_id == node_id,
            "{name}: restarted as another node ({node_id}, was {})",
            self.node_id
        );
        self.node_id = node_id;
        self.p2p_address = s("p2p_address");
        self.url = s("control_url");
        self.child = Some(child);
    }

    /// Stops the peer cleanly (SIGTERM: ldk-node's `stop`, its state written) and waits for
    /// the process to exit; its storage stays.
    pub fn stop(&mut self) {
        let status = self.terminate();
        assert!(
            status.is_some_and(|s| s.success()),
            "{}: did not stop cleanly: {status:?}",
            self.name
        );
    }

    /// [`Peer::stop`], then [`Peer::start`].
    pub fn restart(&mut self) {
        self.stop();
        self.start();
    }

    /// A copy of the stopped peer's storage as it is now.
    pub fn snapshot(&self) -> PeerSnapshot {
        assert!(
            self.child.is_none(),
            "{}: stop the peer before copying its storage",
            self.name
        );
        let snapshot = PeerSnapshot {
            dir: fresh_dir("peer-snapshot"),
        };
        copy_dir(&self.storage_dir, &snapshot.dir)
            .unwrap_or_else(|e| panic!("{}: copying its storage: {e}", self.name));
        snapshot
    }

    /// Replaces the stopped peer's storage with `snapshot`: started again, it runs on that
    /// old state (and, should it force-close, broadcasts that state's commitment).
    pub fn restore(&mut self, snapshot: &PeerSnapshot) {
        assert!(
            self.child.is_none(),
            "{}: stop the peer before restoring its storage",
            self.name
        );
        std::fs::remove_dir_all(&self.storage_dir)
            .unwrap_or_else(|e| panic!("{}: removing its storage: {e}", self.name));
        copy_dir(&snapshot.dir, &self.storage_dir)
            .unwrap_or_else(|e| panic!("{}: restoring its storage: {e}", self.name));
    }

    /// `node_id@p2p_address`.
    pub fn uri(&self) -> String {
        format!("{}@{}", self.node_id, self.p2p_address)
    }

    /// Its Lightning address for `user` (`user@127.0.0.1:PORT`): every peer serves LNURL-pay on
    /// its control API's port (see the `peer` crate's docs).
    pub fn lightning_address(&self, user: &str) -> String {
        let host = self.url.trim_start_matches("http://").trim_end_matches('/');
        format!("{user}@{host}")
    }

    /// One API call: status and JSON body (`Null` when empty).
    pub async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.http.request(method, format!("{}{}", self.url, path));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("{}: {path}: {e}", self.name));
        let status = resp.status();
        let text = resp.text().await.expect("body");
        let v = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, v)
    }

    /// `GET path`, which must succeed.
    pub async fn get(&self, path: &str) -> Value {
        let (status, v) = self.request(reqwest::Method::GET, path, None).await;
        assert!(
            status.is_success(),
            "{}: GET {path}: {status} {v}",
            self.name
        );
        v
    }

    /// `POST path` with `body`, which must succeed.
    pub async fn post(&self, path: &str, body: Value) -> Value {
        let (status, v) = self.request(reqwest::Method::POST, path, Some(body)).await;
        assert!(
            status.is_success(),
            "{}: POST {path}: {status} {v}",
            self.name
        );
        v
    }

    /// Waits for an event of type `ty`; other events are printed and skipped.
    pub async fn wait_event(&self, ty: &str) -> Value {
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            let (status, v) = self
                .request(reqwest::Method::GET, "/events/next?timeout_ms=1000", None)
                .await;
            match status {
                StatusCode::NO_CONTENT => continue,
                StatusCode::OK if v["type"] == ty => return v,
                StatusCode::OK => println!("{}: skipping event {v}", self.name),
                _ => panic!("{}: /events/next: {status} {v}", self.name),
            }
        }
        panic!("{}: no {ty} event within {WAIT:?}", self.name);
    }

    /// Syncs, then `GET /balances`.
    pub async fn balances(&self) -> Value {
        self.post("/sync", json!({})).await;
        self.get("/balances").await
    }

    /// Polls `/sync` + `/balances` until `ok` holds.
    pub async fn wait_balances(&self, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            let b = self.balances().await;
            if ok(&b) {
                return b;
            }
            assert!(
                Instant::now() < deadline,
                "{}: {what}: last balances {b}",
                self.name
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// SIGTERM, and the exit status (SIGKILL after 20 s).
    pub fn terminate(&mut self) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        unsafe {
            libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
        }
        wait_exit(&mut child, Duration::from_secs(20))
    }
}

/// Waits for `child` to exit, killing it after `within`.
pub fn wait_exit(child: &mut Child, within: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.terminate();
        let _ = std::fs::remove_dir_all(&self.storage_dir);
    }
}

/// The txids in bitcoind's mempool, through Esplora.
/// The txids in bitcoind's mempool, through Esplora.
pub async fn mempool_txids(http: &reqwest::Client, esplora: &RegtestEsplora) -> Vec<String> {
    http.get(format!("{}/mempool/txids", esplora.esplora_url()))
        .send()
        .await
        .expect("mempool")
        .json()
        .await
        .expect("mempool json")
}

/// Waits until bitcoind's mempool (through Esplora) holds `txid`, or any transaction.
pub async fn wait_mempool(esplora: &RegtestEsplora, txid: Option<&str>) {
    let http = reqwest::Client::new();
    let deadline = Instant::now() + WAIT;
    loop {
        let ids = mempool_txids(&http, esplora).await;
        let found = match txid {
            Some(t) => ids.iter().any(|i| i == t),
            None => !ids.is_empty(),
        };
        if found {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "transaction {txid:?} never reached the mempool"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until something is in the mempool and nothing more came for a second: an anchor
/// commitment goes out as two POSTs when LDK adds a child paying its fee (it does not when
/// the commitment's own fee suffices), and a block mined between the two would confirm the
/// commitment without its child.
pub async fn wait_mempool_settled(esplora: &RegtestEsplora) {
    let http = reqwest::Client::new();
    let deadline = Instant::now() + WAIT;
    let mut seen = 0;
    let mut since = Instant::now();
    loop {
        let ids = mempool_txids(&http, esplora).await;
        if ids.len() != seen {
            seen = ids.len();
            since = Instant::now();
        } else if seen > 0 && since.elapsed() >= Duration::from_secs(1) {
            return;
        }
        assert!(Instant::now() < deadline, "the mempool stayed empty");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
