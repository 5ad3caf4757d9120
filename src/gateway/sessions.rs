//! Signing in with the wiki's session cookies: a request that carries a wiki's cookies (and no
//! bearer token) is whoever that wiki says the cookies belong to. The first request of a
//! session asks the wiki's Action API (`meta=userinfo&uiprop=centralids|groups|rights`) with
//! the request's cookies; the answer is kept for `SESSION_CACHE_SECS` under those cookies, so
//! every later request of the session is answered with no call to the wiki, and several
//! requests of a new session at once make one call between them. Writes authenticated this way
//! carry the wiki's CSRF token, checked with `action=checktoken` (and remembered per session).

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use campaign_events_actors::domain::{UserId, WikiId};
use serde::Deserialize;
use tokio::sync::OnceCell;

use super::auth::{is_user_name, Caller};
use crate::infra::wikis::Site;

/// Most sessions remembered at once; past it the oldest half is forgotten (they ask again).
const MAX_SESSIONS: usize = 50_000;
/// How long one call to a wiki's API may take before the request is answered `503`.
const WIKI_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest cookie header taken (browsers cap a cookie at 4 KiB; a wiki sets a few).
const MAX_COOKIE_BYTES: usize = 16 * 1024;

/// Why a session could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionError {
    /// The wiki says these cookies are no one's (logged out, expired, forged): `401`.
    Anonymous,
    /// The wiki did not answer, or not as an Action API does: `503`, never a wrong `401`.
    WikiUnavailable(String),
}

/// Who a wiki session belongs to, as the wiki said.
#[derive(Debug, Clone)]
struct Identity {
    caller: Caller,
}

/// A remembered session: its cookies (compared on every hit, so that only the same cookies
/// match), its identity once known, the CSRF tokens the wiki confirmed for it, and when it
/// was first asked about.
struct Entry {
    wiki: WikiId,
    cookies: Box<str>,
    identity: Arc<OnceCell<Identity>>,
    tokens: Mutex<Vec<Box<str>>>,
    since: Instant,
}

/// The identity cache of every wiki's sessions.
pub struct WikiSessions {
    http: reqwest::Client,
    ttl: Duration,
    hasher: RandomState,
    entries: Mutex<HashMap<u64, Arc<Entry>>>,
}

impl WikiSessions {
    pub fn new(ttl: Duration) -> anyhow::Result<Self> {
        Ok(Self {
            http: reqwest::Client::builder()
                .timeout(WIKI_TIMEOUT)
                .user_agent(concat!(
                    "campaign-events/",
                    env!("CARGO_PKG_VERSION"),
                    " (session check; https://www.mediawiki.org/wiki/Extension:CampaignEvents)"
                ))
                .build()?,
            ttl,
            hasher: RandomState::new(),
            entries: Mutex::new(HashMap::new()),
        })
    }

    /// The entry for these cookies on this wiki: the remembered one while fresh, else a new one.
    fn entry(&self, wiki: &WikiId, cookies: &str) -> Arc<Entry> {
        let key = self.hasher.hash_one((wiki.as_str(), cookies));
        let mut map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(e) = map.get(&key) {
            if e.wiki == *wiki && &*e.cookies == cookies && e.since.elapsed() < self.ttl {
                return e.clone();
            }
        }
        if map.len() >= MAX_SESSIONS {
            let ttl = self.ttl;
            map.retain(|_, e| e.since.elapsed() < ttl / 2);
            if map.len() >= MAX_SESSIONS {
                map.clear();
            }
        }
        let entry = Arc::new(Entry {
            wiki: wiki.clone(),
            cookies: cookies.into(),
            identity: Arc::new(OnceCell::new()),
            tokens: Mutex::new(Vec::new()),
            since: Instant::now(),
        });
        map.insert(key, entry.clone());
        entry
    }

    /// Who the wiki says these cookies belong to. Concurrent first requests of one session
    /// wait for the same call; an anonymous answer or a failure is not remembered.
    pub async fn caller(
        &self,
        wiki: &WikiId,
        site: &Site,
        cookies: &str,
    ) -> Result<Caller, SessionError> {
        if cookies.len() > MAX_COOKIE_BYTES {
            return Err(SessionError::Anonymous);
        }
        let entry = self.entry(wiki, cookies);
        let identity = entry
            .identity
            .get_or_try_init(|| self.ask_userinfo(site, cookies))
            .await?;
        Ok(identity.caller.clone())
    }

