//! The Revision API client: MediaWiki's Action API (`api.php`) of each wiki in `WIKIS_FILE`.
//! Fetches revisions with their wikitext and the wiki's `siteinfo` (namespaces, aliases,
//! interwiki prefixes, case rules — cached per wiki), and sorts every failure into transient
//! (retry later) or permanent (dead-letter now).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use campaign_events_actors::domain::{RevisionId, WikiId};
use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::association::stats::SiteInfo;
use crate::infra::wikis::Wikis;

/// Wikimedia's API etiquette asks for a descriptive User-Agent with a way to reach the operator.
pub const USER_AGENT: &str = concat!(
    "campaign-events/",
    env!("CARGO_PKG_VERSION"),
    " (CampaignEvents edit association; https://www.mediawiki.org/wiki/Extension:CampaignEvents)"
);

/// Ask the wiki to refuse (with a retryable error) when its replicas lag more than this, as
/// well-behaved bots do.
const MAXLAG_SECONDS: u32 = 5;

/// One revision as the worker needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revision {
    pub revid: u64,
    /// 0 when the revision created the page.
    pub parentid: u64,
    pub pageid: u64,
    pub ns: i32,
    pub title: String,
    /// `None` when the user name is hidden (revision deletion).
    pub user: Option<String>,
    pub timestamp: DateTime<Utc>,
    pub size: u64,
    /// `None` when the text is hidden or suppressed.
    pub content: Option<String>,
}

/// Why a fetch failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// Timeouts, refused connections, 5xx, database errors: try again later.
    #[error("transient: {0}")]
    Transient(String),
    /// The wiki asks to be left alone for a while (maxlag, HTTP 429 or 503 with
    /// `Retry-After`): try again, not before `retry_after`.
    #[error("throttled: {detail}")]
    Throttled {
        detail: String,
        retry_after: Duration,
    },
    /// The revision cannot be had (missing, hidden, an API error about the request itself):
    /// retrying will not help. `reason` is the dead letter's short reason.
    #[error("{reason}: {detail}")]
    Permanent {
        reason: &'static str,
        detail: String,
    },
}

/// `Retry-After` in seconds (the form MediaWiki and its proxies send), capped at ten minutes.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(|s| Duration::from_secs(s.min(600)))
}

fn permanent(reason: &'static str, detail: impl Into<String>) -> FetchError {
    FetchError::Permanent {
        reason,
        detail: detail.into(),
    }
}

pub struct RevisionApi {
    http: reqwest::Client,
    wikis: Wikis,
    siteinfo: Mutex<HashMap<WikiId, Arc<SiteInfo>>>,
}

