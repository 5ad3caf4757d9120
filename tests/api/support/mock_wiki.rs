#![allow(dead_code)]
//! `MockWiki`: an in-process HTTP server that answers MediaWiki Action API (`/w/api.php`)
//! requests the way a MediaWiki 1.4x (Wikimedia-hosted, Portuguese Wikipedia-like) would, from
//! fixture revisions held in memory.
//!
//! Why: the service's production Revision API client must be tested unchanged — same
//! request parameters, same JSON shapes (formatversion=2), same error shapes — without
//! reaching a real wiki (tests have no network). It also injects the faults a real wiki
//! and its edge caches produce (5xx pages, slowness, `maxlag`, internal errors, a refused
//! connection), so that retry and timeout behaviour can be tested deterministically.
//!
//! Only `formatversion=2` + `format=json` is spoken; the deliberate simplifications are
//! listed at each place where they happen (search for "Deviation").

use std::collections::{BTreeMap, HashMap, HashSet};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::{json, Map, Value};
use tokio::sync::oneshot;
use warp::http::header::{CONTENT_TYPE, USER_AGENT};
use warp::http::{HeaderMap, Response, StatusCode};
use warp::hyper::body::Bytes;
use warp::path::FullPath;
use warp::Filter;

use crate::helpers::free_port;

/// The only path that speaks the API; everything else is a 404 page, as on a real wiki.
pub const API_PATH: &str = "/w/api.php";
/// The wiki the standard fixtures describe (Portuguese Wikipedia).
pub const WIKI_ID: &str = "ptwiki";
/// What the mock reports as the answering host (`servedby`), like `mw1234` on Wikimedia.
const SERVED_BY: &str = "mockwiki";
/// MediaWiki's default limit for multi-value parameters without `apihighlimits`.
const MULTI_VALUE_LIMIT: usize = 50;

/// One revision of a fixture page, as handed to [`MockWiki::add_page`].
#[derive(Clone, Debug)]
pub struct FixtureRev {
    pub user: String,
    /// 0 means an anonymous (IP) edit, as in MediaWiki.
    pub userid: u64,
    /// RFC 3339 / MediaWiki ISO 8601, e.g. "2026-11-21T10:00:00Z"; echoed verbatim.
    pub timestamp: String,
    pub content: String,
    /// Revision-deleted text: the slot is answered without "content".
    pub texthidden: bool,
    /// Revision-deleted user: answered as `"userhidden": true` without "user"/"userid".
    pub userhidden: bool,
    pub minor: bool,
}

impl FixtureRev {
    /// A visible, non-minor revision. The user id is derived from a stable hash of the name,
    /// so the same name always gets the same id across fixtures and runs; a name that is an
    /// IP address gets 0, as anonymous edits do in MediaWiki.
    pub fn new(user: &str, timestamp: &str, content: &str) -> Self {
        FixtureRev {
            user: user.to_string(),
            userid: user_id_for(user),
            timestamp: timestamp.to_string(),
            content: content.to_string(),
            texthidden: false,
            userhidden: false,
            minor: false,
        }
    }

    /// The same revision, marked as a minor edit.
    pub fn with_minor(mut self) -> Self {
        self.minor = true;
        self
    }

    /// The same revision, with its text revision-deleted.
    pub fn with_text_hidden(mut self) -> Self {
        self.texthidden = true;
        self
    }

    /// The same revision, with its user revision-deleted.
    pub fn with_user_hidden(mut self) -> Self {
        self.userhidden = true;
        self
    }
}

