//! The receiver's optional Prometheus-compatible API (`api_server`): `GET /api/v1/targets`
//! (`state=any|active|dropped`) and `GET /api/v1/scrape_pools`, in Prometheus's JSON shape,
//! so scrape failures and relabel results are visible without debug logs.

use std::net::SocketAddr;

use axum::extract::{RawQuery, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use serde_json::{json, Map, Value};
use tokio_util::sync::CancellationToken;

use super::manager::Views;
use super::scrape_loop::Health;
use super::yaml_reader::format_prom_duration;
use crate::extensions::health_check::rfc3339_nano;
use crate::relabel::Labels;

fn labels_json<'a>(it: impl Iterator<Item = (&'a str, &'a str)>) -> Value {
    Value::Object(
        it.map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
            .collect::<Map<_, _>>(),
    )
}

/// The `/api/v1/targets` document for `state` (any, active or dropped).
pub fn targets_json(views: &Views, state: &str) -> Value {
    let views = views.read().unwrap_or_else(|p| p.into_inner());
    let (want_active, want_dropped) = match state {
        "active" => (true, false),
        "dropped" => (false, true),
        _ => (true, true),
    };
    let mut active = Vec::new();
    let mut dropped = Vec::new();
    let mut dropped_counts = Map::new();
    for (job, view) in views.iter() {
        dropped_counts.insert(job.clone(), json!(view.dropped.len()));
        if want_active {
            for (t, h) in &view.active {
                let h = h.lock().unwrap_or_else(|p| p.into_inner()).clone();
                active.push(json!({
                    "discoveredLabels": labels_json(t.discovered.iter()),
                    "labels": labels_json(t.public_labels()),
                    "scrapePool": job,
                    "scrapeUrl": t.url,
                    "globalUrl": t.url,
                    "lastError": h.last_error,
                    "lastScrape": h.last_scrape.map(rfc3339_nano).unwrap_or_else(|| "0001-01-01T00:00:00Z".into()),
                    "lastScrapeDuration": h.last_scrape_duration.as_secs_f64(),
                    "health": match h.health { Health::Up => "up", Health::Down => "down", Health::Unknown => "unknown" },
                    "scrapeInterval": format_prom_duration(t.interval),
                    "scrapeTimeout": format_prom_duration(t.timeout),
                }));
            }
        }
        if want_dropped {
            for d in &view.dropped {
                dropped
                    .push(json!({ "discoveredLabels": labels_json(d.iter()), "scrapePool": job }));
            }
        }
    }
    let mut data = Map::new();
    if want_active {
        data.insert("activeTargets".into(), Value::Array(active));
    }
    if want_dropped {
        data.insert("droppedTargets".into(), Value::Array(dropped));
        data.insert("droppedTargetCounts".into(), Value::Object(dropped_counts));
    }
    json!({ "status": "success", "data": data })
}

/// Binds `endpoint` now (a clash fails the build) and returns the serving future.
pub fn bind(
    endpoint: &str,
    views: Views,
    stop: CancellationToken,
) -> std::io::Result<impl std::future::Future<Output = ()> + Send + 'static> {
    let addr: SocketAddr = crate::extensions::health_check::resolve_endpoint(endpoint)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let std_listener = std::net::TcpListener::bind(addr)?;
    std_listener.set_nonblocking(true)?;
    Ok(async move {
        let Ok(listener) = tokio::net::TcpListener::from_std(std_listener) else {
            return;
        };
        let app = Router::new()
            .route("/api/v1/targets", get(targets))
            .route("/api/v1/scrape_pools", get(pools))
            .with_state(views);
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await;
    })
}

fn json_response(v: Value) -> axum::response::Response {
    ([(header::CONTENT_TYPE, "application/json")], v.to_string()).into_response()
}

async fn targets(State(views): State<Views>, RawQuery(q): RawQuery) -> axum::response::Response {
    let q = q.unwrap_or_default();
    let state = q
        .split('&')
        .find_map(|kv| kv.strip_prefix("state="))
        .unwrap_or("any");
    json_response(targets_json(&views, state))
}

async fn pools(State(views): State<Views>) -> axum::response::Response {
    let names: Vec<String> = views
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .keys()
        .cloned()
        .collect();
    json_response(json!({ "status": "success", "data": { "scrapePools": names } }))
}

/// Labels as a JSON object, for tests.
pub fn labels_object(l: &Labels) -> Value {
    labels_json(l.iter())
}
