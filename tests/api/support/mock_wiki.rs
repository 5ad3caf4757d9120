//! `MockWiki`: an in-process HTTP server that answers the MediaWiki Action API (`/w/api.php`)
//! requests the service's Revision API client (`association/wiki_api.rs`) sends, the way a
//! MediaWiki 1.4x (Wikimedia-hosted, Portuguese Wikipedia-like) would, from fixture revisions
//! held in memory.
//!
//! Why: the client must be tested unchanged — the same requests, the same JSON shapes
//! (formatversion=2) — without reaching a real wiki (tests have no network), against as many
//! revisions as a test needs, and with the outages a real wiki has (5xx pages, a refused
//! connection) when the test says so.
//!
//! It speaks exactly what the client sends, and nothing more: `GET` with `action=query`,
//! `format=json`, `formatversion=2`, `maxlag`, and
//! - `prop=revisions` by `revids` (up to 50), `rvprop` from
//!   `ids|timestamp|user|userid|size|content|flags|sha1`, `rvslots=main`;
//! - `meta=siteinfo`, `siprop` from `general|namespaces|namespacealiases|interwikimap`.
//!
//! Any other parameter or value is answered with the error `mockwiki-unsupported`, never with
//! a guess: a client change the mock does not follow fails the tests that use it, loudly. The
//! other deliberate simplifications are marked where they happen (search for "Deviation").
//!
//! The wiki's own sessions, `meta=userinfo`, `action=checktoken` and `list=users`, which the
//! service asks too, are not mocked: the tests of those run a real MediaWiki
//! (`support::mediawiki`).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::{json, Map, Value};
use tokio::sync::oneshot;
use warp::http::StatusCode;
use warp::reply::{Reply, Response};
use warp::Filter;

use crate::helpers::free_port;

/// The wiki the standard fixtures describe (Portuguese Wikipedia).
const WIKI_ID: &str = "ptwiki";
/// MediaWiki's limit for multi-value parameters without `apihighlimits`; the re-check asks
/// for 50 revisions at a time because of it.
const MULTI_VALUE_LIMIT: usize = 50;

/// One revision of a fixture page, as handed to [`MockWiki::add_page`].
#[derive(Clone, Debug)]
pub struct FixtureRev {
    pub user: String,
    /// Derived from the user name (see [`FixtureRev::new`]).
    pub userid: u64,
    /// RFC 3339 / MediaWiki ISO 8601, e.g. "2026-11-21T10:00:00Z"; echoed verbatim.
    pub timestamp: String,
    pub content: String,
    /// Revision-deleted text: the slot is answered without "content".
    pub texthidden: bool,
    /// Revision-deleted user: answered as `"userhidden": true` without "user"/"userid".
    pub userhidden: bool,
}