/// The stable user id for a user name (FNV-1a, folded into a realistic positive range);
/// 0 for IP addresses. Tests may use it to predict `userid` values.
pub fn user_id_for(user: &str) -> u64 {
    if user.parse::<std::net::IpAddr>().is_ok() {
        return 0;
    }
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in user.as_bytes() {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    1 + hash % 99_999_999
}

/// Fault injection, switchable at any time with [`MockWiki::set_fault`]. Faults apply to
/// `/w/api.php` only, and only to requests that carry a User-Agent (a request without one
/// is refused first, as Wikimedia's edge does).
#[derive(Clone, Debug, PartialEq)]
pub enum Fault {
    /// Serve normally.
    None,
    /// HTTP 503 with an HTML body, like a Varnish/ATS error page.
    ServerError,
    /// Sleep this long before answering (then answer normally).
    Slow(Duration),
    /// HTTP 200 with MediaWiki's `maxlag` error and headers `Retry-After: 5`,
    /// `X-Database-Lag: 5`.
    Maxlag,
    /// HTTP 200 with `internal_api_error_DBQueryError`.
    InternalError,
    /// Fail only the next n requests with 503, then serve normally (the fault then reads
    /// back as `Fault::None`).
    FailNext(u32),
}

/// A revision as stored: the fixture plus the ids the wiki assigned.
#[derive(Clone, Debug)]
struct StoredRev {
    revid: u64,
    parentid: u64,
    pageid: u64,
    rev: FixtureRev,
}

#[derive(Clone, Debug)]
struct Page {
    pageid: u64,
    ns: i32,
    /// The full title as MediaWiki shows it, namespace prefix included.
    title: String,
    revids: Vec<u64>,
}

/// The wiki's content. Ids are handed out like MediaWiki's auto-increment columns.
#[derive(Debug)]
struct Store {
    pages: BTreeMap<u64, Page>,
    revs: BTreeMap<u64, StoredRev>,
    /// Both the full title and the title as given to `add_page`, to the page id.
    titles: HashMap<String, u64>,
    next_pageid: u64,
    next_revid: u64,
}

/// What the tests switch and observe.
#[derive(Debug)]
struct Control {
    fault: Fault,
    last_user_agent: Option<String>,
    last_params: Vec<(String, String)>,
}

/// State shared between the handle and the server's request handlers.
struct Inner {
    addr: SocketAddr,
    store: Mutex<Store>,
    control: Mutex<Control>,
    requests: AtomicU64,
}

/// A running server task and the means to stop it.
struct Running {
    shutdown: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

/// A fake MediaWiki on 127.0.0.1 (see the module docs). Dropping it stops the server.
pub struct MockWiki {
    inner: Arc<Inner>,
    server: Mutex<Option<Running>>,
}

/// Locks a mutex even if a panicking test poisoned it: the data stays usable, and one
/// failing test must not cascade into every request answering 500.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl MockWiki {
    /// Starts on a free local port with the standard fixtures for wiki [`WIKI_ID`]: pages 1–8,
    /// "Prosa", "Ligações", "Referências", "Predefinições", "東京", "Criação", "Vandalismo",
    /// "Escondido", with revisions 1001–1018 (see `add_standard_fixtures`); pages added later
    /// continue from page 9 and revision 1019. Must be called inside a Tokio runtime (either
    /// flavour).
    pub async fn start() -> MockWiki {
        // Not an ephemeral port: the fault tests stop and restart it on the same port, and an
        // outgoing connection must not take it meanwhile.
        // (A port found free may be taken by another test before the bind: a few tries.)
        let listener = (0..10)
            .find_map(|_| std::net::TcpListener::bind(("127.0.0.1", free_port())).ok())
            .expect("mockwiki: bind");
        let addr = listener.local_addr().expect("mockwiki: local_addr");
        let wiki = MockWiki {
            inner: Arc::new(Inner {
                addr,
                store: Mutex::new(Store {
                    pages: BTreeMap::new(),
                    revs: BTreeMap::new(),
                    titles: HashMap::new(),
                    next_pageid: 1,
                    next_revid: 1001,
                }),
                control: Mutex::new(Control {
                    fault: Fault::None,
                    last_user_agent: None,
                    last_params: Vec::new(),
                }),
                requests: AtomicU64::new(0),
            }),
            server: Mutex::new(None),
        };
        wiki.add_standard_fixtures();
        wiki.serve(listener);
        wiki
    }

    /// The API endpoint, e.g. "http://127.0.0.1:41234/w/api.php".
    pub fn api_url(&self) -> String {
        format!("{}{API_PATH}", self.base_url())
    }

    /// The server root, e.g. "http://127.0.0.1:41234" (also siteinfo's `server`).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.inner.addr)
    }

    /// The listening address; stays the same across `stop()`/`restart()`.
    pub fn addr(&self) -> SocketAddr {
        self.inner.addr
    }

    /// The wiki id the fixtures describe ("ptwiki").
    pub fn wiki_id(&self) -> &'static str {
        WIKI_ID
    }

    /// Adds a page with revisions (oldest first); returns the revision ids assigned. Each
    /// revision's parent is the previous one (the first has parentid 0 = page creation).
    /// Revision ids are unique across the whole wiki and increase.
    ///
    /// `title` may be given with or without its namespace prefix: for `ns` 10, "Info" and
    /// "Predefinição:Info" both make the page "Predefinição:Info", and [`MockWiki::rev`]
    /// finds it under either. Panics (test set-up error) on an empty `revisions`, an unknown
    /// namespace or a title already in use.
    pub fn add_page(&self, title: &str, ns: i32, revisions: Vec<FixtureRev>) -> Vec<u64> {
        assert!(
            !revisions.is_empty(),
            "mockwiki: page {title:?} needs at least one revision"
        );
        let prefix = namespace(ns)
            .unwrap_or_else(|| panic!("mockwiki: unknown namespace {ns} for {title:?}"))
            .name;
        let full = if prefix.is_empty() || title.starts_with(&format!("{prefix}:")) {
            title.to_string()
        } else {
            format!("{prefix}:{title}")
        };
        let mut store = lock(&self.inner.store);
        assert!(
            !store.titles.contains_key(title) && !store.titles.contains_key(&full),
            "mockwiki: page {full:?} already exists (use add_revisions to append)"
        );
        let pageid = store.next_pageid;
        store.next_pageid += 1;
        store.pages.insert(
            pageid,
            Page {
                pageid,
                ns,
                title: full.clone(),
                revids: Vec::new(),
            },
        );
        store.titles.insert(full, pageid);
        store.titles.insert(title.to_string(), pageid);
        append_revisions(&mut store, pageid, revisions)
    }

    /// Appends revisions (oldest first) to an existing page, as new edits; the first one's
    /// parent is the page's current latest revision. Returns the revision ids assigned.
    pub fn add_revisions(&self, title: &str, revisions: Vec<FixtureRev>) -> Vec<u64> {
        let mut store = lock(&self.inner.store);
        let pageid = *store
            .titles
            .get(title)
            .unwrap_or_else(|| panic!("mockwiki: no page {title:?}"));
        append_revisions(&mut store, pageid, revisions)
    }

    /// Looks up a fixture revision id by page title and index (0 = oldest). Panics if there
    /// is no such page or revision, naming the pages that exist.
    pub fn rev(&self, title: &str, index: usize) -> u64 {
        let store = lock(&self.inner.store);
        let Some(page) = store.titles.get(title).and_then(|id| store.pages.get(id)) else {
            let known: Vec<&str> = store.pages.values().map(|p| p.title.as_str()).collect();
            panic!("mockwiki: no page {title:?}; pages are {known:?}");
        };
        *page.revids.get(index).unwrap_or_else(|| {
            panic!(
                "mockwiki: page {title:?} has {} revisions, no index {index}",
                page.revids.len()
            )
        })
    }

    /// The page id of a page, by title (full or as given to `add_page`).
    pub fn page_id(&self, title: &str) -> Option<u64> {
        lock(&self.inner.store).titles.get(title).copied()
    }

    /// The stored fixture of a revision, e.g. to compare against what the client returns.
    pub fn revision(&self, revid: u64) -> Option<FixtureRev> {
        lock(&self.inner.store)
            .revs
            .get(&revid)
            .map(|r| r.rev.clone())
    }

    /// Switches fault injection; takes effect from the next request.
    pub fn set_fault(&self, fault: Fault) {
        lock(&self.inner.control).fault = fault;
    }

    /// The fault in force (a `FailNext` counts down as requests fail).
    pub fn fault(&self) -> Fault {
        lock(&self.inner.control).fault.clone()
    }

    /// How many api.php requests reached the server (all kinds: answered, failed by an
    /// injected fault, refused for lack of a User-Agent), for asserting retry counts.
    pub fn requests(&self) -> u64 {
        self.inner.requests.load(Ordering::SeqCst)
    }

    /// The User-Agent of the most recent api.php request: `None` before any request, or if
    /// that request carried none.
    pub fn last_user_agent(&self) -> Option<String> {
        lock(&self.inner.control).last_user_agent.clone()
    }

    /// The parameters (query string, then form body) of the most recent api.php request,
    /// in order, so tests can assert what the client sends (e.g. `maxlag`, `formatversion`).
    pub fn last_params(&self) -> Vec<(String, String)> {
        lock(&self.inner.control).last_params.clone()
    }

    /// Stops listening: further connections are refused. Idle keep-alive connections are
    /// closed; a request still in flight (e.g. under `Fault::Slow`) gets up to 2 s to finish.
    pub async fn stop(&self) {
        let running = lock(&self.server).take();
        if let Some(Running { shutdown, mut task }) = running {
            let _ = shutdown.send(());
            if tokio::time::timeout(Duration::from_secs(2), &mut task)
                .await
                .is_err()
            {
                task.abort();
            }
        }
    }

    /// Listens again on the SAME port with the same data (no-op if already running). Retries
    /// the bind for a short while in case the old socket is still being torn down.
    pub async fn restart(&self) {
        if lock(&self.server).is_some() {
            return;
        }
        let mut attempt = 0;
        let listener = loop {
            match std::net::TcpListener::bind(self.inner.addr) {
                Ok(listener) => break listener,
                Err(_) if attempt < 40 => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("mockwiki: cannot listen again on {}: {e}", self.inner.addr),
            }
        };
        self.serve(listener);
    }

    /// Spawns the warp server on `listener`, remembering how to stop it.
    fn serve(&self, listener: std::net::TcpListener) {
        listener
            .set_nonblocking(true)
            .expect("mockwiki: set_nonblocking");
        let listener = tokio::net::TcpListener::from_std(listener).expect("mockwiki: listener");
        let (shutdown, signal) = oneshot::channel::<()>();
        let server = warp::serve(routes(self.inner.clone()))
            .incoming(listener)
            .graceful(async move {
                let _ = signal.await;
            })
            .run();
        let task = tokio::spawn(server);
        *lock(&self.server) = Some(Running { shutdown, task });
    }

    /// The standard fixtures (called by `start()`): eight pages, ids 1–8, revisions
    /// 1001–1018 in this order, timestamps 10 minutes apart from 2026-11-21 09:00 UTC.
    /// Each exercises one thing a diff-based client must get right (plain prose, links of
    /// every kind, references, templates, non-Latin text, a page creation, a blank-and-revert,
    /// revision deletion).
    fn add_standard_fixtures(&self) {
        let mut minute = 0u32;
        let mut rev = |user: &str, content: &str| {
            let ts = format!("2026-11-21T{:02}:{:02}:00Z", 9 + minute / 60, minute % 60);
            minute += 10;
            FixtureRev::new(user, &ts, content)
        };

        let prosa0 = fixtures::prosa();
        let prosa1 = prosa0.replacen(
            fixtures::PROSA_ANCHOR,
            &format!("{} {}", fixtures::PROSA_ANCHOR, fixtures::PROSA_ADDED),
            1,
        );
        let prosa2 = prosa1.replacen(fixtures::PROSA_TYPO, fixtures::PROSA_FIXED, 1);
        let prosa = vec![
            rev("Alice", &prosa0),
            rev("Alice", &prosa1),
            rev("Bob", &prosa2),
        ];
        self.add_page("Prosa", 0, prosa);

        let links = vec![
            rev("Alice", fixtures::LIGACOES_0),
            rev("Alice", fixtures::LIGACOES_1),
        ];
        self.add_page("Ligações", 0, links);

        let refs = vec![
            rev("Alice", fixtures::REFERENCIAS_0),
            rev("Alice", fixtures::REFERENCIAS_1),
        ];
        self.add_page("Referências", 0, refs);

        let templates = vec![
            rev("Alice", fixtures::PREDEFINICOES_0),
            rev("Alice", fixtures::PREDEFINICOES_1),
        ];
        self.add_page("Predefinições", 0, templates);

        let tokyo1 = format!("{}{}", fixtures::TOKYO_0, fixtures::TOKYO_ADDED);
        let tokyo = vec![rev("Yuki", fixtures::TOKYO_0), rev("Yuki", &tokyo1)];
        self.add_page("東京", 0, tokyo);

        let creation = vec![rev("Alice", &fixtures::criacao())];
        self.add_page("Criação", 0, creation);

        let vandal = vec![
            rev("Alice", fixtures::VANDALISMO_0),
            rev("Mallory", ""),
            rev("Alice", fixtures::VANDALISMO_0),
        ];
        self.add_page("Vandalismo", 0, vandal);

        let hidden = vec![
            rev("Alice", "Texto original da página, visível para todos.\n"),
            rev(
                "Alice",
                "Texto com dados pessoais que foram ocultados por um administrador.\n",
            )
            .with_text_hidden(),
            rev("Alice", "Texto final da página, com o autor ocultado.\n").with_user_hidden(),
        ];
        self.add_page("Escondido", 0, hidden);
    }
}

