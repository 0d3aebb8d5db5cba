//! `ws-echo`: the server's WebSocket connection ([`WsConn`], which serves `/ws` and the push
//! ingest) as an echo server, for the Autobahn|Testsuite cases (`kosoku -m fuzzingclient`,
//! run by `tests/tests/e2e/autobahn.rs`). Every text and binary message goes back as it came;
//! a close is answered, and protocol errors close the connection with the code the real
//! endpoints send. The upgrade is the same [`wsconn::upgrade`] the endpoints use.
//!
//! Listens on 127.0.0.1 (port 0 unless `--port` is given) and prints `listening on ADDR`.

use axum::extract::Request;
use axum::response::Response;
use framecast::http::wsconn::{self, Incoming, Upgrade};

/// Autobahn's largest messages are 16 MiB (cases 9.1.6, 9.2.6).
const MAX_MESSAGE: usize = 32 << 20;

#[tokio::main]
async fn main() {
    let port = match std::env::args().skip(1).collect::<Vec<_>>().as_slice() {
        [] => 0,
        [flag, port] if flag == "--port" => port.parse().expect("--port takes a number"),
        _ => {
            eprintln!("usage: ws-echo [--port N]");
            std::process::exit(2);
        }
    };
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.expect("bind 127.0.0.1");
    println!("listening on {}", listener.local_addr().expect("local address"));
    let app = axum::Router::new().fallback(upgrade);
    axum::serve(listener, app).await.expect("serve");
}

async fn upgrade(mut request: Request) -> Response {
    wsconn::upgrade(&mut request, MAX_MESSAGE, echo)
}

async fn echo(mut conn: Upgrade) {
    while let Some(incoming) = conn.next().await {
        let sent = match incoming {
            Ok(Incoming::Text(text)) => conn.send_text(&text).await,
            Ok(Incoming::Binary(bytes)) => conn.send_binary(&[&bytes]).await,
            Ok(Incoming::Control) => Ok(()),
            Ok(Incoming::Close(code)) => return conn.answer_close(code).await,
            Err(e) => return conn.close_for_error(&e).await,
        };
        if sent.is_err() {
            return;
        }
    }
}