impl FixtureRev {
    /// A visible revision. The user id is a stable hash of the name (FNV-1a, folded into a
    /// realistic positive range), so the same name gets the same id across fixtures and runs.
    /// Deviation: no fixture is an anonymous (IP) edit, which MediaWiki answers with userid 0.
    pub fn new(user: &str, timestamp: &str, content: &str) -> Self {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in user.as_bytes() {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
        FixtureRev {
            user: user.to_string(),
            userid: 1 + hash % 99_999_999,
            timestamp: timestamp.to_string(),
            content: content.to_string(),
            texthidden: false,
            userhidden: false,
        }
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

/// Fault injection, switchable at any time with [`MockWiki::set_fault`]. Faults apply to
/// requests that carry a User-Agent (one without is refused first, as Wikimedia's edge does).
/// For a refused connection, [`MockWiki::stop`] the wiki.
#[derive(Clone, Debug, PartialEq)]
pub enum Fault {
    /// Serve normally.
    None,
    /// HTTP 503 with an HTML body, like Wikimedia's edge when the backends are down.
    ServerError,
    /// Fail only the next n requests with 503, then serve normally.
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
    title: String,
    revids: Vec<u64>,
}

/// The wiki's content. Ids are handed out like MediaWiki's auto-increment columns.
#[derive(Debug)]
struct Store {
    pages: BTreeMap<u64, Page>,
    revs: BTreeMap<u64, StoredRev>,
    /// Title to page id.
    titles: HashMap<String, u64>,
    next_pageid: u64,
    next_revid: u64,
}

/// What the tests switch and observe.
#[derive(Debug)]
struct Control {
    fault: Fault,
    last_user_agent: Option<String>,
}

/// State shared between the handle and the server's request handlers.
struct Inner {
    addr: SocketAddr,
    store: Mutex<Store>,
    control: Mutex<Control>,
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
    /// Starts on a free local port with the standard fixtures for wiki `ptwiki`: pages 1–8,
    /// "Prosa", "Ligações", "Referências", "Predefinições", "東京", "Criação", "Vandalismo",
    /// "Escondido", with revisions 1001–1018 (see `add_standard_fixtures`); pages added later
    /// continue from page 9 and revision 1019. Must be called inside a Tokio runtime (either
    /// flavour).
    pub async fn start() -> MockWiki {
        // Not an ephemeral port: the outage tests stop and restart it on the same port, and an
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
                }),
            }),
            server: Mutex::new(None),
        };
        wiki.add_standard_fixtures();
        wiki.serve(listener);
        wiki
    }

    /// The API endpoint, e.g. "http://127.0.0.1:41234/w/api.php"; the same across
    /// `stop()`/`restart()`.
    pub fn api_url(&self) -> String {
        format!("http://{}/w/api.php", self.inner.addr)
    }

    /// Adds a page with revisions (oldest first); returns the revision ids assigned. Each
    /// revision's parent is the previous one (the first has parentid 0 = page creation).
    /// Revision ids are unique across the whole wiki and increase. `title` is the full title,
    /// as the API shows it (with its namespace's prefix outside the main namespace, `ns` 0).
    /// Panics (test set-up error) on an empty `revisions` or a title already in use.
    pub fn add_page(&self, title: &str, ns: i32, revisions: Vec<FixtureRev>) -> Vec<u64> {
        assert!(
            !revisions.is_empty(),
            "mockwiki: page {title:?} needs at least one revision"
        );
        let mut store = lock(&self.inner.store);
        assert!(
            !store.titles.contains_key(title),
            "mockwiki: page {title:?} already exists (use add_revisions to append)"
        );
        let pageid = store.next_pageid;
        store.next_pageid += 1;
        store.pages.insert(
            pageid,
            Page {
                pageid,
                ns,
                title: title.to_string(),
                revids: Vec::new(),
            },
        );
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

    /// The stored fixture of a revision, e.g. to compare against what the service measured.
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

    /// The User-Agent of the most recent api.php request: `None` before any request, or if
    /// that request carried none.
    pub fn last_user_agent(&self) -> Option<String> {
        lock(&self.inner.control).last_user_agent.clone()
    }

    /// Stops listening: further connections are refused. Idle keep-alive connections are
    /// closed; a request still in flight gets up to 2 s to finish.
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

/// `GET /w/api.php`, as the client asks. Anything else gets warp's bare 404 or 405, which no
/// test sends. Deviation: MediaWiki also reads POST forms.
fn routes(
    inner: Arc<Inner>,
) -> impl Filter<Extract = (Response,), Error = warp::Rejection> + Clone + Send + Sync + 'static {
    warp::get()
        .and(warp::path!("w" / "api.php"))
        .and(warp::query::<Vec<(String, String)>>())
        .and(warp::header::optional::<String>("user-agent"))
        .map(move |params, user_agent| handle(&inner, params, user_agent))
}