impl Drop for MockWiki {
    /// Stops the server task so a test's wiki does not outlive the test.
    fn drop(&mut self) {
        if let Some(running) = lock(&self.server).take() {
            let _ = running.shutdown.send(());
        }
    }
}

/// Appends revisions to a page, chaining parent ids from its current latest revision.
fn append_revisions(store: &mut Store, pageid: u64, revisions: Vec<FixtureRev>) -> Vec<u64> {
    let mut parentid = store
        .pages
        .get(&pageid)
        .and_then(|p| p.revids.last().copied())
        .unwrap_or(0);
    let mut ids = Vec::with_capacity(revisions.len());
    for rev in revisions {
        let revid = store.next_revid;
        store.next_revid += 1;
        store.revs.insert(
            revid,
            StoredRev {
                revid,
                parentid,
                pageid,
                rev,
            },
        );
        if let Some(page) = store.pages.get_mut(&pageid) {
            page.revids.push(revid);
        }
        ids.push(revid);
        parentid = revid;
    }
    ids
}

// ---------------------------------------------------------------------------------------
// HTTP layer
// ---------------------------------------------------------------------------------------

/// One catch-all route: the path is matched by hand so that every request, however odd,
/// gets a wiki-like answer (a 404 page, or API JSON) rather than one of warp's rejections.
fn routes(
    inner: Arc<Inner>,
) -> impl Filter<Extract = (impl warp::Reply,), Error = Infallible> + Clone + Send + Sync + 'static
{
    let raw_query = warp::query::raw().or(warp::any().map(String::new)).unify();
    warp::any()
        .and(warp::path::full())
        .and(raw_query)
        .and(warp::header::headers_cloned())
        .and(warp::body::bytes())
        .and(warp::any().map(move || inner.clone()))
        .then(
            |path: FullPath, query: String, headers: HeaderMap, body: Bytes, inner: Arc<Inner>| async move {
                handle(&inner, path.as_str(), &query, &headers, &body).await
            },
        )
        // Only a failure to read the request body gets here.
        .recover(|_rejection: warp::Rejection| async {
            Ok::<_, Infallible>(text_response(
                StatusCode::BAD_REQUEST,
                "text/plain; charset=utf-8",
                "Bad request: the request body could not be read.\n".to_string(),
            ))
        })
}

/// Dispatches one request: other paths → 404; api.php → count, record, refuse without a
/// User-Agent, apply the fault in force, then answer from the fixtures.
async fn handle(
    inner: &Inner,
    path: &str,
    query: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Response<String> {
    if path != API_PATH {
        return text_response(
            StatusCode::NOT_FOUND,
            "text/html; charset=utf-8",
            NOT_FOUND_HTML.to_string(),
        );
    }
    inner.requests.fetch_add(1, Ordering::SeqCst);

    let user_agent = headers
        .get(USER_AGENT)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .filter(|ua| !ua.trim().is_empty());
    // MediaWiki reads $_GET and $_POST merged, POST winning: parse the query first and
    // the form body second, and let later values win.
    let mut params = parse_urlencoded(query.as_bytes());
    let is_form = headers
        .get(CONTENT_TYPE)
        .map(|v| {
            v.as_bytes()
                .to_ascii_lowercase()
                .starts_with(b"application/x-www-form-urlencoded")
        })
        .unwrap_or(false);
    if is_form {
        params.extend(parse_urlencoded(body));
    }

    let fault = {
        let mut control = lock(&inner.control);
        control.last_user_agent = user_agent.clone();
        control.last_params = params.clone();
        if user_agent.is_some() {
            take_fault(&mut control.fault)
        } else {
            Fault::None
        }
    };

    // Wikimedia's edge refuses requests without a User-Agent before MediaWiki sees them.
    if user_agent.is_none() {
        return text_response(
            StatusCode::FORBIDDEN,
            "text/plain; charset=utf-8",
            "Please set a user-agent and respect our robot policy https://w.wiki/4wJS. \
             See also https://phabricator.wikimedia.org/T400119.\n"
                .to_string(),
        );
    }

    match fault {
        Fault::None => {}
        Fault::Slow(delay) => tokio::time::sleep(delay).await,
        Fault::ServerError | Fault::FailNext(_) => {
            return text_response(
                StatusCode::SERVICE_UNAVAILABLE,
                "text/html; charset=utf-8",
                SERVER_ERROR_HTML.to_string(),
            );
        }
        Fault::Maxlag => {
            let mut extra = Map::new();
            extra.insert("host".into(), json!("10.64.0.1"));
            extra.insert("lag".into(), json!(5));
            extra.insert("type".into(), json!("db"));
            let error = ApiError::new("maxlag", "Waiting for 10.64.0.1: 5 seconds lagged.")
                .with_extra(extra);
            let mut response = error_response(inner, error);
            let headers = response.headers_mut();
            headers.insert("Retry-After", "5".parse().expect("static header"));
            headers.insert("X-Database-Lag", "5".parse().expect("static header"));
            return response;
        }
        Fault::InternalError => {
            let mut error =
                ApiError::new("internal_api_error_DBQueryError", "[abc123] Database error");
            error.docref = false;
            error
                .extra
                .insert("errorclass".into(), json!("Wikimedia\\Rdbms\\DBQueryError"));
            return error_response(inner, error);
        }
    }

    let params = Params::new(params);
    match api(inner, &params) {
        Ok(body) => json_response(StatusCode::OK, &Value::Object(body), None),
        Err(error) => error_response(inner, error),
    }
}

/// The fault for this request; counts a `FailNext` down and clears it when used up.
fn take_fault(fault: &mut Fault) -> Fault {
    match fault {
        Fault::FailNext(0) => {
            *fault = Fault::None;
            Fault::None
        }
        Fault::FailNext(n) => {
            *n -= 1;
            if *n == 0 {
                *fault = Fault::None;
            }
            Fault::FailNext(1)
        }
        other => other.clone(),
    }
}

/// A response with MediaWiki's usual API headers.
fn json_response(status: StatusCode, body: &Value, error_code: Option<&str>) -> Response<String> {
    let mut builder = Response::builder()
        .status(status)
        .header(CONTENT_TYPE, "application/json; charset=utf-8")
        .header("Cache-Control", "private, must-revalidate, max-age=0")
        .header("X-Content-Type-Options", "nosniff")
        .header("X-Frame-Options", "DENY");
    if let Some(code) = error_code {
        builder = builder.header("MediaWiki-API-Error", code);
    }
    builder
        .body(body.to_string())
        .unwrap_or_else(|_| Response::new(String::new()))
}

fn text_response(status: StatusCode, content_type: &str, body: String) -> Response<String> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    if let Ok(value) = content_type.parse() {
        response.headers_mut().insert(CONTENT_TYPE, value);
    }
    response
}