impl RevisionApi {
    pub fn new(wikis: Wikis, timeout: Duration) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(5))
            .pool_max_idle_per_host(32)
            .build()?;
        Ok(Self {
            http,
            wikis,
            siteinfo: Mutex::new(HashMap::new()),
        })
    }

    fn endpoint(&self, wiki: &WikiId) -> Result<&str, FetchError> {
        self.wikis
            .api_url(wiki)
            .ok_or_else(|| permanent("unknown-wiki", format!("{wiki} is not in WIKIS_FILE")))
    }

    /// One Action API call; the JSON body, or the failure sorted.
    async fn call(&self, wiki: &WikiId, params: &[(&str, &str)]) -> Result<Value, FetchError> {
        let url = self.endpoint(wiki)?;
        let maxlag = MAXLAG_SECONDS.to_string();
        let mut query: Vec<(&str, &str)> = params.to_vec();
        query.extend([
            ("format", "json"),
            ("formatversion", "2"),
            ("maxlag", &maxlag),
        ]);
        let resp = self
            .http
            .get(url)
            .query(&query)
            .send()
            .await
            .map_err(|e| FetchError::Transient(format!("{wiki}: {e}")))?;
        let status = resp.status();
        let retry_after = retry_after(resp.headers());
        if status.is_server_error() || status.as_u16() == 429 {
            let detail = format!("{wiki}: HTTP {status}");
            return Err(match retry_after {
                Some(retry_after) => FetchError::Throttled {
                    detail,
                    retry_after,
                },
                None => FetchError::Transient(detail),
            });
        }
        if !status.is_success() {
            return Err(permanent("api-error", format!("{wiki}: HTTP {status}")));
        }
        let body: Value = resp
            .json()
            .await
            .map_err(|e| FetchError::Transient(format!("{wiki}: unreadable answer: {e}")))?;
        if let Some(err) = body.get("error") {
            let code = err.get("code").and_then(Value::as_str).unwrap_or("unknown");
            let info = err.get("info").and_then(Value::as_str).unwrap_or("");
            let detail = format!("{wiki}: API error {code}: {info}");
            if code == "maxlag" || code == "ratelimited" {
                // MediaWiki sends `Retry-After` with maxlag (5 s); its etiquette is to wait.
                return Err(FetchError::Throttled {
                    detail,
                    retry_after: retry_after.unwrap_or(Duration::from_secs(5)),
                });
            }
            let transient = code == "readonly" || code.starts_with("internal_api_error");
            return Err(if transient {
                FetchError::Transient(detail)
            } else {
                permanent("api-error", detail)
            });
        }
        Ok(body)
    }

    /// The revision with its wikitext.
    pub async fn revision(&self, wiki: &WikiId, rev: RevisionId) -> Result<Revision, FetchError> {
        let revids = rev.to_string();
        let body = self
            .call(
                wiki,
                &[
                    ("action", "query"),
                    ("prop", "revisions"),
                    ("revids", &revids),
                    ("rvprop", "ids|timestamp|user|userid|size|content|flags"),
                    ("rvslots", "main"),
                ],
            )
            .await?;
        parse_revision(&body, rev.get())
    }

    /// The service's id of the account `name` on `wiki` — its central id where the wiki has
    /// central accounts, else its local id, as signing in with the wiki takes it — or `None`
    /// when the wiki has no such account.
    pub async fn account_id(&self, wiki: &WikiId, name: &str) -> Result<Option<u64>, FetchError> {
        let body = self
            .call(
                wiki,
                &[
                    ("action", "query"),
                    ("list", "users"),
                    ("ususers", name),
                    ("usprop", "centralids"),
                ],
            )
            .await?;
        Ok(parse_account_id(&body))
    }

    /// What the wiki shows of these revisions now (at most 50: one request), for the re-check.
    pub async fn revisions_seen(
        &self,
        wiki: &WikiId,
        revisions: &[u64],
    ) -> Result<HashMap<u64, Seen>, FetchError> {
        let revids = revisions
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join("|");
        let body = self
            .call(
                wiki,
                &[
                    ("action", "query"),
                    ("prop", "revisions"),
                    ("revids", &revids),
                    ("rvprop", "ids|user|sha1"),
                    ("rvslots", "main"),
                ],
            )
            .await?;
        Ok(parse_revisions(&body))
    }

    /// The wiki's siteinfo, fetched once and kept.
    pub async fn siteinfo(&self, wiki: &WikiId) -> Result<Arc<SiteInfo>, FetchError> {
        if let Some(s) = self.lock().get(wiki) {
            return Ok(s.clone());
        }
        let body = self
            .call(
                wiki,
                &[
                    ("action", "query"),
                    ("meta", "siteinfo"),
                    ("siprop", "general|namespaces|namespacealiases|interwikimap"),
                ],
            )
            .await?;
        let site = Arc::new(
            SiteInfo::from_action_api(&body)
                .map_err(|e| FetchError::Transient(format!("{wiki}: bad siteinfo: {e}")))?,
        );
        self.lock().insert(wiki.clone(), site.clone());
        Ok(site)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<WikiId, Arc<SiteInfo>>> {
        self.siteinfo.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The id in a `list=users&usprop=centralids` answer (formatversion=2): `CentralAuth`'s, else
/// the local one. A missing or invalid user has neither.
pub fn parse_account_id(body: &Value) -> Option<u64> {
    let user = body.get("query")?.get("users")?.as_array()?.first()?;
    if user.get("missing").is_some() || user.get("invalid").is_some() {
        return None;
    }
    // Each candidate on its own: an account not attached to CentralAuth has central id 0 and
    // is known by its local id, as signing in takes it.
    let ids = user.get("centralids");
    let positive = |v: Option<&Value>| v.and_then(Value::as_u64).filter(|id| *id > 0);
    positive(ids.and_then(|c| c.get("CentralAuth")))
        .or_else(|| positive(user.get("userid")))
        .or_else(|| positive(ids.and_then(|c| c.get("local"))))
}

/// An id the wiki sent, checked to fit the database's `bigint` (absent: 0, as the API omits a
/// creation's parent). A wiki that sends more is wrong, and its answer is refused.
fn stored_id(v: Option<&Value>, what: &str) -> Result<u64, FetchError> {
    match v {
        None => Ok(0),
        Some(v) => v
            .as_u64()
            .filter(|id| i64::try_from(*id).is_ok())
            .ok_or_else(|| permanent("api-error", format!("{what} {v} is not a valid id"))),
    }
}

/// Finds revision `revid` in a `prop=revisions` answer (formatversion=2).
pub fn parse_revision(body: &Value, revid: u64) -> Result<Revision, FetchError> {
    let query = body
        .get("query")
        .ok_or_else(|| permanent("revision-missing", format!("no revision {revid}")))?;
    if let Some(bad) = query.get("badrevids") {
        if bad.get(revid.to_string()).is_some() {
            return Err(permanent(
                "revision-missing",
                format!("revision {revid} does not exist"),
            ));
        }
    }
    let pages = query
        .get("pages")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for page in &pages {
        let Some(revs) = page.get("revisions").and_then(Value::as_array) else {
            continue;
        };
        for r in revs {
            if r.get("revid").and_then(Value::as_u64) != Some(revid) {
                continue;
            }
            let timestamp = r
                .get("timestamp")
                .and_then(Value::as_str)
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.with_timezone(&Utc))
                .ok_or_else(|| FetchError::Transient(format!("revision {revid}: no timestamp")))?;
            let main = r.get("slots").and_then(|s| s.get("main"));
            let hidden = main
                .and_then(|m| m.get("texthidden"))
                .and_then(Value::as_bool)
                .unwrap_or(false);
            let content = if hidden {
                None
            } else {
                // No text and not hidden: the wiki could not load it (`textmissing` when its
                // text store fails, or no main slot). Read as empty it would be stored for
                // good as a blanking, or the parent's whole page as added.
                match main.and_then(|m| m.get("content")).and_then(Value::as_str) {
                    Some(text) => Some(text.to_owned()),
                    None => {
                        return Err(FetchError::Transient(format!(
                            "revision {revid}: the wiki sent no text ({})",
                            main.map_or("no main slot".to_owned(), |m| {
                                let flags: Vec<&str> = ["textmissing", "missing"]
                                    .into_iter()
                                    .filter(|f| m.get(*f).and_then(Value::as_bool) == Some(true))
                                    .collect();
                                if flags.is_empty() {
                                    "no content".to_owned()
                                } else {
                                    flags.join(", ")
                                }
                            })
                        )))
                    }
                }
            };
            return Ok(Revision {
                revid,
                parentid: stored_id(r.get("parentid"), "parentid")?,
                pageid: stored_id(page.get("pageid"), "pageid")?,
                ns: match page.get("ns").and_then(Value::as_i64) {
                    None => 0,
                    Some(ns) => i32::try_from(ns).map_err(|_| {
                        permanent("api-error", format!("namespace {ns} is out of range"))
                    })?,
                },
                title: page
                    .get("title")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                user: r.get("user").and_then(Value::as_str).map(str::to_owned),
                timestamp,
                size: r.get("size").and_then(Value::as_u64).unwrap_or(0),
                content,
            });
        }
    }
    Err(permanent(
        "revision-missing",
        format!("revision {revid} is not in the answer"),
    ))
}

/// Whether two user names are the same account: MediaWiki treats `_` as a space and
/// upper-cases the first letter.
pub fn same_user(a: &str, b: &str) -> bool {
    fn norm(s: &str) -> String {
        let s = s.trim().replace('_', " ");
        let mut c = s.chars();
        match c.next() {
            Some(f) => f.to_uppercase().chain(c).collect(),
            None => String::new(),
        }
    }
    norm(a) == norm(b)
}

/// What the wiki says of one revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    /// Shown, on this page (title, namespace).
    Visible { title: String, namespace: i32 },
    /// Gone from view: its page deleted, or its text or author hidden.
    Hidden,
}