/// Records the User-Agent, refuses a request without one, applies the fault in force, then
/// answers from the fixtures.
fn handle(inner: &Inner, params: Vec<(String, String)>, user_agent: Option<String>) -> Response {
    let user_agent = user_agent.filter(|ua| !ua.trim().is_empty());
    let fail = {
        let mut control = lock(&inner.control);
        control.last_user_agent = user_agent.clone();
        user_agent.is_some() && fails(&mut control.fault)
    };
    // Wikimedia's edge refuses requests without a User-Agent before MediaWiki sees them.
    if user_agent.is_none() {
        return warp::reply::with_status(
            "Please set a user-agent and respect our robot policy https://w.wiki/4wJS.\n",
            StatusCode::FORBIDDEN,
        )
        .into_response();
    }
    if fail {
        return warp::reply::with_status(
            warp::reply::html(SERVER_ERROR_HTML),
            StatusCode::SERVICE_UNAVAILABLE,
        )
        .into_response();
    }
    // A repeated parameter's last value wins, as in PHP.
    let params: HashMap<String, String> = params.into_iter().collect();
    let body = match api(inner, &params) {
        Ok(body) => Value::Object(body),
        // Deviation: MediaWiki adds `docref` and `servedby`, which the client does not read.
        Err(error) => json!({ "error": { "code": error.code, "info": error.info } }),
    };
    // API errors too are HTTP 200, as MediaWiki sends them.
    warp::reply::with_header(
        body.to_string(),
        "content-type",
        "application/json; charset=utf-8",
    )
    .into_response()
}

/// Whether this request fails under `fault`; counts a `FailNext` down, clearing it when used
/// up.
fn fails(fault: &mut Fault) -> bool {
    match fault {
        Fault::None => false,
        Fault::ServerError => true,
        Fault::FailNext(n) => {
            let fail = *n > 0;
            *n = n.saturating_sub(1);
            if *n == 0 {
                *fault = Fault::None;
            }
            fail
        }
    }
}

// ---------------------------------------------------------------------------------------
// The API proper
// ---------------------------------------------------------------------------------------

/// An API error: its `code` and `info`, as MediaWiki words them.
struct ApiError {
    code: &'static str,
    info: String,
}

/// A request the client does not send, so the mock does not answer it.
fn unsupported(what: impl std::fmt::Display) -> ApiError {
    ApiError {
        code: "mockwiki-unsupported",
        info: format!(
            "mockwiki does not speak {what}: it answers only what the service's client sends \
             (tests/api/support/mock_wiki.rs)"
        ),
    }
}

/// The parameters the client sends; any other is unsupported.
const PARAMS: &[&str] = &[
    "action",
    "format",
    "formatversion",
    "maxlag",
    "prop",
    "revids",
    "rvprop",
    "rvslots",
    "meta",
    "siprop",
];
/// The revision fields the client asks for: `ids|timestamp|user|userid|size|content|flags`
/// for a revision to measure, `ids|user|sha1` for the re-check.
const RVPROPS: &[&str] = &[
    "ids",
    "timestamp",
    "user",
    "userid",
    "size",
    "content",
    "flags",
    "sha1",
];
/// The siteinfo parts the client asks for.
const SIPROPS: &[&str] = &["general", "namespaces", "namespacealiases", "interwikimap"];

type Params = HashMap<String, String>;

/// The values of a multi-value parameter (`a|b`), `default` when it is absent; each must be
/// one of `known`. Deviation: MediaWiki also reads values separated by U+001F.
fn values<'a>(
    params: &'a Params,
    name: &str,
    default: &'a str,
    known: &[&str],
) -> Result<Vec<&'a str>, ApiError> {
    let raw = params.get(name).map_or(default, String::as_str);
    let values: Vec<&str> = raw.split('|').filter(|v| !v.is_empty()).collect();
    match values.iter().find(|v| !known.contains(v)) {
        Some(other) => Err(unsupported(format!("{name}={other}"))),
        None => Ok(values),
    }
}