fn error_response(inner: &Inner, error: ApiError) -> Response<String> {
    let code = error.code.clone();
    let body = error.into_json(inner.addr);
    json_response(StatusCode::OK, &body, Some(&code))
}

/// Splits an `application/x-www-form-urlencoded` string (query or body) into pairs.
/// Never fails: bad percent escapes are kept literally and invalid UTF-8 becomes U+FFFD,
/// which is what MediaWiki's WebRequest ends up with too.
fn parse_urlencoded(input: &[u8]) -> Vec<(String, String)> {
    input
        .split(|&b| b == b'&')
        .filter(|pair| !pair.is_empty())
        .filter_map(|pair| {
            let (key, value) = match pair.iter().position(|&b| b == b'=') {
                Some(i) => (&pair[..i], &pair[i + 1..]),
                None => (pair, &[][..]),
            };
            let key = percent_decode(key);
            // PHP drops pairs with an empty name.
            (!key.is_empty()).then(|| (key, percent_decode(value)))
        })
        .collect()
}

fn percent_decode(input: &[u8]) -> String {
    fn hex(b: u8) -> Option<u8> {
        match b {
            b'0'..=b'9' => Some(b - b'0'),
            b'a'..=b'f' => Some(b - b'a' + 10),
            b'A'..=b'F' => Some(b - b'A' + 10),
            _ => None,
        }
    }
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        match input[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' if i + 2 < input.len() => match (hex(input[i + 1]), hex(input[i + 2])) {
                (Some(hi), Some(lo)) => {
                    out.push(hi * 16 + lo);
                    i += 3;
                }
                _ => {
                    out.push(b'%');
                    i += 1;
                }
            },
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

// ---------------------------------------------------------------------------------------
// The API proper
// ---------------------------------------------------------------------------------------

/// Request parameters, last value winning (PHP semantics), with the names in first-seen
/// order for the "Unrecognized parameter" warning.
struct Params {
    values: HashMap<String, String>,
    names: Vec<String>,
}

impl Params {
    fn new(pairs: Vec<(String, String)>) -> Self {
        let mut values = HashMap::new();
        let mut names = Vec::new();
        for (key, value) in pairs {
            if !values.contains_key(&key) {
                names.push(key.clone());
            }
            values.insert(key, value);
        }
        Params { values, names }
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// MediaWiki boolean parameters are true when present, whatever their value.
    fn flag(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }
}

/// An API error in MediaWiki's formatversion=2 shape.
struct ApiError {
    code: String,
    info: String,
    docref: bool,
    extra: Map<String, Value>,
}

impl ApiError {
    fn new(code: &str, info: impl Into<String>) -> Self {
        ApiError {
            code: code.to_string(),
            info: info.into(),
            docref: true,
            extra: Map::new(),
        }
    }

    fn with_extra(mut self, extra: Map<String, Value>) -> Self {
        self.extra = extra;
        self
    }

    fn bad_value(param: &str, value: &str) -> Self {
        ApiError::new(
            "badvalue",
            format!("Unrecognized value for parameter \"{param}\": {value}."),
        )
    }

    fn into_json(self, addr: SocketAddr) -> Value {
        let mut error = Map::new();
        error.insert("code".into(), json!(self.code));
        error.insert("info".into(), json!(self.info));
        error.extend(self.extra);
        if self.docref {
            // Deviation: real MediaWiki appends a mailing-list sentence to docref.
            error.insert(
                "docref".into(),
                json!(format!("See http://{addr}{API_PATH} for API usage.")),
            );
        }
        json!({ "error": error, "servedby": SERVED_BY })
    }
}

/// Warnings per module, rendered as MediaWiki's `errorformat=bc` does with formatversion=2:
/// `{"module": {"warnings": "line\nline"}}`.
#[derive(Default)]
struct Warnings(BTreeMap<String, Vec<String>>);

impl Warnings {
    fn add(&mut self, module: &str, message: String) {
        self.0.entry(module.to_string()).or_default().push(message);
    }

    /// "Unrecognized value(s) for parameter …" for enum values the mock does not know.
    fn unrecognized_values(&mut self, module: &str, param: &str, values: &[&str]) {
        match values {
            [] => {}
            [one] => self.add(
                module,
                format!("Unrecognized value for parameter \"{param}\": {one}."),
            ),
            many => self.add(
                module,
                format!(
                    "Unrecognized values for parameter \"{param}\": {}.",
                    many.join(", ")
                ),
            ),
        }
    }

    fn into_json(self) -> Option<Value> {
        if self.0.is_empty() {
            return None;
        }
        let map: Map<String, Value> = self
            .0
            .into_iter()
            .map(|(module, lines)| (module, json!({ "warnings": lines.join("\n") })))
            .collect();
        Some(Value::Object(map))
    }
}

/// Parameters MediaWiki would accept for the modules the mock speaks; anything else gets
/// "Unrecognized parameter". Known-but-unimplemented ones are accepted and ignored.
const KNOWN_PARAMS: &[&str] = &[
    // main
    "action",
    "format",
    "formatversion",
    "maxlag",
    "smaxage",
    "maxage",
    "assert",
    "assertuser",
    "requestid",
    "servedby",
    "curtimestamp",
    "responselanginfo",
    "origin",
    "crossorigin",
    "uselang",
    "variant",
    "errorformat",
    "errorlang",
    "errorsuppresslocalized",
    "utf8",
    "ascii",
    "callback",
    "centralauthtoken",
    // query
    "prop",
    "list",
    "meta",
    "indexpageids",
    "export",
    "exportnowrap",
    "exportschema",
    "iwurl",
    "continue",
    "rawcontinue",
    "titles",
    "pageids",
    "revids",
    "generator",
    "redirects",
    "converttitles",
    // prop=revisions
    "rvprop",
    "rvslots",
    "rvlimit",
    "rvexpandtemplates",
    "rvgeneratexml",
    "rvparse",
    "rvsection",
    "rvdiffto",
    "rvdifftotext",
    "rvdifftotextpst",
    "rvcontentformat",
    "rvcontentformat-main",
    "rvstartid",
    "rvendid",
    "rvstart",
    "rvend",
    "rvdir",
    "rvuser",
    "rvexcludeuser",
    "rvtag",
    "rvcontinue",
    // meta=siteinfo
    "siprop",
    "sifilteriw",
    "sishowalldb",
    "sinumberingroup",
    "siinlanguagecode",
];

/// Splits a multi-value parameter: on "|", or on U+001F when the value starts with it
/// (MediaWiki's escape for values that contain "|").
fn split_multi(value: &str) -> Vec<&str> {
    if let Some(rest) = value.strip_prefix('\u{1f}') {
        rest.split('\u{1f}').collect()
    } else if value.is_empty() {
        Vec::new()
    } else {
        value.split('|').collect()
    }
}

/// Validates the main module's parameters, then runs `action=query`.
fn api(inner: &Inner, params: &Params) -> Result<Map<String, Value>, ApiError> {
    // Deviation: without `action` MediaWiki serves the HTML help page (action=help); the mock
    // speaks only action=query and says so with MediaWiki's badvalue error.
    let action = params.get("action").unwrap_or("help");
    if action != "query" {
        return Err(ApiError::bad_value("action", action));
    }
    // Deviation: MediaWiki also speaks jsonfm (its default), xml, php, … and
    // formatversion=1 (the default); the mock speaks only format=json&formatversion=2.
    let format = params.get("format").unwrap_or("jsonfm");
    if format != "json" {
        return Err(ApiError::bad_value("format", format));
    }
    let formatversion = params.get("formatversion").unwrap_or("1");
    if formatversion != "2" && formatversion != "latest" {
        return Err(ApiError::bad_value("formatversion", formatversion));
    }

    let mut warnings = Warnings::default();
    let unknown: Vec<&str> = params
        .names
        .iter()
        .map(String::as_str)
        .filter(|name| !KNOWN_PARAMS.contains(name))
        .collect();
    match unknown.as_slice() {
        [] => {}
        [one] => warnings.add("main", format!("Unrecognized parameter: {one}.")),
        many => warnings.add(
            "main",
            format!("Unrecognized parameters: {}.", many.join(", ")),
        ),
    }

    let query = query(inner, params, &mut warnings)?;

    let mut out = Map::new();
    out.insert("batchcomplete".into(), json!(true));
    if let Some(w) = warnings.into_json() {
        out.insert("warnings".into(), w);
    }
    if !query.is_empty() {
        out.insert("query".into(), Value::Object(query));
    }
    if let Some(id) = params.get("requestid") {
        out.insert("requestid".into(), json!(id));
    }
    if params.flag("servedby") {
        out.insert("servedby".into(), json!(SERVED_BY));
    }
    Ok(out)
}

/// `action=query`: prop=revisions over `revids`, and meta=siteinfo.
fn query(
    inner: &Inner,
    params: &Params,
    warnings: &mut Warnings,
) -> Result<Map<String, Value>, ApiError> {
    let props = split_multi(params.get("prop").unwrap_or(""));
    let unknown_props: Vec<&str> = props
        .iter()
        .copied()
        .filter(|p| !p.is_empty() && *p != "revisions")
        .collect();
    warnings.unrecognized_values("query", "prop", &unknown_props);
    // Deviation: MediaWiki has many list modules; the mock has none.
    let lists: Vec<&str> = split_multi(params.get("list").unwrap_or(""))
        .into_iter()
        .filter(|l| !l.is_empty())
        .collect();
    warnings.unrecognized_values("query", "list", &lists);
    let metas = split_multi(params.get("meta").unwrap_or(""));
    let unknown_metas: Vec<&str> = metas
        .iter()
        .copied()
        .filter(|m| !m.is_empty() && *m != "siteinfo")
        .collect();
    warnings.unrecognized_values("query", "meta", &unknown_metas);

    // Deviation: only `revids` selects pages; titles/pageids/generator would need title
    // normalisation and "missing" pages, which the client under test does not use. Fail
    // loudly rather than answer something subtly wrong.
    for selector in ["titles", "pageids", "generator"] {
        if params.get(selector).is_some_and(|v| !v.is_empty()) {
            return Err(ApiError::new(
                "mockwiki-unsupported",
                format!("mockwiki supports only \"revids\" as page selector, not \"{selector}\"."),
            ));
        }
    }

    let mut query = Map::new();
    let revids = parse_revids(params.get("revids").unwrap_or(""))?;
    if !revids.is_empty() {
        let with_revisions = props.contains(&"revisions");
        let rvprops = if with_revisions {
            Some(RvProps::parse(params, warnings))
        } else {
            None
        };
        let store = lock(&inner.store);
        revisions(&store, &revids, rvprops.as_ref(), &mut query);
    }
    if metas.contains(&"siteinfo") {
        siteinfo(inner.addr, params, warnings, &mut query);
    }
    Ok(query)
}

/// Parses `revids` like MediaWiki's integer multi-value parameter: the count is checked
/// before the values, and duplicates are dropped.
fn parse_revids(raw: &str) -> Result<Vec<u64>, ApiError> {
    let values = split_multi(raw);
    if values.len() > MULTI_VALUE_LIMIT {
        return Err(ApiError::new(
            "toomanyvalues",
            format!(
                "Too many values supplied for parameter \"revids\". The limit is {MULTI_VALUE_LIMIT}."
            ),
        ));
    }
    let mut seen = HashSet::new();
    let mut ids = Vec::new();
    for value in values {
        // Deviation: MediaWiki accepts 0 and negative integers here (and reports them as
        // bad revids); the mock treats them as invalid integers.
        let digits = value.strip_prefix('+').unwrap_or(value);
        let id = digits
            .parse::<u64>()
            .ok()
            .filter(|id| *id > 0 && digits.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| {
                ApiError::new(
                    "badinteger",
                    format!("Invalid value \"{value}\" for integer parameter \"revids\"."),
                )
            })?;
        if seen.insert(id) {
            ids.push(id);
        }
    }
    Ok(ids)
}

/// Which revision fields were asked for (`rvprop`) and how content is laid out (`rvslots`).
struct RvProps {
    ids: bool,
    flags: bool,
    timestamp: bool,
    user: bool,
    userid: bool,
    size: bool,
    sha1: bool,
    comment: bool,
    parsedcomment: bool,
    tags: bool,
    roles: bool,
    content: bool,
    contentmodel: bool,
    slotsize: bool,
    slotsha1: bool,
    /// `rvslots` given: content goes under "slots"; otherwise MediaWiki's deprecated legacy
    /// layout (content fields on the revision itself).
    slots: bool,
    /// Whether the main slot was among the requested slots.
    main_slot: bool,
}

impl RvProps {
    fn parse(params: &Params, warnings: &mut Warnings) -> Self {
        let requested = split_multi(
            params
                .get("rvprop")
                .unwrap_or("ids|timestamp|flags|comment|user"),
        );
        let has = |name: &str| requested.contains(&name);
        const KNOWN: &[&str] = &[
            "ids",
            "flags",
            "timestamp",
            "user",
            "userid",
            "size",
            "slotsize",
            "sha1",
            "slotsha1",
            "contentmodel",
            "comment",
            "parsedcomment",
            "content",
            "tags",
            "roles",
        ];
        let unknown: Vec<&str> = requested
            .iter()
            .copied()
            .filter(|p| !p.is_empty() && !KNOWN.contains(p))
            .collect();
        warnings.unrecognized_values("revisions", "rvprop", &unknown);

        let slots_param = params.get("rvslots");
        let slot_names = split_multi(slots_param.unwrap_or(""));
        let unknown_slots: Vec<&str> = slot_names
            .iter()
            .copied()
            .filter(|s| !s.is_empty() && *s != "main" && *s != "*")
            .collect();
        warnings.unrecognized_values("revisions", "rvslots", &unknown_slots);

        let props = RvProps {
            ids: has("ids"),
            flags: has("flags"),
            timestamp: has("timestamp"),
            user: has("user"),
            userid: has("userid"),
            size: has("size"),
            sha1: has("sha1"),
            comment: has("comment"),
            parsedcomment: has("parsedcomment"),
            tags: has("tags"),
            roles: has("roles"),
            content: has("content"),
            contentmodel: has("contentmodel"),
            slotsize: has("slotsize"),
            slotsha1: has("slotsha1"),
            slots: slots_param.is_some(),
            main_slot: slot_names.iter().any(|s| *s == "main" || *s == "*"),
        };
        if !props.slots && (props.content || props.contentmodel) {
            warnings.add(
                "revisions",
                "Because \"rvslots\" was not specified, a legacy format has been used for the \
                 output. This format is deprecated, and in the future the new format will \
                 always be used."
                    .to_string(),
            );
        }
        props
    }

    fn any_slot_field(&self) -> bool {
        self.content || self.contentmodel || self.slotsize || self.slotsha1
    }
}

/// prop=revisions for explicit revision ids: found revisions grouped under their pages
/// (pages by page id, revisions by revision id), unknown ids under "badrevids". With
/// `rvprops` None (revids given without prop=revisions) only the pages are listed.
fn revisions(
    store: &Store,
    revids: &[u64],
    rvprops: Option<&RvProps>,
    query: &mut Map<String, Value>,
) {
    let mut by_page: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    let mut bad = Map::new();
    for &revid in revids {
        match store.revs.get(&revid) {
            Some(rev) => by_page.entry(rev.pageid).or_default().push(revid),
            None => {
                bad.insert(
                    revid.to_string(),
                    json!({ "revid": revid, "missing": true }),
                );
            }
        }
    }
    if !by_page.is_empty() {
        let pages: Vec<Value> = by_page
            .into_iter()
            .filter_map(|(pageid, mut ids)| {
                let page = store.pages.get(&pageid)?;
                ids.sort_unstable();
                let mut out = Map::new();
                out.insert("pageid".into(), json!(page.pageid));
                out.insert("ns".into(), json!(page.ns));
                out.insert("title".into(), json!(page.title));
                if let Some(props) = rvprops {
                    let revs: Vec<Value> = ids
                        .iter()
                        .filter_map(|id| store.revs.get(id))
                        .map(|rev| Value::Object(revision_json(rev, props)))
                        .collect();
                    out.insert("revisions".into(), Value::Array(revs));
                }
                Some(Value::Object(out))
            })
            .collect();
        query.insert("pages".into(), Value::Array(pages));
    }
    if !bad.is_empty() {
        query.insert("badrevids".into(), Value::Object(bad));
    }
}

/// One revision, with only the requested fields, hiding what revision deletion hides.
fn revision_json(stored: &StoredRev, props: &RvProps) -> Map<String, Value> {
    let rev = &stored.rev;
    let mut out = Map::new();
    if props.ids {
        out.insert("revid".into(), json!(stored.revid));
        out.insert("parentid".into(), json!(stored.parentid));
    }
    if props.flags {
        out.insert("minor".into(), json!(rev.minor));
    }
    if props.user || props.userid {
        if rev.userhidden {
            out.insert("userhidden".into(), json!(true));
        } else {
            if props.user {
                out.insert("user".into(), json!(rev.user));
            }
            if rev.userid == 0 {
                out.insert("anon".into(), json!(true));
            }
            if props.userid {
                out.insert("userid".into(), json!(rev.userid));
            }
        }
    }
    if props.timestamp {
        out.insert("timestamp".into(), json!(rev.timestamp));
    }
    if props.size {
        out.insert("size".into(), json!(rev.content.len()));
    }
    if props.sha1 {
        if rev.texthidden {
            out.insert("sha1hidden".into(), json!(true));
        } else {
            out.insert("sha1".into(), json!(sha1_hex(rev.content.as_bytes())));
        }
    }
    if props.roles {
        out.insert("roles".into(), json!(["main"]));
    }
    // Deviation: fixtures have no edit summaries or tags; they are always empty.
    if props.comment {
        out.insert("comment".into(), json!(""));
    }
    if props.parsedcomment {
        out.insert("parsedcomment".into(), json!(""));
    }
    if props.tags {
        out.insert("tags".into(), json!([]));
    }
    if props.any_slot_field() {
        if props.slots {
            let mut slots = Map::new();
            if props.main_slot {
                slots.insert("main".into(), Value::Object(slot_json(rev, props)));
            }
            out.insert("slots".into(), Value::Object(slots));
        } else if props.content || props.contentmodel {
            // The legacy layout: the main slot's content fields on the revision itself.
            out.extend(slot_json(rev, props));
        }
    }
    out
}

/// The main slot. Deviation: every page is wikitext (no Scribunto/CSS/JS content models).
fn slot_json(rev: &FixtureRev, props: &RvProps) -> Map<String, Value> {
    let mut slot = Map::new();
    if props.slots && props.slotsize {
        slot.insert("size".into(), json!(rev.content.len()));
    }
    if props.slots && props.slotsha1 {
        if rev.texthidden {
            slot.insert("sha1hidden".into(), json!(true));
        } else {
            slot.insert("sha1".into(), json!(sha1_hex(rev.content.as_bytes())));
        }
    }
    if props.content || props.contentmodel {
        slot.insert("contentmodel".into(), json!("wikitext"));
    }
    if props.content {
        slot.insert("contentformat".into(), json!("text/x-wiki"));
        if rev.texthidden {
            slot.insert("texthidden".into(), json!(true));
        } else {
            slot.insert("content".into(), json!(rev.content));
        }
    }
    slot
}

// ---------------------------------------------------------------------------------------
// meta=siteinfo
// ---------------------------------------------------------------------------------------

/// A namespace of the Portuguese Wikipedia.
struct Namespace {
    id: i32,
    name: &'static str,
    canonical: &'static str,
    content: bool,
    subpages: bool,
}

const fn ns(
    id: i32,
    name: &'static str,
    canonical: &'static str,
    content: bool,
    subpages: bool,
) -> Namespace {
    Namespace {
        id,
        name,
        canonical,
        content,
        subpages,
    }
}

const NAMESPACES: &[Namespace] = &[
    ns(-2, "Multimédia", "Media", false, false),
    ns(-1, "Especial", "Special", false, false),
    ns(0, "", "", true, false),
    ns(1, "Discussão", "Talk", false, true),
    ns(2, "Utilizador", "User", false, true),
    ns(3, "Utilizador Discussão", "User talk", false, true),
    ns(4, "Wikipédia", "Project", false, true),
    ns(5, "Wikipédia Discussão", "Project talk", false, true),
    ns(6, "Ficheiro", "File", false, false),
    ns(7, "Ficheiro Discussão", "File talk", false, true),
    ns(8, "MediaWiki", "MediaWiki", false, false),
    ns(9, "MediaWiki Discussão", "MediaWiki talk", false, true),
    ns(10, "Predefinição", "Template", false, true),
    ns(11, "Predefinição Discussão", "Template talk", false, true),
    ns(12, "Ajuda", "Help", false, true),
    ns(13, "Ajuda Discussão", "Help talk", false, true),
    ns(14, "Categoria", "Category", false, false),
    ns(15, "Categoria Discussão", "Category talk", false, true),
    ns(100, "Portal", "Portal", false, true),
    ns(101, "Portal Discussão", "Portal talk", false, true),
    ns(102, "Anexo", "Anexo", true, true),
    ns(103, "Anexo Discussão", "Anexo Discussão", false, true),
    ns(828, "Módulo", "Module", false, true),
    ns(829, "Módulo Discussão", "Module talk", false, true),
];

fn namespace(id: i32) -> Option<&'static Namespace> {
    NAMESPACES.iter().find(|n| n.id == id)
}

const NAMESPACE_ALIASES: &[(i32, &str)] = &[(6, "Imagem"), (6, "Image"), (2, "Usuário"), (4, "WP")];

/// (prefix, url, language autonym if it is a language link).
const INTERWIKIS: &[(&str, &str, Option<&str>)] = &[
    ("commons", "https://commons.wikimedia.org/wiki/$1", None),
    ("d", "https://www.wikidata.org/wiki/$1", None),
    ("de", "https://de.wikipedia.org/wiki/$1", Some("Deutsch")),
    ("en", "https://en.wikipedia.org/wiki/$1", Some("English")),
    ("es", "https://es.wikipedia.org/wiki/$1", Some("español")),
    ("fr", "https://fr.wikipedia.org/wiki/$1", Some("français")),
    ("it", "https://it.wikipedia.org/wiki/$1", Some("italiano")),
    ("ja", "https://ja.wikipedia.org/wiki/$1", Some("日本語")),
    ("m", "https://meta.wikimedia.org/wiki/$1", None),
    ("meta", "https://meta.wikimedia.org/wiki/$1", None),
    ("mw", "https://www.mediawiki.org/wiki/$1", None),
    ("wikt", "https://pt.wiktionary.org/wiki/$1", None),
];

/// meta=siteinfo with the requested `siprop` parts (default "general").
fn siteinfo(
    addr: SocketAddr,
    params: &Params,
    warnings: &mut Warnings,
    query: &mut Map<String, Value>,
) {
    let requested = split_multi(params.get("siprop").unwrap_or("general"));
    // Deviation: MediaWiki has many more siprop parts (statistics, extensions, …).
    let known = ["general", "namespaces", "namespacealiases", "interwikimap"];
    let unknown: Vec<&str> = requested
        .iter()
        .copied()
        .filter(|p| !p.is_empty() && !known.contains(p))
        .collect();
    warnings.unrecognized_values("siteinfo", "siprop", &unknown);

    if requested.contains(&"general") {
        let server = format!("http://{addr}");
        query.insert(
            "general".into(),
            json!({
                "mainpage": "Wikipédia:Página principal",
                "base": format!("{server}/wiki/Wikip%C3%A9dia:P%C3%A1gina_principal"),
                "sitename": "Wikipédia",
                "mainpageisdomainroot": false,
                "generator": "MediaWiki 1.45.0-wmf.1",
                "lang": "pt",
                "fallback": [],
                "rtl": false,
                "fallback8bitEncoding": "windows-1252",
                "readonly": false,
                "writeapi": true,
                "maxarticlesize": 2_097_152,
                "timezone": "UTC",
                "timeoffset": 0,
                "articlepath": "/wiki/$1",
                "scriptpath": "/w",
                "script": "/w/index.php",
                "variantarticlepath": false,
                "server": server,
                "servername": addr.ip().to_string(),
                "wikiid": WIKI_ID,
                "case": "first-letter",
                "legaltitlechars": " %!\"$&'()*,\\-.\\/0-9:;=?@A-Z\\\\^_`a-z~\\x80-\\xFF+",
                "invalidusernamechars": "@:>=",
                "linkprefixcharset": "",
                "linkprefix": "",
                "linktrail": "/^([áâãàéêẽçíòóôõq̃úüűũa-z]+)(.*)$/sDu",
                "categorycollation": "uca-pt",
            }),
        );
    }
    if requested.contains(&"namespaces") {
        let namespaces: Map<String, Value> = NAMESPACES
            .iter()
            .map(|n| {
                let mut entry = Map::new();
                entry.insert("id".into(), json!(n.id));
                entry.insert("case".into(), json!("first-letter"));
                entry.insert("name".into(), json!(n.name));
                entry.insert("subpages".into(), json!(n.subpages));
                // The main namespace has no canonical name, so MediaWiki leaves it out.
                if n.id != 0 {
                    entry.insert("canonical".into(), json!(n.canonical));
                }
                entry.insert("content".into(), json!(n.content));
                entry.insert("nonincludable".into(), json!(false));
                if n.id == 828 {
                    entry.insert("defaultcontentmodel".into(), json!("Scribunto"));
                }
                (n.id.to_string(), Value::Object(entry))
            })
            .collect();
        query.insert("namespaces".into(), Value::Object(namespaces));
    }
    if requested.contains(&"namespacealiases") {
        let aliases: Vec<Value> = NAMESPACE_ALIASES
            .iter()
            .map(|(id, alias)| json!({ "id": id, "alias": alias }))
            .collect();
        query.insert("namespacealiases".into(), Value::Array(aliases));
    }
    if requested.contains(&"interwikimap") {
        let map: Vec<Value> = INTERWIKIS
            .iter()
            .map(|(prefix, url, language)| {
                let mut entry = Map::new();
                entry.insert("prefix".into(), json!(prefix));
                entry.insert("local".into(), json!(true));
                if let Some(language) = language {
                    entry.insert("language".into(), json!(language));
                    entry.insert("bcp47".into(), json!(prefix));
                }
                entry.insert("url".into(), json!(url));
                entry.insert("protorel".into(), json!(false));
                Value::Object(entry)
            })
            .collect();
        query.insert("interwikimap".into(), Value::Array(map));
    }
}

// ---------------------------------------------------------------------------------------
// SHA-1 (rvprop=sha1): no hashing crate is available to the tests, and it is small.
// ---------------------------------------------------------------------------------------

/// Lower-case hex SHA-1, as MediaWiki reports `sha1` (FIPS 180-4).
pub fn sha1_hex(data: &[u8]) -> String {
    let mut h: [u32; 5] = [
        0x6745_2301,
        0xEFCD_AB89,
        0x98BA_DCFE,
        0x1032_5476,
        0xC3D2_E1F0,
    ];
    let mut message = data.to_vec();
    message.push(0x80);
    while message.len() % 64 != 56 {
        message.push(0);
    }
    message.extend_from_slice(&((data.len() as u64).wrapping_mul(8)).to_be_bytes());
    for block in message.chunks_exact(64) {
        let mut w = [0u32; 80];
        for (word, bytes) in w.iter_mut().zip(block.chunks_exact(4)) {
            *word = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (i, word) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5A82_7999),
                20..=39 => (b ^ c ^ d, 0x6ED9_EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1B_BCDC),
                _ => (b ^ c ^ d, 0xCA62_C1D6),
            };
            let t = a
                .rotate_left(5)
                .wrapping_add(f)
                .wrapping_add(e)
                .wrapping_add(k)
                .wrapping_add(*word);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = t;
        }
        for (acc, v) in h.iter_mut().zip([a, b, c, d, e]) {
            *acc = acc.wrapping_add(v);
        }
    }
    h.iter().map(|x| format!("{x:08x}")).collect()
}

