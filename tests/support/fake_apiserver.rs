//! An in-process fake Kubernetes API server for discovery tests (axum on 127.0.0.1:0).
//!
//! It keeps pods, nodes, services, endpoints, endpointslices (discovery.k8s.io/v1) and
//! namespaces as JSON objects with a global resourceVersion, and serves what an informer
//! uses: LIST (cluster-wide and namespaced paths) with `metadata.resourceVersion`, and WATCH
//! (`?watch=true&resourceVersion=N`) as a chunked stream of JSON lines (ADDED, MODIFIED,
//! DELETED, BOOKMARK) that stays open and carries the test's later mutations. Label and
//! field selectors apply to both (an object leaving a watch's selector is seen as DELETED,
//! one entering it as ADDED, as the real server does). A watch from a resourceVersion older
//! than the compaction point gets an `ERROR` event with a 410 `Status` and ends;
//! `compact_with` also expires open watches. `timeoutSeconds` ends a watch. `stop()`/`start()`
//! take the server down and bring it back on the same port. Every request is logged.
//!
//! Deliberately absent: GET of single objects, writes over HTTP, pagination (`limit` is
//! ignored, as the real server does for `resourceVersion=0` lists), protobuf, auth.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::{json, Value};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// One request the server received.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub path: String,
    pub query: BTreeMap<String, String>,
    pub watch: bool,
}

impl RecordedRequest {
    pub fn param(&self, k: &str) -> Option<&str> {
        self.query.get(k).map(String::as_str)
    }
}

/// A store change, applied by the test.
#[derive(Debug, Clone)]
pub enum Mutation {
    /// Adds or replaces an object (ADDED or MODIFIED).
    Apply(Value),
    /// Deletes the object with the same kind, namespace and name.
    Delete(Value),
}

struct Change {
    rv: u64,
    resource: &'static str,
    old: Option<Value>,
    new: Option<Value>,
}

struct Store {
    rv: u64,
    objects: BTreeMap<(&'static str, String, String), Value>,
    log: Vec<Change>,
    compaction: u64,
    requests: Vec<RecordedRequest>,
    bookmark_interval: Duration,
}

struct Shared {
    store: Mutex<Store>,
    notify: Notify,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }
}

struct Running {
    stop: CancellationToken,
    handle: JoinHandle<()>,
}

/// The fake API server. Dropping it stops serving.
pub struct FakeApiServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    running: Mutex<Option<Running>>,
}

/// The plural resource name of an object's `kind`.
fn resource_of(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "Pod" => "pods",
        "Node" => "nodes",
        "Service" => "services",
        "Endpoints" => "endpoints",
        "EndpointSlice" => "endpointslices",
        "Namespace" => "namespaces",
        _ => return None,
    })
}

fn kind_of(resource: &str) -> (&'static str, &'static str) {
    match resource {
        "pods" => ("Pod", "v1"),
        "nodes" => ("Node", "v1"),
        "services" => ("Service", "v1"),
        "endpoints" => ("Endpoints", "v1"),
        "endpointslices" => ("EndpointSlice", "discovery.k8s.io/v1"),
        _ => ("Namespace", "v1"),
    }
}

fn meta_str<'a>(o: &'a Value, field: &str) -> &'a str {
    o["metadata"][field].as_str().unwrap_or("")
}

fn object_key(o: &Value) -> (&'static str, String, String) {
    let res = resource_of(o["kind"].as_str().unwrap_or("")).expect("object kind");
    (
        res,
        meta_str(o, "namespace").to_string(),
        meta_str(o, "name").to_string(),
    )
}

