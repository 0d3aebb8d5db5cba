//! Entry point built by Trunk; everything is in the library (`lib.rs`).

fn main() {
    framecast_frontend::start();
}