// ---------------------------------------------------------------------------------------
// Canned pages
// ---------------------------------------------------------------------------------------

/// Wikimedia's edge error page (503), as clients see it when the backends are down.
const SERVER_ERROR_HTML: &str = "<!DOCTYPE html>\n<html lang=\"en\">\n<meta charset=\"utf-8\">\n\
<title>Wikimedia Error</title>\n<div class=\"content\" role=\"main\">\n<h1>Error</h1>\n\
<p>Our servers are currently under maintenance or experiencing a technical issue. Please \
try again in a few&nbsp;minutes.</p><p>See the error message at the bottom of this page for \
more&nbsp;information.</p>\n</div>\n<div class=\"footer\"><p>If you report this error to the \
Wikimedia System Administrators, please include the details below.</p><p class=\"text-muted\">\
<code>Request served via cp3066 cp3066, ATS/9.2.5<br>Error: 503, Backend fetch failed at \
Sat, 21 Nov 2026 10:00:00 GMT</code></p>\n</div>\n</html>\n";

const NOT_FOUND_HTML: &str = "<!DOCTYPE html>\n<html lang=\"en\">\n<meta charset=\"utf-8\">\n\
<title>Not Found</title>\n<h1>Not Found</h1>\n<p>The requested URL was not found on this \
server.</p>\n</html>\n";

