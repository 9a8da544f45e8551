//! The `wasm-ln-proxy` binary: configured through the environment, serves `/healthz`, logs one
//! line per refusal, and exits cleanly on SIGTERM.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn get(addr: SocketAddr, path: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn env_config_healthz_and_sigterm() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_wasm-ln-proxy"))
        .env("WASM_LN_PROXY_LISTEN", "127.0.0.1:0")
        .env("WASM_LN_PROXY_ALLOW_PORT", "9735,19735")
        .env("WASM_LN_PROXY_LOG_FORMAT", "json")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            if tx.send(line.unwrap_or_default()).is_err() {
                break;
            }
        }
    });
    let next_line = |what: &str| -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = rx
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no log line with {what}"));
            if line.contains(what) {
                return line;
            }
        }
    };
    let listening = next_line("listening");
    assert!(
        listening.contains("\"allow_ports\":\"[9735, 19735]\""),
        "{listening}"
    );
    let addr: SocketAddr = listening
        .split("\"listen\":\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .parse()
        .unwrap();
    assert!(get(addr, "/healthz").ends_with("\r\n\r\nok\n"));
    // A refusal is one structured line.
    let resp = get(addr, "/v1/127_0_0_1/9735");
    assert!(resp.starts_with("HTTP/1.1 426"), "{resp}");
    let refused = next_line("refused");
    assert!(
        refused.contains("\"reason\":\"not_websocket\""),
        "{refused}"
    );

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let exit = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("proxy did not exit after SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "{exit:?}");
}