/// Checks that the request is one the client sends, then answers it.
fn api(inner: &Inner, params: &Params) -> Result<Map<String, Value>, ApiError> {
    if let Some(name) = params.keys().find(|k| !PARAMS.contains(&k.as_str())) {
        return Err(unsupported(format!("the parameter {name:?}")));
    }
    // Deviation: MediaWiki's defaults (action=help, format=jsonfm, formatversion=1) and its
    // other actions and formats are not spoken.
    for (name, wanted) in [
        ("action", "query"),
        ("format", "json"),
        ("formatversion", "2"),
    ] {
        let given = params.get(name).map_or("", String::as_str);
        if given != wanted {
            return Err(unsupported(format!("{name}={given:?}")));
        }
    }
    let props = values(params, "prop", "", &["revisions"])?;
    let metas = values(params, "meta", "", &["siteinfo"])?;

    let mut query = Map::new();
    if props.contains(&"revisions") {
        let rvprops = RvProps::parse(params)?;
        let revids = parse_revids(params.get("revids").map_or("", String::as_str))?;
        revisions(&lock(&inner.store), &revids, &rvprops, &mut query);
    } else if params.contains_key("revids") {
        return Err(unsupported("revids without prop=revisions"));
    }
    if metas.contains(&"siteinfo") {
        let siprops = values(params, "siprop", "general", SIPROPS)?;
        siteinfo(inner.addr, &siprops, &mut query);
    }

    let mut out = Map::new();
    out.insert("batchcomplete".into(), json!(true));
    if !query.is_empty() {
        out.insert("query".into(), Value::Object(query));
    }
    Ok(out)
}

/// Parses `revids` like MediaWiki's integer multi-value parameter: the count is checked
/// before the values, and duplicates are dropped.
fn parse_revids(raw: &str) -> Result<Vec<u64>, ApiError> {
    let values: Vec<&str> = raw.split('|').filter(|v| !v.is_empty()).collect();
    if values.len() > MULTI_VALUE_LIMIT {
        return Err(ApiError {
            code: "toomanyvalues",
            info: format!(
                "Too many values supplied for parameter \"revids\". The limit is {MULTI_VALUE_LIMIT}."
            ),
        });
    }
    let mut seen = HashSet::new();
    let mut ids = Vec::new();
    for value in values {
        // Deviation: MediaWiki accepts 0 and negative integers here (and reports them as
        // bad revids); the mock treats them as invalid integers.
        let id = value
            .parse::<u64>()
            .ok()
            .filter(|id| *id > 0)
            .ok_or_else(|| ApiError {
                code: "badinteger",
                info: format!("Invalid value \"{value}\" for integer parameter \"revids\"."),
            })?;
        if seen.insert(id) {
            ids.push(id);
        }
    }
    Ok(ids)
}

/// Which revision fields were asked for (`rvprop`).
struct RvProps {
    ids: bool,
    flags: bool,
    timestamp: bool,
    user: bool,
    userid: bool,
    size: bool,
    sha1: bool,
    content: bool,
}

impl RvProps {
    /// `rvprop`, with `rvslots=main` as the client always sends it. Deviation: without
    /// `rvslots` MediaWiki answers in a deprecated layout, and without `rvprop` with a default
    /// that holds `comment`; neither is spoken.
    fn parse(params: &Params) -> Result<Self, ApiError> {
        if params.get("rvslots").map(String::as_str) != Some("main") {
            return Err(unsupported("prop=revisions without rvslots=main"));
        }
        if !params.contains_key("rvprop") {
            return Err(unsupported("prop=revisions without rvprop"));
        }
        let requested = values(params, "rvprop", "", RVPROPS)?;
        let has = |name: &str| requested.contains(&name);
        Ok(RvProps {
            ids: has("ids"),
            flags: has("flags"),
            timestamp: has("timestamp"),
            user: has("user"),
            userid: has("userid"),
            size: has("size"),
            sha1: has("sha1"),
            content: has("content"),
        })
    }
}

