//! Access control and hostile input: tokens on every endpoint, viewer versus admin rights,
//! the failed-attempt brake, WebSocket origins, abuse, malformed HTTP, traversal, slow-loris,
//! connection caps, vanished clients, TLS, the soak, and shutdown under load.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use framecast_shared::{ClientMessage, ErrorCode, ServerMessage};
use framecast_tests::http_client::{request, request_from};
use framecast_tests::process::Usage;
use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::util::*;

const SMALL: &[&str] = &["--size", "160x120", "--fps", "20"];
const VIEW: &str = "view-t0ken";
const ADMIN: &str = "adm1n-t0ken";

fn with_tokens(extra: &[&'static str]) -> Vec<&'static str> {
    let mut args = SMALL.to_vec();
    args.extend(["--token", VIEW, "--admin-token", ADMIN]);
    args.extend(extra);
    args
}

/// Status of `GET path` with extra headers, from `local` (default address when `None`).
async fn status_of(
    server: &Server,
    local: Option<IpAddr>,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, Headers) {
    let r = within(10, path, request_from(local, server.addr, "GET", path, headers, b""))
        .await
        .expect("response");
    (r.status, r.headers)
}

const GUARDED: &[&str] = &[
    "/stream.mjpg",
    "/stream",
    "/snapshot.jpg",
    "/snapshot",
    "/api/state",
    "/?action=snapshot",
    "/?action=stream",
    "/ws",
];

#[tokio::test]
async fn every_camera_endpoint_needs_the_token_and_the_client_itself_does_not() {
    let server = Server::start(&with_tokens(&[]));
    for path in GUARDED {
        let (status, headers) = status_of(&server, None, path, &[]).await;
        assert_eq!(status, 401, "{path} without a token");
        let challenge = header(&headers, "www-authenticate").unwrap_or("");
        assert!(challenge.contains("Bearer") && challenge.contains("Basic"), "{path}: {challenge}");
        // A page script's fetch: no Basic challenge (the web client asks in its own way).
        let (status, headers) = status_of(&server, None, path, &[("Sec-Fetch-Mode", "cors")]).await;
        assert_eq!((status, header(&headers, "www-authenticate")), (401, Some("Bearer")), "{path}");
        // A wrong token: refused, and no Basic challenge (no browser login box over the app).
        let (status, headers) = status_of(&server, None, path, &[("Authorization", "Bearer wrong")]).await;
        assert_eq!(status, 401, "{path} with a wrong token");
        assert_eq!(header(&headers, "www-authenticate"), Some("Bearer"));
    }
    // Every way of presenting the token, for both tokens. (/ws without an upgrade is a 4xx
    // from the upgrade itself, past the token check.)
    let basic_view = "Basic dmlld2VyOnZpZXctdDBrZW4="; // viewer:view-t0ken
    for path in GUARDED.iter().filter(|p| **p != "/ws") {
        for headers in [vec![("Authorization", "Bearer view-t0ken")], vec![("Authorization", basic_view)]] {
            let (status, _) = status_of(&server, None, path, &headers).await;
            assert_eq!(status, 200, "{path} with {headers:?}");
        }
        let sep = if path.contains('?') { '&' } else { '?' };
        let (status, _) = status_of(&server, None, &format!("{path}{sep}token={ADMIN}"), &[]).await;
        assert_eq!(status, 200, "{path} with ?token=");
    }
    let (status, _) = status_of(&server, None, "/ws", &[("Authorization", "Bearer view-t0ken")]).await;
    assert!((400..500).contains(&status) && status != 401, "/ws past the token check: {status}");
    for public in ["/", "/index.html"] {
        let (status, _) = status_of(&server, None, public, &[]).await;
        assert_eq!(status, 200, "{public} is the web client and needs no token");
    }
    // The WebSocket itself, with the token in the URL as the browser client sends it.
    let (_viewer, hello) = Viewer::connect(&server, &format!("?token={VIEW}")).await;
    assert!(matches!(hello, ServerMessage::Hello { admin: false, .. }));
    let refused = tokio_tungstenite::connect_async(server.ws_url("/ws?token=nope")).await;
    assert!(refused.is_err(), "a wrong token must not open a WebSocket");
}

#[tokio::test]
async fn only_the_admin_token_changes_the_camera() {
    let server = Server::start(&with_tokens(&[]));
    let (mut viewer, hello) = Viewer::connect(&server, &format!("?token={VIEW}")).await;
    assert!(matches!(hello, ServerMessage::Hello { admin: false, .. }));
    viewer.send(&ClientMessage::Settings { width: None, height: None, fps: Some(10), quality: None }).await;
    let reply = loop {
        match viewer.next_control(5).await {
            ServerMessage::State { .. } => continue,
            other => break other,
        }
    };
    assert!(matches!(reply, ServerMessage::Error { code: ErrorCode::Forbidden, .. }), "{reply:?}");
    viewer.send(&ClientMessage::Control { name: "brightness".into(), value: 1 }).await;
    let reply = loop {
        match viewer.next_control(5).await {
            ServerMessage::State { .. } => continue,
            other => break other,
        }
    };
    assert!(matches!(reply, ServerMessage::Error { code: ErrorCode::Forbidden, .. }), "{reply:?}");

    let (mut admin, hello) = Viewer::connect(&server, &format!("?token={ADMIN}")).await;
    assert!(matches!(hello, ServerMessage::Hello { admin: true, .. }));
    admin.send(&ClientMessage::Settings { width: None, height: None, fps: Some(10), quality: None }).await;
    let changed = within(10, "state with fps 10", async {
        loop {
            if let ServerMessage::State { camera } = viewer.next_control(10).await
                && camera.fps == 10
            {
                return camera;
            }
        }
    })
    .await;
    assert_eq!(changed.fps, 10, "the viewer sees the admin's change");

    // With one token only, its holder is the admin.
    let single = Server::start(&[SMALL, &["--token", VIEW]].concat());
    let (_v, hello) = Viewer::connect(&single, &format!("?token={VIEW}")).await;
    assert!(matches!(hello, ServerMessage::Hello { admin: true, .. }));
    // With an admin token only, watching is open but changing is not.
    let open = Server::start(&[SMALL, &["--admin-token", ADMIN]].concat());
    assert_eq!(status_of(&open, None, "/api/state", &[]).await.0, 200);
    let (_v, hello) = Viewer::connect(&open, "").await;
    assert!(matches!(hello, ServerMessage::Hello { admin: false, .. }));
}

#[tokio::test]
async fn guessing_tokens_gets_an_address_locked_out_but_not_others() {
    let server = Server::start(&with_tokens(&[]));
    let guesser: IpAddr = "127.0.0.2".parse().unwrap();
    let bystander: IpAddr = "127.0.0.3".parse().unwrap();
    for i in 0..10 {
        let (status, _) = status_of(
            &server,
            Some(guesser),
            "/api/state",
            &[("Authorization", &format!("Bearer guess{i}"))],
        )
        .await;
        assert_eq!(status, 401);
    }
    let (status, headers) = status_of(&server, Some(guesser), &format!("/api/state?token={VIEW}"), &[]).await;
    assert_eq!(status, 429, "the right token after 10 wrong ones from the same address");
    let wait: u64 = header(&headers, "retry-after").expect("retry-after").parse().unwrap();
    assert!((1..=60).contains(&wait), "retry-after {wait}");
    // Push endpoints share the brake.
    let r =
        request_from(Some(guesser), server.addr, "POST", "/api/cameras/x/frame", &[], b"x").await.unwrap();
    assert_eq!(r.status, 429);
    assert_eq!(status_of(&server, Some(bystander), &format!("/api/state?token={VIEW}"), &[]).await.0, 200);
    // Asking without a token is not guessing.
    for _ in 0..20 {
        assert_eq!(status_of(&server, Some(bystander), "/api/state", &[]).await.0, 401);
    }
    assert_eq!(status_of(&server, Some(bystander), &format!("/api/state?token={VIEW}"), &[]).await.0, 200);
}

async fn ws_status_with_origin(server: &Server, origin: &str) -> Result<(), u16> {
    let mut request = server.ws_url("/ws").into_client_request().unwrap();
    request.headers_mut().insert("origin", origin.parse().unwrap());
    match tokio_tungstenite::connect_async(request).await {
        Ok(_) => Ok(()),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => Err(response.status().as_u16()),
        Err(e) => panic!("unexpected error {e}"),
    }
}

#[tokio::test]
async fn websockets_from_other_sites_are_refused() {
    let server = Server::start(&[SMALL, &["--allow-origin", "https://octopi.local"]].concat());
    let own = format!("http://{}", server.addr);
    assert_eq!(ws_status_with_origin(&server, &own).await, Ok(()));
    assert_eq!(ws_status_with_origin(&server, "https://octopi.local").await, Ok(()));
    assert_eq!(ws_status_with_origin(&server, "https://evil.example").await, Err(403));
    assert_eq!(ws_status_with_origin(&server, "null").await, Err(403));
}

#[tokio::test]
async fn a_client_that_keeps_sending_garbage_is_closed_and_others_do_not_notice() {
    let server = Server::start(SMALL);
    let (mut honest, _) = Viewer::connect(&server, "").await;
    honest.watch_for(Duration::from_millis(500)).await;
    let (mut abuser, _) = Viewer::connect(&server, "").await;
    let watching = tokio::spawn(async move { honest.watch_for(Duration::from_secs(2)).await });
    for _ in 0..20 {
        // Sends fail once the server has closed: that is the point.
        if !abuser.try_send_text("{\"type\":").await {
            break;
        }
    }
    let close = within(5, "close of the abuser", async {
        loop {
            match abuser.try_next().await {
                Some(Incoming::Close(code)) => return code,
                Some(_) => {}
                None => return None,
            }
        }
    })
    .await;
    assert_eq!(close, Some(1008), "policy-violation close");
    let frames = watching.await.unwrap();
    let fps = fps_of(&frames);
    assert!(fps > 16.0, "the honest viewer got {fps:.1} fps at 20 fps while another was closed");
}

#[tokio::test]
async fn malformed_http_gets_a_clean_4xx() {
    let server = Server::start(SMALL);
    let raw = |bytes: Vec<u8>| {
        let addr = server.addr;
        async move {
            let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
            let _ = s.write_all(&bytes).await;
            let mut out = Vec::new();
            let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
            String::from_utf8_lossy(&out).lines().next().unwrap_or("").to_string()
        }
    };
    assert!(raw(b"HELLO\r\n\r\n".to_vec()).await.starts_with("HTTP/1.1 400"));
    assert!(
        raw(b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n".to_vec()).await.starts_with("HTTP/1.1 400")
    );
    // Oversized headers: 431, or (when the server closes before reading the rest, so the
    // kernel resets the connection) no answer at all; never served.
    for size in [200 * 1024, 1024 * 1024] {
        let big = format!("GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n", "a".repeat(size));
        let answer = raw(big.into_bytes()).await;
        assert!(answer.is_empty() || answer.starts_with("HTTP/1.1 431"), "{size} B of headers: {answer}");
    }
    let r = request(server.addr, "POST", "/api/state", &[], b"{}").await.unwrap();
    assert_eq!(r.status, 405);
    let r = request(server.addr, "GET", "/stream.mjpg?camera=nope", &[], b"").await.unwrap();
    assert_eq!(r.status, 404);
    // The server is unharmed.
    assert_eq!(http_get_body(&server, "/snapshot.jpg").await.0, 200);
}

#[tokio::test]
async fn no_path_leaves_the_embedded_files() {
    let server = Server::start(SMALL);
    for path in [
        "/../../../../etc/passwd",
        "/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "/..%2f..%2f..%2fetc%2fpasswd",
        "//etc/passwd",
        "/index.html/../../Cargo.toml",
        "/static/..%5c..%5cwindows%5cwin.ini",
        "/%00",
    ] {
        let (status, _, body) = within(5, path, http_client::get_body(server.addr, path)).await.unwrap();
        let text = String::from_utf8_lossy(&body);
        assert!((400..500).contains(&status), "{path}: {status}");
        assert!(!text.contains("root:") && !text.contains("[workspace]"), "{path} leaked a file");
    }
    let (status, headers, _) = http_get_body(&server, "/").await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "cache-control"), Some("no-cache"));
    assert_eq!(header(&headers, "x-content-type-options"), Some("nosniff"));
}

#[tokio::test]
async fn a_request_trickled_byte_by_byte_is_dropped_after_30_seconds() {
    let server = Server::start(SMALL);
    let mut s = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    s.write_all(b"GET /api/state HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    let started = Instant::now();
    let closed_after = within(45, "slow-loris drop", async {
        loop {
            tokio::time::sleep(Duration::from_secs(2)).await;
            if s.write_all(b"X-Slow: y\r\n").await.is_err() {
                return started.elapsed();
            }
            let mut buf = [0u8; 256];
            if let Ok(Ok(n)) = tokio::time::timeout(Duration::from_millis(10), s.read(&mut buf)).await {
                // Either the 408 or the end of the connection.
                if n == 0 || buf.starts_with(b"HTTP/1.1 408") {
                    return started.elapsed();
                }
            }
        }
    })
    .await;
    assert!(
        closed_after >= Duration::from_secs(28) && closed_after <= Duration::from_secs(36),
        "dropped after {closed_after:?}"
    );
    assert_eq!(http_get_body(&server, "/api/state").await.0, 200);
}

#[tokio::test]
async fn connection_caps_hold_per_address_and_in_total() {
    let server =
        Server::start(&[SMALL, &["--max-connections-per-address", "3", "--max-connections", "5"]].concat());
    let a: IpAddr = "127.0.0.4".parse().unwrap();
    let b: IpAddr = "127.0.0.5".parse().unwrap();
    let mut streams = Vec::new();
    for _ in 0..3 {
        let r = request_from(Some(a), server.addr, "GET", "/stream.mjpg", &[], b"").await.unwrap();
        assert_eq!(r.status, 200);
        streams.push(r);
    }
    let r = request_from(Some(a), server.addr, "GET", "/api/state", &[], b"").await.unwrap();
    assert_eq!(r.status, 503, "a fourth connection from the same address");
    for _ in 0..2 {
        streams.push(request_from(Some(b), server.addr, "GET", "/stream.mjpg", &[], b"").await.unwrap());
    }
    let r = request_from(Some("127.0.0.6".parse().unwrap()), server.addr, "GET", "/api/state", &[], b"")
        .await
        .unwrap();
    assert_eq!(r.status, 503, "over the total cap");
    streams.truncate(2);
    let admitted = within(5, "a freed slot", async {
        loop {
            let r = request_from(Some(a), server.addr, "GET", "/api/state", &[], b"").await.unwrap();
            if r.status == 200 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    admitted.await;
}

async fn viewers_of(server: &Server) -> usize {
    let (_, _, body) = http_get_body(server, "/api/state").await;
    let state: framecast_shared::ApiState = serde_json::from_slice(&body).unwrap();
    state.cameras[0].viewers
}

#[tokio::test]
async fn vanished_clients_are_cleaned_up() {
    let server = Server::start(&[SMALL, &["--keepalive", "0.5"]].concat());
    let baseline = Usage::of(server.pid()).unwrap().fds;
    // A WebSocket client that stops reading (so never answers pings) but keeps its socket.
    let (silent, _) =
        tokio_tungstenite::connect_async(server.ws_url("/ws")).await.expect("websocket upgrade");
    // Processes killed with SIGKILL, in the middle of an MJPEG stream and a WebSocket.
    let addr = server.addr;
    let mut killed = Vec::new();
    for path in ["/stream.mjpg", "/ws"] {
        let upgrade = if path == "/ws" {
            "Upgrade: websocket\\r\\nConnection: Upgrade\\r\\nSec-WebSocket-Version: 13\\r\\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\\r\\n"
        } else {
            ""
        };
        let script = format!(
            "exec 3<>/dev/tcp/{}/{}; printf 'GET {path} HTTP/1.1\\r\\nHost: x\\r\\n{upgrade}\\r\\n' >&3; sleep 60",
            addr.ip(),
            addr.port()
        );
        killed.push(std::process::Command::new("bash").arg("-c").arg(script).spawn().unwrap());
    }
    within(5, "4 viewers", async {
        while viewers_of(&server).await < 3 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    for child in &mut killed {
        child.kill().unwrap();
        child.wait().unwrap();
    }
    let started = Instant::now();
    within(10, "viewers back to 0", async {
        while viewers_of(&server).await > 0 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
    drop(silent);
    within(5, "open files back to the baseline", async {
        while Usage::of(server.pid()).unwrap().fds > baseline {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
}

#[tokio::test]
async fn soak_of_abusive_connections_leaves_no_trace() {
    let server =
        Server::start(&[SMALL, &["--token", VIEW, "--max-connections-per-address", "4096"]].concat());
    let report = framecast_tests::soak::run(server.addr, server.pid(), 2000, 16, Some(VIEW)).await;
    eprintln!("{report:?}");
    assert_eq!(report.connect_failures, 0);
    assert!(
        report.fds_after <= report.fds_before,
        "{} -> {} open files",
        report.fds_before,
        report.fds_after
    );
    assert!(
        report.rss_after < report.rss_before + 8 * 1024 * 1024,
        "RSS {} -> {} after 2000 cycles",
        report.rss_before,
        report.rss_after
    );
    assert!(report.still_serving);
}

#[tokio::test]
async fn sigterm_under_full_load_still_exits_within_a_second() {
    let mut server =
        Server::start(&["--size", "640x360", "--fps", "30", "--max-connections-per-address", "1000"]);
    let mut viewers = Vec::new();
    for _ in 0..100 {
        let (ws, _) = tokio_tungstenite::connect_async(server.ws_url("/ws")).await.unwrap();
        viewers.push(tokio::spawn(async move {
            let (_tx, mut rx) = ws.split();
            // Read without acking: each viewer holds a full credit window.
            while let Some(Ok(_)) = rx.next().await {}
        }));
    }
    let mut streams = Vec::new();
    for _ in 0..100 {
        let (_s, _h, body) = http_get(&server, "/stream.mjpg").await;
        streams.push(tokio::spawn(async move {
            let mut body = body;
            while body.read_exact(4096).await.is_ok() {}
        }));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let asked = Instant::now();
    server.terminate();
    let status = server.wait_exit(Duration::from_secs(3)).expect("framecast still running 3 s after SIGTERM");
    let took = asked.elapsed();
    assert!(status.success(), "{status:?}");
    assert!(took < Duration::from_secs(1), "exit took {took:?} with 200 clients");
    for task in viewers.into_iter().chain(streams) {
        within(5, "client sees the end", task).await.unwrap();
    }
}

#[tokio::test]
async fn non_loopback_without_a_token_warns_and_bad_tls_files_are_refused() {
    let mut child = std::process::Command::new(binary())
        .args(["--listen", "0.0.0.0:0", "--camera", "emulated"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let line = std::thread::spawn(move || {
        use std::io::BufRead;
        std::io::BufReader::new(stderr).lines().map_while(Result::ok).find(|l| l.contains("warning"))
    });
    let started = Instant::now();
    while !line.is_finished() && started.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    let line = line.join().unwrap().expect("a warning on stderr");
    assert!(line.contains("--token"), "{line}");

    let (code, stderr) = run_to_exit(
        &["--tls-cert", "/nonexistent.pem", "--tls-key", "/nonexistent.key"],
        Duration::from_secs(10),
    );
    assert_eq!(code, Some(2));
    assert!(stderr.contains("/nonexistent.pem"), "{stderr}");
    let (code, stderr) = run_to_exit(&["--tls-cert", "x.pem"], Duration::from_secs(10));
    assert_eq!(code, Some(2), "{stderr}");
}

/// A self-signed certificate for 127.0.0.1 / localhost, made with the openssl command.
fn self_signed(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let status = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
        ])
        .args(["-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        // A leaf, not a CA (what a real server certificate is; rustls refuses a CA as leaf).
        .args(["-addext", "basicConstraints=critical,CA:FALSE", "-addext", "extendedKeyUsage=serverAuth"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl runs (apt-get install openssl)");
    assert!(status.success());
    (cert, key)
}

#[tokio::test]
async fn https_and_wss_with_a_certificate() {
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
    use tokio_rustls::rustls::{ClientConfig, RootCertStore};

    let dir = temp_dir("tls");
    let (cert, key) = self_signed(&dir);
    let (cert_arg, key_arg) = (cert.to_str().unwrap(), key.to_str().unwrap());
    let server =
        Server::start(&[SMALL, &["--tls-cert", cert_arg, "--tls-key", key_arg, "--token", VIEW]].concat());

    let mut roots = RootCertStore::empty();
    roots.add(CertificateDer::from_pem_file(&cert).unwrap()).unwrap();
    let provider = std::sync::Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
    let tls = |name: &'static str| {
        let connector = connector.clone();
        let addr = server.addr;
        async move {
            let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
            connector.connect(ServerName::try_from(name).unwrap(), tcp).await.expect("TLS handshake")
        }
    };

    // HTTPS: the state document, with the token.
    let mut stream = tls("localhost").await;
    stream
        .write_all(format!("GET /api/state HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {VIEW}\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut response = Vec::new();
    within(5, "https response", stream.read_to_end(&mut response)).await.ok();
    let text = String::from_utf8_lossy(&response);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains("\"cameras\""), "{text}");

    // WSS: hello, then frames.
    let stream = tls("127.0.0.1").await;
    let url = format!("wss://127.0.0.1:{}/ws?token={VIEW}", server.addr.port());
    let (mut ws, _) = tokio_tungstenite::client_async(url, stream).await.expect("wss upgrade");
    let got_frame = within(5, "a frame over wss", async {
        while let Some(Ok(message)) = ws.next().await {
            if message.is_binary() {
                return true;
            }
        }
        false
    })
    .await;
    assert!(got_frame);

    // Plain HTTP on the TLS port gets nowhere, and harms nothing.
    let mut plain = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    plain.write_all(b"GET /api/state HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let mut buf = Vec::new();
    let _ = within(15, "plain HTTP dropped", plain.read_to_end(&mut buf)).await;
    assert!(!String::from_utf8_lossy(&buf).contains("cameras"));
    let _ = std::fs::remove_dir_all(dir);
}
