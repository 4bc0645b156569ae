//! The ceiling for bench/load.sh: a bare axum server on the same route
//! shape as the Sky event route, answering a constant directive with the
//! path's eid, on the same tokio multi-thread runtime and axum features
//! as `krl serve`, no engine, no store. Prints `listening http://ADDR`
//! like `krl serve`.
//!
//! ```sh
//! cargo run --release -p krl --example hello_axum -- 127.0.0.1:0
//! ```

use axum::extract::Path;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use std::io::Write as _;

async fn event(
    Path((_eci, eid, _domain, _name)): Path<(String, String, String, String)>,
) -> Json<Value> {
    Json(json!({"eid": eid, "directives": [
        {"name": "n", "options": {"n": 1}, "meta": {"rid": "hello", "rule_name": "inc", "txnId": "x"}}
    ]}))
}

fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".into());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(&addr).await?;
        let app = Router::new().route(
            "/sky/event/{eci}/{eid}/{domain}/{type}",
            get(event).post(event),
        );
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening http://{}", listener.local_addr()?)?;
        out.flush()?;
        drop(out);
        axum::serve(listener, app).await
    })
}