/// Reads a `prop=revisions&revids=…&rvprop=ids|user|sha1&rvslots=main` answer
/// (formatversion=2): every revision id it speaks of. Ids it does not mention are left out.
pub fn parse_revisions(body: &Value) -> HashMap<u64, Seen> {
    let mut seen = HashMap::new();
    let Some(query) = body.get("query") else {
        return seen;
    };
    // Deleted pages' revisions are archived: the API calls their ids bad.
    if let Some(bad) = query.get("badrevids").and_then(Value::as_object) {
        for (id, _) in bad {
            if let Ok(id) = id.parse::<u64>() {
                seen.insert(id, Seen::Hidden);
            }
        }
    }
    for page in query
        .get("pages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let title = page.get("title").and_then(Value::as_str).unwrap_or("");
        let namespace = page
            .get("ns")
            .and_then(Value::as_i64)
            .and_then(|n| i32::try_from(n).ok())
            .unwrap_or(0);
        for rev in page
            .get("revisions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some(id) = rev.get("revid").and_then(Value::as_u64) else {
                continue;
            };
            let flag = |v: &Value, k: &str| v.get(k).and_then(Value::as_bool).unwrap_or(false);
            let main = rev.get("slots").and_then(|s| s.get("main"));
            let text_hidden = flag(rev, "sha1hidden")
                || flag(rev, "texthidden")
                || main.is_some_and(|m| flag(m, "sha1hidden") || flag(m, "texthidden"));
            let hidden = text_hidden || flag(rev, "userhidden");
            seen.insert(
                id,
                if hidden {
                    Seen::Hidden
                } else {
                    Seen::Visible {
                        title: title.to_owned(),
                        namespace,
                    }
                },
            );
        }
    }
    seen
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_revisions_and_sorts_failures() {
        let body = json!({"batchcomplete": true, "query": {"pages": [{"pageid": 12, "ns": 0, "title": "Lisboa",
            "revisions": [{"revid": 1003, "parentid": 1002, "minor": false, "user": "Alice", "userid": 42,
            "timestamp": "2026-11-21T10:00:00Z", "size": 5,
            "slots": {"main": {"contentmodel": "wikitext", "contentformat": "text/x-wiki", "content": "hello"}}}]}]}});
        let r = parse_revision(&body, 1003).unwrap();
        assert_eq!(
            (r.parentid, r.pageid, r.title.as_str()),
            (1002, 12, "Lisboa")
        );
        assert_eq!(r.content.as_deref(), Some("hello"));
        let missing = json!({"batchcomplete": true, "query": {"badrevids": {"9": {"revid": 9, "missing": true}}}});
        assert!(matches!(
            parse_revision(&missing, 9),
            Err(FetchError::Permanent {
                reason: "revision-missing",
                ..
            })
        ));
        let hidden = json!({"query": {"pages": [{"pageid": 1, "ns": 0, "title": "X", "revisions": [
            {"revid": 5, "parentid": 0, "userhidden": true, "timestamp": "2026-11-21T10:00:00Z",
             "slots": {"main": {"texthidden": true}}}]}]}});
        let r = parse_revision(&hidden, 5).unwrap();
        assert_eq!((r.user, r.content), (None, None));
        // Text the wiki could not load is not an empty page: try again later.
        let textmissing = json!({"query": {"pages": [{"pageid": 1, "ns": 0, "title": "X", "revisions": [
            {"revid": 6, "parentid": 5, "user": "Alice", "timestamp": "2026-11-21T10:00:00Z",
             "slots": {"main": {"textmissing": true}}}]}]}});
        assert!(matches!(
            parse_revision(&textmissing, 6),
            Err(FetchError::Transient(d)) if d.contains("textmissing")
        ));
    }

    #[test]
    fn retry_after_is_read_in_seconds_and_capped() {
        let mut h = reqwest::header::HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert(reqwest::header::RETRY_AFTER, "5".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(5)));
        h.insert(reqwest::header::RETRY_AFTER, "86400".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(600)));
        h.insert(
            reqwest::header::RETRY_AFTER,
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn user_names_compare_as_mediawiki_does() {
        assert!(same_user("Alice_Smith", "alice Smith"));
        assert!(!same_user("Alice", "Bob"));
    }

    #[test]
    fn deleted_pages_and_hidden_text_or_authors_are_hidden_moves_keep_their_title() {
        let body = json!({"query": {
            "badrevids": {"7": {"revid": 7, "missing": true}},
            "pages": [
                {"pageid": 1, "ns": 0, "title": "Moved here", "revisions": [
                    {"revid": 1, "user": "A", "slots": {"main": {"sha1": "x"}}},
                    {"revid": 2, "userhidden": true, "slots": {"main": {"sha1": "y"}}},
                    {"revid": 3, "user": "A", "slots": {"main": {"sha1hidden": true}}}
                ]}
            ]
        }});
        let seen = parse_revisions(&body);
        assert_eq!(
            seen.get(&1),
            Some(&Seen::Visible {
                title: "Moved here".into(),
                namespace: 0
            })
        );
        for id in [2, 3, 7] {
            assert_eq!(seen.get(&id), Some(&Seen::Hidden), "{id}");
        }
        assert!(!seen.contains_key(&4));
    }
}
