//! End-to-end tests of the `peer` binary: real bitcoind (regtest-esplora), two ldk-node
//! processes, driven only through their HTTP control API.

use std::path::Path;
use std::time::{Duration, Instant};

use aes::cipher::{block_padding::Pkcs7, BlockDecryptMut, KeyIvInit};
use base64::Engine as _;
use ldk_node::bitcoin::hashes::{sha256, Hash as _};
use ldk_node::lightning_invoice::{Bolt11Invoice, Bolt11InvoiceDescriptionRef};
use regtest_esplora::peer::{wait_exit, wait_mempool, Chain, Peer};
use regtest_esplora::{regtest_address, RegtestEsplora};
use reqwest::StatusCode;
use serde_json::{json, Value};

fn exe() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_peer"))
}

fn sat(v: &Value, k: &str) -> u64 {
    v[k].as_u64().unwrap_or_else(|| panic!("{k} in {v}"))
}

fn lightning_payments(list: &Value) -> Vec<Value> {
    list.as_array()
        .expect("payments array")
        .iter()
        .filter(|p| p["kind"] != "onchain")
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_cycle_open_pay_keysend_close() {
    let started = Instant::now();
    let esplora = RegtestEsplora::start().await.expect("regtest-esplora");
    let rpc = esplora.rpc_info().clone();
    let mut a = Peer::spawn(exe(), "A", Chain::Rpc(&rpc));
    let mut b = Peer::spawn(exe(), "B", Chain::Rpc(&rpc));
    println!("A {} @ {}, B {} @ {}", a.node_id, a.url, b.node_id, b.url);

    let info = a.get("/info").await;
    assert_eq!(info["node_id"], a.node_id.as_str());
    assert_eq!(info["network"], "regtest");
    assert_eq!(info["p2p_address"], a.p2p_address.as_str());

    // Fund both (B needs the anchor-channel reserve to accept an inbound anchor channel).
    const FUND_A: u64 = 1_000_000;
    const FUND_B: u64 = 100_000;
    for (peer, amount) in [(&a, FUND_A), (&b, FUND_B)] {
        let addr = peer.post("/address", json!({})).await;
        let addr =
            regtest_address(addr["address"].as_str().expect("address")).expect("regtest address");
        esplora
            .faucet_pay(&addr, amount, true)
            .await
            .expect("faucet");
    }
    a.wait_balances("funding", |v| sat(v, "spendable_onchain_sat") == FUND_A)
        .await;
    b.wait_balances("funding", |v| sat(v, "spendable_onchain_sat") == FUND_B)
        .await;

    // Open A → B with a push.
    const CHANNEL: u64 = 500_000;
    const PUSH_MSAT: u64 = 100_000_000;
    let opened = a
        .post(
            "/channels",
            json!({"node_id": b.node_id, "address": b.p2p_address, "amount_sat": CHANNEL, "push_msat": PUSH_MSAT}),
        )
        .await;
    let ucid = opened["user_channel_id"]
        .as_str()
        .expect("user_channel_id")
        .to_string();
    let pending = a.wait_event("ChannelPending").await;
    assert_eq!(pending["user_channel_id"], ucid.as_str());
    b.wait_event("ChannelPending").await;
    let funding_txid = pending["funding_txid"]
        .as_str()
        .expect("funding_txid")
        .to_string();
    wait_mempool(&esplora, Some(&funding_txid)).await;
    esplora.mine(6).await.expect("mine");
    let ready = a.wait_event("ChannelReady").await;
    assert_eq!(ready["user_channel_id"], ucid.as_str());
    b.wait_event("ChannelReady").await;

    let channels = a.get("/channels").await;
    let ch = &channels[0];
    assert_eq!(ch["capacity_sat"], CHANNEL);
    assert_eq!(ch["funding_txid"], funding_txid.as_str());
    assert_eq!(ch["counterparty_node_id"], b.node_id.as_str());
    assert_eq!(ch["is_channel_ready"], true);
    let after_open = a
        .wait_balances("open change", |v| sat(v, "lightning_sat") > 0)
        .await;
    let a_change = sat(&after_open, "onchain_total_sat");
    let open_fee = FUND_A - CHANNEL - a_change;
    assert!(open_fee > 0 && open_fee < 5_000, "open fee {open_fee}");

    // Fixed-amount invoice.
    let inv = b
        .post(
            "/invoice",
            json!({"amount_msat": 20_000_000, "description": "fixed", "expiry_secs": 600}),
        )
        .await;
    let paid = a.post("/pay", json!({"invoice": inv["invoice"]})).await;
    let ok = a.wait_event("PaymentSuccessful").await;
    assert_eq!(ok["payment_hash"], inv["payment_hash"]);
    assert_eq!(ok["payment_id"], paid["payment_id"]);
    let got = b.wait_event("PaymentReceived").await;
    assert_eq!(got["payment_hash"], inv["payment_hash"]);
    assert_eq!(got["amount_msat"], 20_000_000);

    // Variable-amount invoice.
    let inv = b
        .post(
            "/invoice",
            json!({"description": "any", "expiry_secs": 600}),
        )
        .await;
    let (status, err) = a
        .request(
            reqwest::Method::POST,
            "/pay",
            Some(json!({"invoice": inv["invoice"]})),
        )
        .await;
    assert!(
        status.is_client_error(),
        "variable invoice without amount: {status} {err}"
    );
    a.post(
        "/pay",
        json!({"invoice": inv["invoice"], "amount_msat": 5_000_000}),
    )
    .await;
    let ok = a.wait_event("PaymentSuccessful").await;
    assert_eq!(ok["payment_hash"], inv["payment_hash"]);
    let got = b.wait_event("PaymentReceived").await;
    assert_eq!(got["amount_msat"], 5_000_000);

    // Keysend.
    let sent = a
        .post(
            "/keysend",
            json!({"node_id": b.node_id, "amount_msat": 3_000_000}),
        )
        .await;
    let ok = a.wait_event("PaymentSuccessful").await;
    assert_eq!(ok["payment_id"], sent["payment_id"]);
    let got = b.wait_event("PaymentReceived").await;
    assert_eq!(got["amount_msat"], 3_000_000);
    const PAID_MSAT: u64 = 28_000_000;

    let pa = lightning_payments(&a.get("/payments").await);
    let pb = lightning_payments(&b.get("/payments").await);
    for (who, list, dir) in [("A", &pa, "outbound"), ("B", &pb, "inbound")] {
        assert_eq!(list.len(), 3, "{who}: {list:?}");
        for p in list {
            assert_eq!(p["status"], "succeeded", "{who}: {p}");
            assert_eq!(p["direction"], dir, "{who}: {p}");
            assert!(p["preimage"].is_string(), "{who}: {p}");
        }
        let mut kinds: Vec<&str> = list
            .iter()
            .map(|p| p["kind"].as_str().unwrap_or(""))
            .collect();
        kinds.sort();
        assert_eq!(kinds, ["bolt11", "bolt11", "spontaneous"], "{who}");
        let total: u64 = list
            .iter()
            .map(|p| p["amount_msat"].as_u64().unwrap_or(0))
            .sum();
        assert_eq!(total, PAID_MSAT, "{who}");
    }
    let one = a
        .get(&format!(
            "/payments/{}",
            sent["payment_id"].as_str().expect("id")
        ))
        .await;
    assert_eq!(one["kind"], "spontaneous");
    assert_eq!(
        pa.iter()
            .map(|p| p["fee_paid_msat"].as_u64().unwrap_or(0))
            .sum::<u64>(),
        0,
        "direct channel, no routing fee"
    );
    let ch = &a.get("/channels").await[0];
    let b_side_msat = PUSH_MSAT + PAID_MSAT;
    assert!(ch["inbound_msat"].as_u64().expect("inbound") <= b_side_msat);

    // Cooperative close.
    a.post(
        "/channels/close",
        json!({"user_channel_id": ucid, "counterparty_node_id": b.node_id}),
    )
    .await;
    let closed = a.wait_event("ChannelClosed").await;
    assert_eq!(closed["user_channel_id"], ucid.as_str());
    b.wait_event("ChannelClosed").await;
    wait_mempool(&esplora, None).await;
    esplora.mine(6).await.expect("mine");

    let b_expected = FUND_B + b_side_msat / 1000;
    let b_final = b
        .wait_balances("close (B)", |v| {
            sat(v, "onchain_total_sat") == b_expected
                && v["lightning_claimable"]
                    .as_array()
                    .is_some_and(|l| l.is_empty())
        })
        .await;
    assert_eq!(sat(&b_final, "spendable_onchain_sat"), b_expected);
    let a_final = a
        .wait_balances("close (A)", |v| {
            sat(v, "onchain_total_sat") > a_change
                && v["lightning_claimable"]
                    .as_array()
                    .is_some_and(|l| l.is_empty())
        })
        .await;
    let a_onchain = sat(&a_final, "onchain_total_sat");
    // A got its channel balance back minus the closing fee (the funder pays it).
    let a_channel_sat = CHANNEL - b_side_msat / 1000;
    let close_fee = a_change + a_channel_sat - a_onchain;
    assert!(close_fee > 0 && close_fee < 5_000, "close fee {close_fee}");
    assert_eq!(
        a_onchain,
        FUND_A - b_side_msat / 1000 - open_fee - close_fee
    );
    assert_eq!(
        sat(&a_final, "spendable_onchain_sat"),
        a_onchain,
        "all confirmed, no reserve: {a_final}"
    );
    assert_eq!(sat(&a_final, "lightning_sat"), 0);
    assert_eq!(a.get("/channels").await, json!([]));
    println!(
        "open fee {open_fee} sat, close fee {close_fee} sat, A {a_onchain} sat, B {b_expected} sat"
    );

    // Clean exits: B via POST /stop, A via SIGTERM.
    b.post("/stop", json!({})).await;
    let mut child = b.child.take().expect("child");
    let status = wait_exit(&mut child, Duration::from_secs(20)).expect("B exits after /stop");
    assert!(status.success(), "B: {status}");
    let status = a.terminate().expect("A exits on SIGTERM");
    assert!(status.success(), "A: {status}");
    println!(
        "full cycle wall time: {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_errors_are_json_4xx() {
    let esplora = RegtestEsplora::start().await.expect("regtest-esplora");
    // This one finds bitcoind through regtest-esplora's /regtest/rpc.
    let p = Peer::spawn(exe(), "P", Chain::Esplora(esplora.esplora_url()));

    let (status, v) = p
        .request(
            reqwest::Method::POST,
            "/pay",
            Some(json!({"invoice": "lnbcrt1notaninvoice"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let msg = v["error"].as_str().expect("error message");
    assert!(msg.contains("invalid invoice"), "{msg}");

    let (status, v) = p
        .request(
            reqwest::Method::POST,
            "/pay",
            Some(json!({"amount_msat": 1})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    assert!(v["error"].is_string());

    let (status, v) = p
        .request(
            reqwest::Method::POST,
            "/keysend",
            Some(json!({"node_id": "02zz", "amount_msat": 1})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");

    let (status, v) = p.request(reqwest::Method::GET, "/nope", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{v}");
    assert!(v["error"].is_string());

    let (status, _) = p
        .request(reqwest::Method::GET, "/events/next?timeout_ms=100", None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    let info = p.get("/info").await;
    assert!(info["block_height"].as_u64().is_some());
}

/// ldk-node's LSPS2 service (`--lsps2`) works on regtest with the bitcoind RPC chain source:
/// on the test network, a client (`--lsps2-client`, the LSP's token) gets a JIT invoice, the
/// merchant pays it through the LSP, the LSP opens a 0-conf channel to the client with its fee
/// taken, the client receives the rest. A client without the token gets no invoice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lsps2_jit_channel_on_the_test_network() {
    use regtest_esplora::network::TestNetwork;

    const TOKEN: &str = "secret";
    const AMOUNT_MSAT: u64 = 50_000_000;
    let esplora = RegtestEsplora::start().await.expect("regtest-esplora");
    let started = Instant::now();
    let net = TestNetwork::start_with_lsp_args(exe(), &esplora, &["--lsps2-token", TOKEN]).await;
    println!("TestNetwork::start took {:?}", started.elapsed());
    let rpc = esplora.rpc_info().clone();
    let uri = net.lsp_uri();
    let client = Peer::spawn_with_args(
        exe(),
        "client",
        Chain::Rpc(&rpc),
        &["--lsps2-client", &uri, "--lsps2-client-token", TOKEN],
    );
    let stranger = Peer::spawn_with_args(
        exe(),
        "stranger",
        Chain::Rpc(&rpc),
        &["--lsps2-client", &uri],
    );

    // An ldk-node client accepts an anchor channel only with its reserve on-chain.
    let addr = client.post("/address", json!({})).await;
    let addr = regtest_address(addr["address"].as_str().expect("address")).expect("address");
    esplora
        .faucet_pay(&addr, 100_000, true)
        .await
        .expect("faucet");
    client
        .wait_balances("funding", |v| sat(v, "spendable_onchain_sat") == 100_000)
        .await;

    let (status, v) = stranger
        .request(
            reqwest::Method::POST,
            "/invoice",
            Some(json!({"amount_msat": AMOUNT_MSAT, "jit": true})),
        )
        .await;
    assert!(!status.is_success(), "no token, no JIT invoice: {v}");

    let inv = client
        .post(
            "/invoice",
            json!({"amount_msat": AMOUNT_MSAT, "jit": true, "description": "jit"}),
        )
        .await;
    net.merchant
        .post("/pay", json!({"invoice": inv["invoice"]}))
        .await;
    let received = client.wait_event("PaymentReceived").await;
    // The opening fee: max(1 % of 50,000 sat, the 1,000 sat minimum).
    const FEE_MSAT: u64 = 1_000_000;
    assert_eq!(sat(&received, "amount_msat"), AMOUNT_MSAT - FEE_MSAT);
    let paid = net.merchant.wait_event("PaymentSuccessful").await;
    println!("merchant paid, fee {}", paid["fee_paid_msat"]);

    let channels = client.get("/channels").await;
    let channel = channels
        .as_array()
        .expect("channels")
        .iter()
        .find(|c| c["counterparty_node_id"] == net.lsp_id())
        .unwrap_or_else(|| panic!("no channel with the LSP: {channels}"));
    // The forwarded amount plus 10 % over-provisioning, opened unannounced.
    assert_eq!(
        sat(channel, "capacity_sat"),
        (AMOUNT_MSAT - FEE_MSAT) * 11 / 10 / 1000
    );
    assert_eq!(channel["is_announced"], false);
    println!("JIT payment done after {:?}", started.elapsed());
}

/// A GET with its headers (the LNURL tests look at CORS).
async fn get_raw(url: &str) -> (reqwest::header::HeaderMap, Value) {
    let resp = reqwest::get(url)
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    assert_eq!(resp.status(), StatusCode::OK, "GET {url}");
    let headers = resp.headers().clone();
    let v = resp.json().await.expect("JSON body");
    (headers, v)
}

fn decode(v: &Value) -> Bolt11Invoice {
    v["pr"]
        .as_str()
        .unwrap_or_else(|| panic!("no pr in {v}"))
        .parse()
        .expect("a BOLT11 invoice")
}

fn description_hash(inv: &Bolt11Invoice) -> [u8; 32] {
    match inv.description() {
        Bolt11InvoiceDescriptionRef::Hash(h) => h.0.to_byte_array(),
        Bolt11InvoiceDescriptionRef::Direct(d) => panic!("a direct description {d}"),
    }
}

/// The merchant's LNURL-pay server (LUD-06/09/10/12/16), the Lightning address, and node
/// message signing at the peer: the answers' shapes, the invoice's commitments, the refusals,
/// the misbehaving users, and a real payment showing up with its comment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lnurl_pay_server_and_lightning_address() {
    let esplora = RegtestEsplora::start().await.expect("regtest-esplora");
    let rpc = esplora.rpc_info().clone();
    let payer = Peer::spawn(exe(), "payer", Chain::Rpc(&rpc));
    let shop = Peer::spawn(exe(), "shop", Chain::Rpc(&rpc));
    let host = shop.url.trim_start_matches("http://").to_string();
    assert_eq!(shop.lightning_address("shop"), format!("shop@{host}"));

    // LUD-16: the address's well-known URL answers a LUD-06 payRequest, cross-origin.
    let (headers, pay_req) = get_raw(&format!("{}/.well-known/lnurlp/shop", shop.url)).await;
    assert_eq!(headers["access-control-allow-origin"], "*");
    assert_eq!(pay_req["tag"], "payRequest");
    assert_eq!(
        pay_req["callback"],
        format!("http://{host}/lnurlp/shop/callback")
    );
    assert_eq!(pay_req["minSendable"], 1000);
    assert_eq!(pay_req["maxSendable"], 1_000_000_000);
    assert_eq!(pay_req["commentAllowed"], 140);
    let metadata = pay_req["metadata"].as_str().expect("metadata").to_string();
    let entries: Value = serde_json::from_str(&metadata).expect("metadata is JSON");
    assert_eq!(
        entries,
        json!([
            ["text/plain", "Pay shop on the wasm-ln test network"],
            ["text/identifier", format!("shop@{host}")]
        ])
    );
    let preflight = reqwest::Client::new()
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/lnurlp/shop/callback", shop.url),
        )
        .header("origin", "http://example.test")
        .header("access-control-request-method", "GET")
        .send()
        .await
        .expect("preflight");
    assert!(preflight.status().is_success(), "{}", preflight.status());
    assert_eq!(preflight.headers()["access-control-allow-origin"], "*");

    // The callback: an invoice for exactly the amount, committing to the metadata's SHA-256.
    let callback = pay_req["callback"].as_str().expect("callback").to_string();
    let comment = "two coffees, no sugar ☕";
    let url =
        reqwest::Url::parse_with_params(&callback, [("amount", "21000000"), ("comment", comment)])
            .expect("callback URL");
    let (headers, answer) = get_raw(url.as_str()).await;
    assert_eq!(headers["access-control-allow-origin"], "*");
    assert_eq!(answer["routes"], json!([]));
    assert_eq!(
        answer["successAction"],
        json!({"tag": "message", "message": "Thanks! shop got 21000 sat"})
    );
    let invoice = decode(&answer);
    assert_eq!(invoice.amount_milli_satoshis(), Some(21_000_000));
    assert_eq!(
        description_hash(&invoice),
        sha256::Hash::hash(metadata.as_bytes()).to_byte_array()
    );
    assert_eq!(invoice.recover_payee_pub_key().to_string(), shop.node_id);

    // Refusals: LUD-06's ERROR with HTTP 200.
    let long = "x".repeat(141);
    for query in [
        "amount=999".to_string(),
        "amount=1000000001".to_string(),
        String::new(),
        "amount=lots".to_string(),
        format!("amount=5000&comment={long}"),
    ] {
        let (_, v) = get_raw(&format!("{callback}?{query}")).await;
        assert_eq!(v["status"], "ERROR", "{query}: {v}");
        assert!(v["reason"].as_str().is_some_and(|r| !r.is_empty()), "{v}");
        assert!(v.get("pr").is_none(), "{v}");
    }
    let exactly = "y".repeat(140);
    let (_, v) = get_raw(&format!("{callback}?amount=1000&comment={exactly}")).await;
    assert!(
        v["pr"].is_string(),
        "a 140-character comment is allowed: {v}"
    );

    // The misbehaving users.
    let base = &shop.url;
    let (_, bad) = get_raw(&format!("{base}/.well-known/lnurlp/badhash")).await;
    let bad_meta = bad["metadata"].as_str().expect("metadata");
    let (_, v) = get_raw(&format!("{base}/lnurlp/badhash/callback?amount=5000")).await;
    assert_ne!(
        description_hash(&decode(&v)),
        sha256::Hash::hash(bad_meta.as_bytes()).to_byte_array()
    );
    let (_, v) = get_raw(&format!("{base}/lnurlp/badamount/callback?amount=5000")).await;
    assert_eq!(decode(&v).amount_milli_satoshis(), Some(6_000));
    let (_, v) = get_raw(&format!("{base}/lnurlp/urlaction/callback?amount=5000")).await;
    assert_eq!(
        v["successAction"],
        json!({"tag": "url", "description": "Your receipt", "url": format!("http://{host}/lnurlp/urlaction/receipt")})
    );

    // The merchant's record of its callbacks.
    let list = shop.get("/lnurlp/shop/payments").await;
    let list = list.as_array().expect("array");
    assert_eq!(list.len(), 2, "{list:?}");
    assert_eq!(list[0]["comment"], comment);
    assert_eq!(list[0]["amount_msat"], 21_000_000);
    assert_eq!(
        list[0]["payment_hash"],
        hex(invoice.payment_hash().as_byte_array())
    );
    assert_eq!(list[0]["paid"], false);
    assert_eq!(list[1]["comment"], exactly.as_str());

    // Node message signing (ldk-node's, the reference our node is tested against).
    let signed = payer.post("/sign", json!({"message": "hello"})).await;
    let sig = signed["signature"].as_str().expect("signature");
    let verify = |message: &str| {
        shop.post(
            "/verify",
            json!({"message": message, "signature": sig, "pubkey": payer.node_id}),
        )
    };
    assert_eq!(verify("hello").await["valid"], true);
    assert_eq!(verify("hellO").await["valid"], false);

    // A real payment: the record says paid; the aes success action decrypts with its preimage.
    for (peer, amount) in [(&payer, 1_000_000), (&shop, 100_000)] {
        let addr = peer.post("/address", json!({})).await;
        let addr =
            regtest_address(addr["address"].as_str().expect("address")).expect("regtest address");
        esplora
            .faucet_pay(&addr, amount, true)
            .await
            .expect("faucet");
    }
    payer
        .wait_balances("funding", |v| sat(v, "spendable_onchain_sat") == 1_000_000)
        .await;
    shop.wait_balances("funding", |v| sat(v, "spendable_onchain_sat") == 100_000)
        .await;
    payer
        .post(
            "/channels",
            json!({"node_id": shop.node_id, "address": shop.p2p_address, "amount_sat": 300_000}),
        )
        .await;
    let pending = payer.wait_event("ChannelPending").await;
    wait_mempool(&esplora, pending["funding_txid"].as_str()).await;
    esplora.mine(6).await.expect("mine");
    payer.wait_event("ChannelReady").await;
    shop.wait_event("ChannelReady").await;

    payer.post("/pay", json!({"invoice": answer["pr"]})).await;
    payer.wait_event("PaymentSuccessful").await;
    shop.wait_event("PaymentReceived").await;
    let list = shop.get("/lnurlp/shop/payments").await;
    assert_eq!(list[0]["paid"], true, "{list}");
    assert_eq!(list[1]["paid"], false, "{list}");

    let (_, v) = get_raw(&format!("{base}/lnurlp/aesaction/callback?amount=7000")).await;
    let action = &v["successAction"];
    assert_eq!(action["tag"], "aes", "{v}");
    payer.post("/pay", json!({"invoice": v["pr"]})).await;
    let ok = payer.wait_event("PaymentSuccessful").await;
    let preimage: [u8; 32] = hex_decode(ok["payment_preimage"].as_str().expect("preimage"))
        .try_into()
        .expect("32 bytes");
    let b64 = base64::engine::general_purpose::STANDARD;
    let ciphertext = b64
        .decode(action["ciphertext"].as_str().expect("ciphertext"))
        .expect("base64");
    let iv: [u8; 16] = b64
        .decode(action["iv"].as_str().expect("iv"))
        .expect("base64")
        .try_into()
        .expect("16-byte iv");
    let plain = cbc::Decryptor::<aes::Aes256>::new(&preimage.into(), &iv.into())
        .decrypt_padded_vec_mut::<Pkcs7>(&ciphertext)
        .expect("decrypts");
    assert_eq!(plain, b"Thanks! aesaction got 7 sat");
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hex_decode(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}