impl FakeApiServer {
    /// Starts serving on a free loopback port.
    pub async fn start() -> FakeApiServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake apiserver");
        let addr = listener.local_addr().expect("local addr");
        let server = FakeApiServer {
            addr,
            shared: Arc::new(Shared {
                store: Mutex::new(Store {
                    rv: 100,
                    objects: BTreeMap::new(),
                    log: Vec::new(),
                    compaction: 0,
                    requests: Vec::new(),
                    bookmark_interval: Duration::from_secs(1),
                }),
                notify: Notify::new(),
            }),
            running: Mutex::new(None),
        };
        server.serve(listener);
        server
    }

    /// The base URL (`http://127.0.0.1:<port>`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn serve(&self, listener: tokio::net::TcpListener) {
        let stop = CancellationToken::new();
        let app = Router::new().fallback(handle).with_state(Ctx {
            shared: self.shared.clone(),
            stop: stop.clone(),
        });
        let s = stop.clone();
        let handle = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(s.cancelled_owned())
                .await;
        });
        *self.running() = Some(Running { stop, handle });
    }

    fn running(&self) -> MutexGuard<'_, Option<Running>> {
        self.running.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes the server down: open watches end, connections close, new ones are refused.
    pub async fn stop(&self) {
        let running = self.running().take();
        if let Some(r) = running {
            r.stop.cancel();
            let _ = tokio::time::timeout(Duration::from_secs(5), r.handle).await;
        }
    }

    /// Brings the server back on the same port, with the same store.
    pub async fn restart(&self) {
        let sock = tokio::net::TcpSocket::new_v4().expect("socket");
        sock.set_reuseaddr(true).expect("reuseaddr");
        sock.bind(self.addr).expect("rebind the same port");
        let listener = sock.listen(128).expect("listen");
        self.serve(listener);
    }

    /// Sets how often open watches with `allowWatchBookmarks` get a BOOKMARK.
    pub fn set_bookmark_interval(&self, d: Duration) {
        self.shared.lock().bookmark_interval = d;
    }

    /// Adds or replaces objects (each gets a new resourceVersion).
    pub fn apply(&self, objects: impl IntoIterator<Item = Value>) {
        self.mutate(objects.into_iter().map(Mutation::Apply).collect(), false);
    }

    /// Adds or replaces one object.
    pub fn add(&self, object: Value) {
        self.apply([object]);
    }

    /// Replaces one object (same as `add`; named for readability).
    pub fn update(&self, object: Value) {
        self.apply([object]);
    }

    /// Deletes the object with the same kind, namespace and name.
    pub fn delete(&self, object: &Value) {
        self.mutate(vec![Mutation::Delete(object.clone())], false);
    }

    /// The current resourceVersion.
    pub fn current_rv(&self) -> u64 {
        self.shared.lock().rv
    }

    /// Watches from before `rv` get 410 Gone; open watches that have not reached it expire.
    pub fn set_compaction(&self, rv: u64) {
        self.shared.lock().compaction = rv;
        self.shared.notify.notify_waiters();
    }

    /// Applies `changes` and compacts right after them, atomically: open watches never see
    /// the changes and expire with 410, so clients must relist to learn them.
    pub fn compact_with(&self, changes: Vec<Mutation>) {
        self.mutate(changes, true);
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().requests.clone()
    }

    fn mutate(&self, changes: Vec<Mutation>, compact: bool) {
        {
            let mut st = self.shared.lock();
            for m in changes {
                st.rv += 1;
                let rv = st.rv;
                match m {
                    Mutation::Apply(mut o) => {
                        o["metadata"]["resourceVersion"] = json!(rv.to_string());
                        let key = object_key(&o);
                        let resource = key.0;
                        let old = st.objects.insert(key, o.clone());
                        let new = Some(o);
                        st.log.push(Change {
                            rv,
                            resource,
                            old,
                            new,
                        });
                    }
                    Mutation::Delete(o) => {
                        let key = object_key(&o);
                        let resource = key.0;
                        if let Some(mut old) = st.objects.remove(&key) {
                            old["metadata"]["resourceVersion"] = json!(rv.to_string());
                            let (old, new) = (Some(old), None);
                            st.log.push(Change {
                                rv,
                                resource,
                                old,
                                new,
                            });
                        }
                    }
                }
            }
            if compact {
                st.compaction = st.rv;
            }
        }
        self.shared.notify.notify_waiters();
    }
}

impl Drop for FakeApiServer {
    fn drop(&mut self) {
        if let Some(r) = self.running().take() {
            r.stop.cancel();
        }
    }
}

#[derive(Clone)]
struct Ctx {
    shared: Arc<Shared>,
    stop: CancellationToken,
}

