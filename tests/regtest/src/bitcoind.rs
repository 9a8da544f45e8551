//! Finding, starting and stopping the regtest `bitcoind`.

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};

/// Finds the `bitcoind` binary: `$BITCOIND_EXE` when set, else the newest
/// `${WASM_LN_CACHE:-$HOME/.cache/wasm-ln}/bitcoind/libbitcoinkernel-sys-*/build/bin/bitcoind`
/// (built by `pkg-scripts/bitcoind.sh`).
pub fn find_bitcoind() -> anyhow::Result<PathBuf> {
    if let Some(exe) = std::env::var_os("BITCOIND_EXE") {
        let exe = PathBuf::from(exe);
        if exe.is_file() {
            return Ok(exe);
        }
        bail!(
            "BITCOIND_EXE={} is not a file (unset it to use the one built by pkg-scripts/bitcoind.sh)",
            exe.display()
        );
    }
    let cache = match std::env::var_os("WASM_LN_CACHE") {
        Some(dir) => PathBuf::from(dir),
        None => match std::env::var_os("HOME") {
            Some(home) => PathBuf::from(home).join(".cache").join("wasm-ln"),
            None => bail!("bitcoind not found: neither BITCOIND_EXE nor HOME is set; run pkg-scripts/bitcoind.sh"),
        },
    };
    let dir = cache.join("bitcoind");
    let mut best: Option<(SystemTime, PathBuf)> = None;
    if let Ok(entries) = fs::read_dir(&dir) {
        for entry in entries.flatten() {
            let name = entry.file_name();
            if !name.to_string_lossy().starts_with("libbitcoinkernel-sys-") {
                continue;
            }
            let exe = entry.path().join("build").join("bin").join("bitcoind");
            if let Ok(meta) = fs::metadata(&exe) {
                if meta.is_file() {
                    let modified = meta.modified().unwrap_or(UNIX_EPOCH);
                    if best.as_ref().is_none_or(|(t, _)| modified > *t) {
                        best = Some((modified, exe));
                    }
                }
            }
        }
    }
    match best {
        Some((_, exe)) => Ok(exe),
        None => bail!(
            "bitcoind not found: set BITCOIND_EXE, or run pkg-scripts/bitcoind.sh to build it into {}/libbitcoinkernel-sys-*/build/bin/bitcoind",
            dir.display()
        ),
    }
}

/// Picks a free loopback TCP port.
pub fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("binding 127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// Removes temporary datadirs left by processes that were killed (SIGKILL leaves no chance to
/// clean up; their bitcoind died with them through PR_SET_PDEATHSIG).
#[cfg(target_os = "linux")]
fn remove_orphaned_temp_dirs() {
    let Ok(entries) = fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let Some(rest) = name.strip_prefix("regtest-esplora-") else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn remove_orphaned_temp_dirs() {}

fn make_temp_dir() -> anyhow::Result<PathBuf> {
    remove_orphaned_temp_dirs();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    for _ in 0..100 {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!(
            "regtest-esplora-{}-{n}-{nanos:x}",
            std::process::id()
        ));
        match fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e).with_context(|| format!("creating {}", dir.display())),
        }
    }
    bail!("could not create a temporary directory")
}

/// A running regtest bitcoind. Stopped (and its temporary datadir removed) on drop.
///
/// On Linux the process gets `PR_SET_PDEATHSIG(SIGKILL)`: it is killed when the *thread* that
/// spawned it exits, so spawn it from a thread that lives as long as this value.
pub struct Bitcoind {
    child: Mutex<Child>,
    exe: PathBuf,
    datadir: PathBuf,
    remove_datadir: bool,
    rpc_port: u16,
    p2p_port: u16,
    stopped: bool,
}

impl Bitcoind {
    /// Starts bitcoind on `datadir` (a new temporary one when `None`) and waits until its RPC
    /// server has written the cookie file.
    pub fn spawn(exe: &Path, datadir: Option<&Path>) -> anyhow::Result<Self> {
        let (datadir, remove_datadir) = match datadir {
            Some(dir) => {
                fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
                (dir.to_path_buf(), false)
            }
            None => (make_temp_dir()?, true),
        };
        let result = Self::spawn_in(exe, &datadir, remove_datadir);
        if result.is_err() && remove_datadir {
            let _ = fs::remove_dir_all(&datadir);
        }
        result
    }