    /// Whether `token` is this session's CSRF token, as the wiki's `action=checktoken` says
    /// (each confirmed token is remembered with the session).
    pub async fn token_is_valid(
        &self,
        wiki: &WikiId,
        site: &Site,
        cookies: &str,
        token: &str,
    ) -> Result<bool, SessionError> {
        let entry = self.entry(wiki, cookies);
        {
            let tokens = entry.tokens.lock().unwrap_or_else(|p| p.into_inner());
            if tokens.iter().any(|t| &**t == token) {
                return Ok(true);
            }
        }
        #[derive(Deserialize)]
        struct Answer {
            checktoken: Check,
        }
        #[derive(Deserialize)]
        struct Check {
            result: String,
        }
        let answer: Answer = self
            .post(
                site,
                cookies,
                &[
                    ("action", "checktoken"),
                    ("type", "csrf"),
                    ("token", token),
                    ("format", "json"),
                    ("formatversion", "2"),
                ],
            )
            .await?;
        let valid = answer.checktoken.result == "valid";
        if valid {
            let mut tokens = entry.tokens.lock().unwrap_or_else(|p| p.into_inner());
            if tokens.len() < 8 {
                tokens.push(token.into());
            }
        }
        Ok(valid)
    }

    async fn ask_userinfo(&self, site: &Site, cookies: &str) -> Result<Identity, SessionError> {
        #[derive(Deserialize)]
        struct Answer {
            query: Query,
        }
        #[derive(Deserialize)]
        struct Query {
            userinfo: UserInfo,
        }
        #[derive(Deserialize)]
        struct UserInfo {
            id: u64,
            name: String,
            #[serde(default)]
            anon: bool,
            #[serde(default)]
            centralids: HashMap<String, u64>,
            #[serde(default)]
            groups: Vec<String>,
            #[serde(default)]
            rights: Vec<String>,
        }
        let answer: Answer = self
            .post(
                site,
                cookies,
                &[
                    ("action", "query"),
                    ("meta", "userinfo"),
                    ("uiprop", "centralids|groups|rights"),
                    ("format", "json"),
                    ("formatversion", "2"),
                ],
            )
            .await?;
        let info = answer.query.userinfo;
        if info.anon || info.id == 0 {
            return Err(SessionError::Anonymous);
        }
        // The central id where the wiki has central accounts; its local id where it has not.
        let id = info
            .centralids
            .get("CentralAuth")
            .copied()
            .filter(|id| *id > 0)
            .unwrap_or(info.id);
        let user_id = UserId::new(id).map_err(|e| {
            SessionError::WikiUnavailable(format!("the wiki's userinfo has no usable id: {e}"))
        })?;
        if !is_user_name(&info.name) {
            return Err(SessionError::WikiUnavailable(
                "the wiki's userinfo has no usable user name".into(),
            ));
        }
        Ok(Identity {
            caller: Caller {
                user_id,
                name: info.name,
                organizer: info.rights.contains(&site.organizer_right),
                admin: info.groups.contains(&site.admin_group),
            },
        })
    }

    /// One Action API request with the session's cookies (POST, so that no proxy caches it and
    /// the CSRF token never lands in an access log's query string).
    async fn post<T: serde::de::DeserializeOwned>(
        &self,
        site: &Site,
        cookies: &str,
        form: &[(&str, &str)],
    ) -> Result<T, SessionError> {
        let unavailable = |e: &dyn std::fmt::Display| {
            tracing::warn!(api = %site.api, error = %e, "wiki session check failed");
            SessionError::WikiUnavailable(e.to_string())
        };
        let resp = self
            .http
            .post(&site.api)
            .header(reqwest::header::COOKIE, cookies)
            .form(form)
            .send()
            .await
            .map_err(|e| unavailable(&e))?;
        if !resp.status().is_success() {
            return Err(unavailable(&format!("HTTP {}", resp.status())));
        }
        resp.json::<T>().await.map_err(|e| unavailable(&e))
    }
}