/// `%XX` and `+` decoding of one query component.
pub fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(v) => {
                        out.push(v);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// (resource, namespace) for a collection path, or None.
fn route(path: &str) -> Option<(&'static str, Option<String>)> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let known = |r: &str| -> Option<&'static str> {
        [
            "pods",
            "nodes",
            "services",
            "endpoints",
            "endpointslices",
            "namespaces",
        ]
        .into_iter()
        .find(|x| *x == r)
    };
    match parts.as_slice() {
        ["api", "v1", r] => known(r)
            .filter(|r| *r != "endpointslices")
            .map(|r| (r, None)),
        ["api", "v1", "namespaces", ns, r] => known(r)
            .filter(|r| !matches!(*r, "endpointslices" | "nodes" | "namespaces"))
            .map(|r| (r, Some(ns.to_string()))),
        ["apis", "discovery.k8s.io", "v1", "endpointslices"] => Some(("endpointslices", None)),
        ["apis", "discovery.k8s.io", "v1", "namespaces", ns, "endpointslices"] => {
            Some(("endpointslices", Some(ns.to_string())))
        }
        _ => None,
    }
}

async fn handle(State(ctx): State<Ctx>, req: Request) -> Response {
    let path = req.uri().path().to_string();
    let query: BTreeMap<String, String> = req
        .uri()
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(p), String::new()),
        })
        .collect();
    let watch = matches!(query.get("watch").map(String::as_str), Some("true" | "1"));
    ctx.shared.lock().requests.push(RecordedRequest {
        path: path.clone(),
        query: query.clone(),
        watch,
    });
    let Some((resource, ns)) = route(&path) else {
        return (
            StatusCode::NOT_FOUND,
            status_json(404, "NotFound", "not found"),
        )
            .into_response();
    };
    let filter = Filter {
        resource,
        namespace: ns,
        labels: query.get("labelSelector").cloned().unwrap_or_default(),
        fields: query.get("fieldSelector").cloned().unwrap_or_default(),
    };
    if watch {
        watch_response(ctx, filter, &query)
    } else {
        list_response(&ctx, &filter)
    }
}

fn status_json(code: u16, reason: &str, message: &str) -> String {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
           "message": message, "reason": reason, "code": code})
    .to_string()
}