    fn spawn_in(exe: &Path, datadir: &Path, remove_datadir: bool) -> anyhow::Result<Self> {
        let cookie = datadir.join("regtest").join(".cookie");
        let mut last_error = String::new();
        for _attempt in 0..3 {
            let rpc_port = free_port()?;
            let p2p_port = free_port()?;
            // A stale cookie from a killed run would make us read the wrong password.
            let _ = fs::remove_file(&cookie);
            let stderr_path = datadir.join("regtest-esplora-bitcoind.stderr");
            let stderr = fs::File::create(&stderr_path)
                .with_context(|| format!("creating {}", stderr_path.display()))?;
            let mut cmd = Command::new(exe);
            cmd.arg("-regtest")
                .arg(format!("-datadir={}", datadir.display()))
                .args([
                    "-server=1",
                    "-rest=1",
                    "-txindex=1",
                    "-listen=0",
                    "-connect=0",
                    "-dnsseed=0",
                    "-fixedseeds=0",
                    "-discover=0",
                    "-listenonion=0",
                    "-rpcbind=127.0.0.1",
                    "-rpcallowip=127.0.0.1",
                    "-rpcthreads=16",
                    "-rpcworkqueue=256",
                    "-printtoconsole=0",
                    "-dbcache=16",
                    "-shrinkdebugfile=1",
                ])
                .arg(format!("-rpcport={rpc_port}"))
                .arg(format!("-port={p2p_port}"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(stderr);
            if remove_datadir {
                cmd.arg("-persistmempool=0");
            }
            set_parent_death_signal(&mut cmd);
            let mut child = cmd
                .spawn()
                .with_context(|| format!("starting {}", exe.display()))?;
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                if fs::metadata(&cookie).map(|m| m.len() > 0).unwrap_or(false) {
                    return Ok(Bitcoind {
                        child: Mutex::new(child),
                        exe: exe.to_path_buf(),
                        datadir: datadir.to_path_buf(),
                        remove_datadir,
                        rpc_port,
                        p2p_port,
                        stopped: false,
                    });
                }
                if let Some(status) = child.try_wait()? {
                    let err = fs::read_to_string(&stderr_path).unwrap_or_default();
                    last_error = format!("bitcoind exited with {status}: {}", err.trim());
                    break;
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    bail!("bitcoind did not start its RPC server within 60 s");
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            // Most likely a port taken between picking and binding: try other ports.
            if !last_error.to_lowercase().contains("bind") && !last_error.contains("port") {
                break;
            }
        }
        bail!("{last_error}")
    }

    /// The `bitcoind` binary.
    pub fn exe(&self) -> &Path {
        &self.exe
    }

    /// The datadir (`-datadir`).
    pub fn datadir(&self) -> &Path {
        &self.datadir
    }

    /// The RPC cookie file.
    pub fn cookie_file(&self) -> PathBuf {
        self.datadir.join("regtest").join(".cookie")
    }

    /// The RPC port on 127.0.0.1.
    pub fn rpc_port(&self) -> u16 {
        self.rpc_port
    }

    /// The P2P port (bitcoind does not listen: `-listen=0`).
    pub fn p2p_port(&self) -> u16 {
        self.p2p_port
    }

    /// `http://127.0.0.1:<rpc port>`.
    pub fn rpc_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.rpc_port)
    }

    /// `Some(description)` when the process has exited.
    pub fn exit_status(&self) -> Option<String> {
        let mut child = self.child.lock().unwrap_or_else(|e| e.into_inner());
        match child.try_wait() {
            Ok(Some(status)) => Some(status.to_string()),
            Ok(None) => None,
            Err(e) => Some(e.to_string()),
        }
    }

    /// Stops bitcoind: SIGTERM (a clean shutdown), SIGKILL if it is still running after
    /// `grace`, then removes the datadir when it was a temporary one.
    pub fn stop(&mut self, grace: Duration) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        let child = self.child.get_mut().unwrap_or_else(|e| e.into_inner());
        if let Ok(None) = child.try_wait() {
            terminate(child);
            let deadline = Instant::now() + grace;
            while Instant::now() < deadline {
                match child.try_wait() {
                    Ok(None) => std::thread::sleep(Duration::from_millis(10)),
                    _ => break,
                }
            }
            if let Ok(None) = child.try_wait() {
                let _ = child.kill();
            }
        }
        let _ = child.wait();
        if self.remove_datadir {
            let _ = fs::remove_dir_all(&self.datadir);
        }
    }
}

impl Drop for Bitcoind {
    fn drop(&mut self) {
        let grace = if self.remove_datadir {
            Duration::from_secs(3)
        } else {
            Duration::from_secs(30)
        };
        self.stop(grace);
    }
}

#[cfg(unix)]
fn terminate(child: &mut Child) {
    match i32::try_from(child.id()) {
        // SAFETY: sending a signal to our own child, which has not been reaped yet (so the
        // pid cannot have been reused).
        Ok(pid) => unsafe {
            libc::kill(pid, libc::SIGTERM);
        },
        Err(_) => {
            let _ = child.kill();
        }
    }
}

#[cfg(not(unix))]
fn terminate(child: &mut Child) {
    let _ = child.kill();
}

#[cfg(target_os = "linux")]
fn set_parent_death_signal(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: getpid is async-signal-safe.
    let parent = unsafe { libc::getpid() };
    // SAFETY: the closure runs in the forked child before exec and only calls the
    // async-signal-safe prctl, getppid and _exit.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The parent died before prctl: do not outlive it.
            if libc::getppid() != parent {
                libc::_exit(1);
            }
            Ok(())
        });
    }
}

#[cfg(not(target_os = "linux"))]
fn set_parent_death_signal(_cmd: &mut Command) {}