/// Fixture texts, in a file of their own. The path is spelled out because
/// `benches/associate.rs` includes this file by its path, where a bare `mod fixtures;` would
/// be looked for beside it rather than in `mock_wiki/`.
#[path = "mock_wiki/fixtures.rs"]
mod fixtures;

#[cfg(test)]
mod tests {
    //! The mock's own behaviour, only where the service's tests stand on it without proving
    //! it themselves; each test says what for. The rest is proven by the tests that use the
    //! mock (`associate`, `durability`, `instances`, …) and by those against a real MediaWiki.
    use super::*;
    use reqwest::StatusCode as Status;

    const UA: &str = "mockwiki-tests/1.0 (https://example.org/; tests@example.org)";
    const ALL_PROPS: &str = "ids|timestamp|user|userid|size|content|flags|sha1";

    fn client() -> reqwest::Client {
        reqwest::Client::builder()
            .user_agent(UA)
            .build()
            .expect("client")
    }

    async fn read(response: reqwest::Response) -> (Status, reqwest::header::HeaderMap, String) {
        let status = response.status();
        let headers = response.headers().clone();
        (status, headers, response.text().await.expect("body"))
    }

    /// GET with the given parameters; asserts the JSON content type and parses the body.
    async fn get(wiki: &MockWiki, params: &[(&str, &str)]) -> Value {
        let response = client()
            .get(wiki.api_url())
            .query(params)
            .send()
            .await
            .expect("GET");
        json_of(response).await
    }