/// prop=revisions for explicit revision ids: found revisions grouped under their pages
/// (pages by page id, revisions by revision id), unknown ids under "badrevids".
fn revisions(store: &Store, revids: &[u64], props: &RvProps, query: &mut Map<String, Value>) {
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
                let revs: Vec<Value> = ids
                    .iter()
                    .filter_map(|id| store.revs.get(id))
                    .map(|rev| Value::Object(revision_json(rev, props)))
                    .collect();
                Some(json!({
                    "pageid": page.pageid,
                    "ns": page.ns,
                    "title": page.title,
                    "revisions": revs,
                }))
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
        // Deviation: no fixture is a minor edit.
        out.insert("minor".into(), json!(false));
    }
    if props.user || props.userid {
        if rev.userhidden {
            out.insert("userhidden".into(), json!(true));
        } else {
            if props.user {
                out.insert("user".into(), json!(rev.user));
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
    if props.content {
        // Deviation: every page is wikitext (no Scribunto, CSS or JavaScript pages).
        let mut main = Map::new();
        main.insert("contentmodel".into(), json!("wikitext"));
        main.insert("contentformat".into(), json!("text/x-wiki"));
        if rev.texthidden {
            main.insert("texthidden".into(), json!(true));
        } else {
            main.insert("content".into(), json!(rev.content));
        }
        out.insert("slots".into(), json!({ "main": main }));
    }
    out
}

// ---------------------------------------------------------------------------------------
// meta=siteinfo
// ---------------------------------------------------------------------------------------

/// The Portuguese Wikipedia's namespaces: id, local name, canonical name, subpages.
const NAMESPACES: &[(i32, &str, &str, bool)] = &[
    (-2, "Multimédia", "Media", false),
    (-1, "Especial", "Special", false),
    (0, "", "", false),
    (1, "Discussão", "Talk", true),
    (2, "Utilizador", "User", true),
    (3, "Utilizador Discussão", "User talk", true),
    (4, "Wikipédia", "Project", true),
    (5, "Wikipédia Discussão", "Project talk", true),
    (6, "Ficheiro", "File", false),
    (7, "Ficheiro Discussão", "File talk", true),
    (8, "MediaWiki", "MediaWiki", false),
    (9, "MediaWiki Discussão", "MediaWiki talk", true),
    (10, "Predefinição", "Template", true),
    (11, "Predefinição Discussão", "Template talk", true),
    (12, "Ajuda", "Help", true),
    (13, "Ajuda Discussão", "Help talk", true),
    (14, "Categoria", "Category", false),
    (15, "Categoria Discussão", "Category talk", true),
    (100, "Portal", "Portal", true),
    (101, "Portal Discussão", "Portal talk", true),
    (102, "Anexo", "Anexo", true),
    (103, "Anexo Discussão", "Anexo Discussão", true),
    (828, "Módulo", "Module", true),
    (829, "Módulo Discussão", "Module talk", true),
];

const NAMESPACE_ALIASES: &[(i32, &str)] = &[(6, "Imagem"), (6, "Image"), (2, "Usuário"), (4, "WP")];

/// Interwiki prefixes (language links among them) and their URLs.
const INTERWIKIS: &[(&str, &str)] = &[
    ("commons", "https://commons.wikimedia.org/wiki/$1"),
    ("d", "https://www.wikidata.org/wiki/$1"),
    ("de", "https://de.wikipedia.org/wiki/$1"),
    ("en", "https://en.wikipedia.org/wiki/$1"),
    ("es", "https://es.wikipedia.org/wiki/$1"),
    ("fr", "https://fr.wikipedia.org/wiki/$1"),
    ("it", "https://it.wikipedia.org/wiki/$1"),
    ("ja", "https://ja.wikipedia.org/wiki/$1"),
    ("m", "https://meta.wikimedia.org/wiki/$1"),
    ("meta", "https://meta.wikimedia.org/wiki/$1"),
    ("mw", "https://www.mediawiki.org/wiki/$1"),
    ("wikt", "https://pt.wiktionary.org/wiki/$1"),
];

/// meta=siteinfo with the requested parts. Deviation: of each part, the fields the client
/// reads (`SiteInfo::from_action_api`) and those that say which wiki this is; MediaWiki sends
/// many more.
fn siteinfo(addr: SocketAddr, requested: &[&str], query: &mut Map<String, Value>) {
    if requested.contains(&"general") {
        query.insert(
            "general".into(),
            json!({
                "sitename": "Wikipédia",
                "generator": "MediaWiki 1.45.0-wmf.1",
                "lang": "pt",
                "server": format!("http://{addr}"),
                "wikiid": WIKI_ID,
                "case": "first-letter",
            }),
        );
    }
    if requested.contains(&"namespaces") {
        let namespaces: Map<String, Value> = NAMESPACES
            .iter()
            .map(|&(id, name, canonical, subpages)| {
                let mut entry = json!({
                    "id": id,
                    "case": "first-letter",
                    "name": name,
                    "subpages": subpages,
                });
                // The main namespace has no canonical name, so MediaWiki leaves it out.
                if id != 0 {
                    entry["canonical"] = json!(canonical);
                }
                (id.to_string(), entry)
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
            .map(|(prefix, url)| json!({ "prefix": prefix, "url": url }))
            .collect();
        query.insert("interwikimap".into(), Value::Array(map));
    }
}

// ---------------------------------------------------------------------------------------
// SHA-1 (rvprop=sha1): no hashing crate is available to the tests, and it is small.
// ---------------------------------------------------------------------------------------

/// Lower-case hex SHA-1, as MediaWiki reports `sha1` (FIPS 180-4).
fn sha1_hex(data: &[u8]) -> String {
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

    fn client() -> reqwest::Client {
        reqwest::Client::builder()
            .user_agent(UA)
            .build()
            .expect("client")
    }

    /// The client's request for a revision to measure (`RevisionApi::revision`).
    fn revision_request(revids: &str) -> Vec<(&str, &str)> {
        vec![
            ("action", "query"),
            ("prop", "revisions"),
            ("revids", revids),
            ("rvprop", "ids|timestamp|user|userid|size|content|flags"),
            ("rvslots", "main"),
            ("format", "json"),
            ("formatversion", "2"),
            ("maxlag", "5"),
        ]
    }

    /// The client's request for the re-check (`RevisionApi::revisions_seen`).
    fn recheck_request(revids: &str) -> Vec<(&str, &str)> {
        let mut params = revision_request(revids);
        params[3] = ("rvprop", "ids|user|sha1");
        params
    }

    /// GET with the given parameters; asserts a JSON answer and parses it.
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
        let status = response.status();
        let content_type = response.headers()["content-type"].clone();
        let body = response.text().await.expect("body");
        assert_eq!(status, Status::OK, "{body}");
        assert_eq!(content_type, "application/json; charset=utf-8", "{body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
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
        let body = get(&wiki, &revision_request(&revids)).await;
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
        let fixture = wiki.revision(r0).unwrap();
        assert_eq!(
            revs[0],
            json!({
                "revid": r0, "parentid": 0, "minor": false, "user": "Alice",
                "userid": fixture.userid, "timestamp": fixture.timestamp,
                "size": fixture.content.len(),
                "slots": {"main": {"contentmodel": "wikitext", "contentformat": "text/x-wiki",
                                   "content": fixture.content}},
            })
        );
        assert_eq!(revs[1]["revid"], r1);
        assert_eq!(revs[1]["parentid"], r0);
        assert_eq!(revs[1]["userid"], revs[0]["userid"]);
        // The re-check's fields.
        let body = get(&wiki, &recheck_request(&r0.to_string())).await;
        assert_eq!(
            body["query"]["pages"][0]["revisions"][0],
            json!({"revid": r0, "parentid": 0, "user": "Alice",
                   "sha1": sha1_hex(fixture.content.as_bytes())})
        );
    }

    /// Unknown ids come back in `badrevids`, as from MediaWiki: `revision-missing` rests on it.
    #[tokio::test]
    async fn unknown_revids_are_badrevids() {
        let wiki = MockWiki::start().await;
        let body = get(&wiki, &revision_request("999999")).await;
        assert_eq!(
            body,
            json!({"batchcomplete": true,
                   "query": {"badrevids": {"999999": {"revid": 999999, "missing": true}}}})
        );
        let body = get(&wiki, &recheck_request("1001|999999|5")).await;
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
        let body = get(&wiki, &revision_request(&ids)).await;
        let revs = &body["query"]["pages"][0]["revisions"];
        assert_eq!(
            revs[0]["slots"]["main"],
            json!({"contentmodel": "wikitext", "contentformat": "text/x-wiki", "texthidden": true})
        );
        assert_eq!(revs[0]["user"], "Alice");
        assert_eq!(revs[1]["userhidden"], true);
        assert!(revs[1].get("user").is_none() && revs[1].get("userid").is_none());
        assert!(revs[1]["slots"]["main"]["content"].is_string());
        // The re-check sees them as hidden too.
        let body = get(&wiki, &recheck_request(&ids)).await;
        let revs = &body["query"]["pages"][0]["revisions"];
        assert_eq!(revs[0]["sha1hidden"], true);
        assert!(revs[0].get("sha1").is_none());
        assert_eq!(revs[1]["userhidden"], true);
        assert!(revs[1].get("user").is_none());
    }

    /// What the client does not send is refused, never guessed: a client change fails loudly.
    #[tokio::test]
    async fn what_the_client_does_not_send_is_an_error() {
        let wiki = MockWiki::start().await;
        let base = revision_request("1001");
        assert!(get(&wiki, &base).await.get("error").is_none());
        let changed = |name: &'static str, value: Option<&'static str>| {
            let mut params: Vec<(&str, &str)> =
                base.iter().copied().filter(|(k, _)| *k != name).collect();
            params.extend(value.map(|v| (name, v)));
            params
        };
        for params in [
            changed("titles", Some("Prosa")),
            changed("rvprop", Some("ids|comment")),
            changed("rvslots", None),
            changed("formatversion", Some("1")),
            changed("meta", Some("userinfo")),
            changed("list", Some("users")),
        ] {
            let body = get(&wiki, &params).await;
            assert_eq!(
                body["error"]["code"], "mockwiki-unsupported",
                "{params:?}: {body}"
            );
        }
    }

    /// No User-Agent, no answer (as at Wikimedia): a client that forgets one fails every test.
    #[tokio::test]
    async fn user_agent_is_recorded_and_required() {
        let wiki = MockWiki::start().await;
        assert_eq!(wiki.last_user_agent(), None);
        let response = client()
            .get(wiki.api_url())
            .query(&revision_request("1001"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), Status::OK);
        assert_eq!(wiki.last_user_agent().as_deref(), Some(UA));
        // reqwest sends no User-Agent unless told to; Wikimedia refuses such requests.
        let response = reqwest::Client::new()
            .get(wiki.api_url())
            .query(&revision_request("1001"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), Status::FORBIDDEN);
        assert_eq!(wiki.last_user_agent(), None);
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
                .query(&revision_request("1001"))
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
    }

    /// A stop refuses even pooled connections; a restart keeps the port: the outage test's wiki.
    #[tokio::test]
    async fn stop_refuses_connections_and_restart_reuses_the_port() {
        let wiki = MockWiki::start().await;
        let url = wiki.api_url();
        let http = client(); // keeps a pooled keep-alive connection across the stop
        let request = revision_request("1001");
        assert_eq!(
            http.get(&url)
                .query(&request)
                .send()
                .await
                .unwrap()
                .status(),
            Status::OK
        );
        wiki.stop().await;
        wiki.stop().await; // idempotent
        let err = http.get(&url).query(&request).send().await.unwrap_err();
        assert!(err.is_connect(), "{err:?}");
        let err = client().get(&url).query(&request).send().await.unwrap_err();
        assert!(err.is_connect(), "{err:?}");

        wiki.restart().await;
        wiki.restart().await; // idempotent
        assert_eq!(wiki.api_url(), url);
        let response = http.get(&url).query(&request).send().await.unwrap();
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