fn json_response(body: String) -> Response {
    Response::builder()
        .header("content-type", "application/json")
        .body(Body::from(body))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

struct Filter {
    resource: &'static str,
    namespace: Option<String>,
    labels: String,
    fields: String,
}

impl Filter {
    fn matches(&self, resource: &str, o: &Value) -> bool {
        resource == self.resource
            && self
                .namespace
                .as_ref()
                .is_none_or(|ns| meta_str(o, "namespace") == ns)
            && labels_match(&self.labels, o)
            && fields_match(&self.fields, o)
    }
}

fn list_response(ctx: &Ctx, f: &Filter) -> Response {
    let st = ctx.shared.lock();
    let items: Vec<&Value> = st
        .objects
        .iter()
        .filter(|((r, _, _), o)| f.matches(r, o))
        .map(|(_, o)| o)
        .collect();
    let (kind, api_version) = kind_of(f.resource);
    json_response(
        json!({"kind": format!("{kind}List"), "apiVersion": api_version,
               "metadata": {"resourceVersion": st.rv.to_string()}, "items": items})
        .to_string(),
    )
}

struct WatchState {
    ctx: Ctx,
    filter: Filter,
    cursor: u64,
    /// Synthetic ADDED events still to send (watch from resourceVersion 0).
    initial: Vec<Value>,
    deadline: Instant,
    bookmarks: bool,
    next_bookmark: Instant,
    done: bool,
}

fn line(kind: &str, object: &Value) -> Bytes {
    let mut s = json!({"type": kind, "object": object}).to_string();
    s.push('\n');
    Bytes::from(s)
}

fn watch_response(ctx: Ctx, filter: Filter, q: &BTreeMap<String, String>) -> Response {
    let timeout = q
        .get("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .unwrap_or(1800);
    let requested = q
        .get("resourceVersion")
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    let (cursor, initial, interval) = {
        let st = ctx.shared.lock();
        if requested == 0 {
            let items = st
                .objects
                .iter()
                .filter(|((r, _, _), o)| filter.matches(r, o))
                .map(|(_, o)| o.clone())
                .collect();
            (st.rv, items, st.bookmark_interval)
        } else {
            (requested, Vec::new(), st.bookmark_interval)
        }
    };
    let state = WatchState {
        ctx,
        filter,
        cursor,
        initial,
        deadline: Instant::now() + Duration::from_secs(timeout),
        bookmarks: matches!(
            q.get("allowWatchBookmarks").map(String::as_str),
            Some("true" | "1")
        ),
        next_bookmark: Instant::now() + interval,
        done: false,
    };
    let stream = futures::stream::unfold(state, |mut st| async move {
        let chunk = next_chunk(&mut st).await?;
        Some((Ok::<Bytes, Infallible>(chunk), st))
    });
    Response::builder()
        .header("content-type", "application/json")
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// The next line of a watch stream, or None when it ends.
async fn next_chunk(w: &mut WatchState) -> Option<Bytes> {
    if w.done {
        return None;
    }
    if let Some(o) = w.initial.pop() {
        return Some(line("ADDED", &o));
    }
    let shared = w.ctx.shared.clone();
    loop {
        if w.ctx.stop.is_cancelled() || Instant::now() >= w.deadline {
            return None;
        }
        let notified = shared.notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        {
            let st = shared.lock();
            if w.cursor < st.compaction {
                w.done = true;
                let msg = format!("too old resource version: {} ({})", w.cursor, st.compaction);
                let status: Value =
                    serde_json::from_str(&status_json(410, "Expired", &msg)).unwrap_or(Value::Null);
                return Some(line("ERROR", &status));
            }
            let start = st.log.partition_point(|c| c.rv <= w.cursor);
            for c in &st.log[start..] {
                w.cursor = c.rv;
                let was = c
                    .old
                    .as_ref()
                    .is_some_and(|o| w.filter.matches(c.resource, o));
                let is = c
                    .new
                    .as_ref()
                    .is_some_and(|o| w.filter.matches(c.resource, o));
                let ev = match (was, is, &c.new) {
                    (true, true, Some(n)) => Some(("MODIFIED", n.clone())),
                    (false, true, Some(n)) => Some(("ADDED", n.clone())),
                    (true, false, Some(n)) => {
                        let mut n = n.clone();
                        n["metadata"]["resourceVersion"] = json!(c.rv.to_string());
                        Some(("DELETED", n))
                    }
                    (true, _, None) => c.old.clone().map(|o| ("DELETED", o)),
                    _ => None,
                };
                if let Some((t, o)) = ev {
                    return Some(line(t, &o));
                }
            }
            if st.rv > w.cursor {
                w.cursor = st.rv;
            }
            if w.bookmarks && Instant::now() >= w.next_bookmark {
                w.next_bookmark = Instant::now() + st.bookmark_interval;
                let (kind, api_version) = kind_of(w.filter.resource);
                let bm = json!({"kind": kind, "apiVersion": api_version,
                                "metadata": {"resourceVersion": w.cursor.to_string()}});
                return Some(line("BOOKMARK", &bm));
            }
        }
        let wake = if w.bookmarks {
            w.next_bookmark.min(w.deadline)
        } else {
            w.deadline
        };
        tokio::select! {
            _ = &mut notified => {}
            _ = tokio::time::sleep_until(wake) => {}
            _ = w.ctx.stop.cancelled() => return None,
        }
    }
}

/// The string value at a dotted path (`spec.nodeName`), "" when absent.
fn field(o: &Value, path: &str) -> String {
    let mut v = o;
    for p in path.split('.') {
        v = &v[p];
    }
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Field selectors: comma-separated `k=v`, `k==v`, `k!=v` (all must hold).
pub fn fields_match(sel: &str, o: &Value) -> bool {
    sel.split(',').filter(|t| !t.trim().is_empty()).all(|term| {
        if let Some((k, v)) = term.split_once("!=") {
            field(o, k.trim()) != v.trim()
        } else if let Some((k, v)) = term.split_once("==") {
            field(o, k.trim()) == v.trim()
        } else if let Some((k, v)) = term.split_once('=') {
            field(o, k.trim()) == v.trim()
        } else {
            false
        }
    })
}

/// Splits on commas outside parentheses.
fn requirements(sel: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in sel.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(sel[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(sel[start..].trim());
    out.into_iter().filter(|r| !r.is_empty()).collect()
}

/// Label selectors: `k`, `!k`, `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`.
pub fn labels_match(sel: &str, o: &Value) -> bool {
    let labels = &o["metadata"]["labels"];
    let get = |k: &str| labels[k].as_str().map(str::to_string);
    requirements(sel).into_iter().all(|r| {
        let set = |s: &str| -> Vec<String> {
            s.trim()
                .trim_start_matches('(')
                .trim_end_matches(')')
                .split(',')
                .map(|x| x.trim().to_string())
                .collect()
        };
        if let Some(k) = r.strip_prefix('!') {
            return get(k.trim()).is_none();
        }
        let words: Vec<&str> = r.splitn(3, ' ').collect();
        if words.len() == 3 && words[1] == "in" {
            return get(words[0]).is_some_and(|v| set(words[2]).contains(&v));
        }
        if words.len() == 3 && words[1] == "notin" {
            return !get(words[0]).is_some_and(|v| set(words[2]).contains(&v));
        }
        if let Some((k, v)) = r.split_once("!=") {
            return get(k.trim()).as_deref() != Some(v.trim());
        }
        if let Some((k, v)) = r.split_once("==").or_else(|| r.split_once('=')) {
            return get(k.trim()).as_deref() == Some(v.trim());
        }
        get(r).is_some()
    })
}