    async fn json_of(response: reqwest::Response) -> Value {
        let (status, headers, body) = read(response).await;
        assert_eq!(status, Status::OK, "{body}");
        assert_eq!(
            headers["content-type"], "application/json; charset=utf-8",
            "{body}"
        );
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
    }

    fn rev_params(revids: &str) -> Vec<(&str, &str)> {
        vec![
            ("action", "query"),
            ("prop", "revisions"),
            ("revids", revids),
            ("rvprop", ALL_PROPS),
            ("rvslots", "main"),
            ("formatversion", "2"),
            ("format", "json"),
        ]
    }

    fn keys(value: &Value) -> Vec<&str> {
        let mut keys: Vec<&str> = value
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        keys
    }

    /// The client reads revisions from this answer: it must be MediaWiki's, field for field.
    #[tokio::test]
    async fn revisions_have_mediawikis_shape() {
        let wiki = MockWiki::start().await;
        let (r0, r1) = (wiki.rev("Ligações", 0), wiki.rev("Ligações", 1));
        let revids = format!("{r1}|{r0}");
        let body = get(&wiki, &rev_params(&revids)).await;
        assert_eq!(keys(&body), ["batchcomplete", "query"], "{body}");
        assert_eq!(body["batchcomplete"], true);
        assert_eq!(keys(&body["query"]), ["pages"]);
        let pages = body["query"]["pages"].as_array().unwrap();
        assert_eq!(pages.len(), 1);
        let page = &pages[0];
        assert_eq!(keys(page), ["ns", "pageid", "revisions", "title"]);
        assert_eq!(page["pageid"], 2);
        assert_eq!(page["ns"], 0);
        assert_eq!(page["title"], "Ligações");
        let revs = page["revisions"].as_array().unwrap();
        assert_eq!(revs.len(), 2);
        let content0 = wiki.revision(r0).unwrap().content;
        assert_eq!(
            revs[0],
            json!({
                "revid": r0, "parentid": 0, "minor": false, "user": "Alice",
                "userid": user_id_for("Alice"), "timestamp": wiki.revision(r0).unwrap().timestamp,
                "size": content0.len(), "sha1": sha1_hex(content0.as_bytes()),
                "slots": {"main": {"contentmodel": "wikitext", "contentformat": "text/x-wiki",
                                   "content": content0}},
            })
        );
        assert_eq!(revs[1]["revid"], r1);
        assert_eq!(revs[1]["parentid"], r0);
        assert_eq!(revs[1]["userid"], revs[0]["userid"]);
        assert_eq!(wiki.last_user_agent().as_deref(), Some(UA));
    }

