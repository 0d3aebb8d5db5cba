//! framecast browser client: mounts the app. See `app.rs` for the page and `stream.rs` for the
//! frame pipeline (WebSocket → decode → canvas → ack).

mod app;
mod stream;

fn main() {
    leptos::mount::mount_to_body(app::App);
}