    /// Unknown ids come back in `badrevids`, as from MediaWiki: `revision-missing` rests on it.
    #[tokio::test]
    async fn unknown_revids_are_badrevids() {
        let wiki = MockWiki::start().await;
        let body = get(&wiki, &rev_params("999999")).await;
        assert_eq!(
            body,
            json!({"batchcomplete": true,
                   "query": {"badrevids": {"999999": {"revid": 999999, "missing": true}}}})
        );
        let body = get(&wiki, &rev_params("1001|999999|5")).await;
        assert_eq!(body["query"]["pages"][0]["revisions"][0]["revid"], 1001);
        assert_eq!(keys(&body["query"]["badrevids"]), ["5", "999999"]);
        assert_eq!(
            body["query"]["badrevids"]["5"],
            json!({"revid": 5, "missing": true})
        );
    }

    /// Hidden text and users, marked as MediaWiki marks them: `content-hidden` rests on it.
    #[tokio::test]
    async fn revision_deletion_hides_text_and_user() {
        let wiki = MockWiki::start().await;
        let ids = format!("{}|{}", wiki.rev("Escondido", 1), wiki.rev("Escondido", 2));
        let body = get(&wiki, &rev_params(&ids)).await;
        let revs = &body["query"]["pages"][0]["revisions"];
        assert_eq!(
            revs[0]["slots"]["main"],
            json!({"contentmodel": "wikitext", "contentformat": "text/x-wiki", "texthidden": true})
        );
        assert_eq!(revs[0]["sha1hidden"], true);
        assert!(revs[0].get("sha1").is_none());
        assert_eq!(revs[0]["user"], "Alice");
        assert_eq!(revs[1]["userhidden"], true);
        assert!(revs[1].get("user").is_none() && revs[1].get("userid").is_none());
        assert!(revs[1]["slots"]["main"]["content"].is_string());
    }

    /// No User-Agent, no answer (as at Wikimedia): a client that forgets one fails every test.
    #[tokio::test]
    async fn user_agent_is_recorded_and_required() {
        let wiki = MockWiki::start().await;
        assert_eq!(wiki.last_user_agent(), None);
        let custom = reqwest::Client::builder()
            .user_agent("CampaignEvents/1.0 (ops@example.org)")
            .build()
            .unwrap();
        let response = custom
            .get(wiki.api_url())
            .query(&rev_params("1001"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), Status::OK);
        assert_eq!(
            wiki.last_user_agent().as_deref(),
            Some("CampaignEvents/1.0 (ops@example.org)")
        );
        // reqwest sends no User-Agent unless told to; Wikimedia refuses such requests.
        let bare = reqwest::Client::new();
        let response = bare
            .get(wiki.api_url())
            .query(&rev_params("1001"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), Status::FORBIDDEN);
        assert_eq!(wiki.last_user_agent(), None);
        assert_eq!(wiki.requests(), 2);
    }

    /// `FailNext(n)` really fails n times, or the retry test would pass without a retry.
    #[tokio::test]
    async fn fail_next_fails_n_times_then_serves() {
        let wiki = MockWiki::start().await;
        wiki.set_fault(Fault::FailNext(2));
        let http = client();
        let mut statuses = Vec::new();
        for _ in 0..3 {
            let response = http
                .get(wiki.api_url())
                .query(&rev_params("1001"))
                .send()
                .await
                .unwrap();
            statuses.push(response.status());
        }
        assert_eq!(
            statuses,
            [
                Status::SERVICE_UNAVAILABLE,
                Status::SERVICE_UNAVAILABLE,
                Status::OK
            ]
        );
        assert_eq!(wiki.fault(), Fault::None);
        assert_eq!(wiki.requests(), 3);
    }

    /// A stop refuses even pooled connections; a restart keeps the port: the outage test's wiki.
    #[tokio::test]
    async fn stop_refuses_connections_and_restart_reuses_the_port() {
        let wiki = MockWiki::start().await;
        let url = wiki.api_url();
        let http = client(); // keeps a pooled keep-alive connection across the stop
        assert!(get(&wiki, &rev_params("1001")).await["query"].is_object());
        assert_eq!(
            http.get(&url)
                .query(&rev_params("1001"))
                .send()
                .await
                .unwrap()
                .status(),
            Status::OK
        );
        wiki.stop().await;
        wiki.stop().await; // idempotent
        let err = http
            .get(&url)
            .query(&rev_params("1001"))
            .send()
            .await
            .unwrap_err();
        assert!(err.is_connect(), "{err:?}");
        let err = client()
            .get(&url)
            .query(&rev_params("1001"))
            .send()
            .await
            .unwrap_err();
        assert!(err.is_connect(), "{err:?}");

        wiki.restart().await;
        wiki.restart().await; // idempotent
        assert_eq!(wiki.api_url(), url);
        let response = http
            .get(&url)
            .query(&rev_params("1001"))
            .send()
            .await
            .unwrap();
        let body = json_of(response).await;
        assert_eq!(body["query"]["pages"][0]["title"], "Prosa");
    }

    /// The hand-written SHA-1 behind `rvprop=sha1` (the re-check's), against FIPS 180 vectors.
    #[test]
    fn sha1_matches_known_vectors() {
        assert_eq!(sha1_hex(b""), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
        assert_eq!(sha1_hex(b"abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
        assert_eq!(
            sha1_hex(b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "84983e441c3bd26ebaae4aa1f95129e5e54670f1"
        );
        assert_eq!(
            sha1_hex(&[b'a'; 1000]),
            "291e9a6c66994949b57ba5e650361e98fc36b1ba"
        );
    }
}
