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
        let mut req = self.http.post(&site.api).form(form);
        if !cookies.is_empty() {
            req = req.header(reqwest::header::COOKIE, cookies);
        }
        let resp = req.send().await.map_err(|e| unavailable(&e))?;
        if !resp.status().is_success() {
            return Err(unavailable(&format!("HTTP {}", resp.status())));
        }
        resp.json::<T>().await.map_err(|e| unavailable(&e))
    }
}

/// MediaWiki's own JWTs: Extension:OAuth's access tokens (as `Authorization: Bearer`) and the
/// `sessionJwt` cookie of MediaWiki 1.45+. Both are RS256 with no `kid`, name their issuer in
/// `iss` and the user in `sub` (`mw:CentralAuth::123`, `mw:local:<wiki>:5`, or a plain decimal
/// id); OAuth writes `exp` (as a number with microseconds), the session cookie only its soft
/// expiry `sxp`. They carry no name: the wiki's API tells it, with the user's groups and
/// rights, once per token while it is valid.
pub mod jwt {
    use super::*;
    use crate::infra::wikis::WikiJwt;

    /// What MediaWiki writes into its JWTs, as far as this service reads them. Times are
    /// numbers, not integers: Extension:OAuth writes them with microseconds.
    #[derive(Debug, Deserialize)]
    struct Claims {
        sub: String,
        exp: Option<f64>,
        sxp: Option<f64>,
        nbf: Option<f64>,
    }

    /// Which kind of MediaWiki JWT: they expire differently.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Kind {
        /// An OAuth 2 access token: `exp` required.
        AccessToken,
        /// The `sessionJwt` cookie: `exp` if present, else `sxp` plus a minute (MediaWiki
        /// refreshes the cookie only past `sxp`; it also checks its session store, which this
        /// service cannot).
        SessionCookie,
    }

    /// Who a JWT's `sub` names.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Subject {
        /// A central (CentralAuth) user id.
        Central(u64),
        /// The wiki's own user id (`mw:local:…`, or a plain decimal on a wiki without central
        /// accounts).
        Local(u64),
    }

    /// `sub` as MediaWiki writes it; the anonymous subject and anything else is refused.
    pub fn parse_subject(sub: &str) -> Result<Subject, String> {
        let positive = |id: &str| {
            id.parse::<u64>()
                .ok()
                .filter(|i| *i > 0 && id.bytes().all(|b| b.is_ascii_digit()))
                .ok_or_else(|| format!("sub {sub:?} names no user id"))
        };
        let Some(rest) = sub.strip_prefix("mw:") else {
            return positive(sub).map(Subject::Local);
        };
        if rest == "anon" {
            return Err("the anonymous subject signs no one in".into());
        }
        let parts: Vec<&str> = rest.split(':').collect();
        match parts.as_slice() {
            ["local", _wiki, id] => positive(id).map(Subject::Local),
            [provider, "", id] if !provider.is_empty() => positive(id).map(Subject::Central),
            _ => Err(format!("sub {sub:?} is not MediaWiki's form")),
        }
    }

    /// Checks a token's signature (RS256 with the wiki's key, nothing else), issuer and times;
    /// returns its subject.
    pub fn verify(token: &str, jwt: &WikiJwt, kind: Kind, now: f64) -> Result<Subject, String> {
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        // Times are checked below: MediaWiki writes them as numbers with fractions, and the
        // cookie has no `exp` at all.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.required_spec_claims = Default::default();
        validation.set_issuer(&[jwt.issuer.as_str()]);
        validation.validate_aud = false;
        let data = jsonwebtoken::decode::<Claims>(token, &jwt.key, &validation)
            .map_err(|e| format!("not a token of this wiki ({e})"))?;
        let c = data.claims;
        const LEEWAY: f64 = 5.0;
        let expiry = match (kind, c.exp, c.sxp) {
            (_, Some(exp), _) => exp,
            (Kind::SessionCookie, None, Some(sxp)) => sxp + 60.0,
            _ => return Err("the token has no expiry".into()),
        };
        if !expiry.is_finite() || expiry + LEEWAY < now {
            return Err("the token has expired".into());
        }
        if c.nbf
            .is_some_and(|nbf| !nbf.is_finite() || nbf - LEEWAY > now)
        {
            return Err("the token is not valid yet (nbf)".into());
        }
        parse_subject(&c.sub)
    }

    impl WikiSessions {
        /// The caller a MediaWiki JWT of `wiki` names, its name, groups and rights from the
        /// wiki's API (asked once per token and kept with the sessions).
        pub async fn jwt_caller(
            &self,
            wiki: &WikiId,
            site: &Site,
            token: &str,
            kind: Kind,
        ) -> Result<Caller, SessionError> {
            let jwt = site.jwt.as_ref().ok_or(SessionError::Anonymous)?;
            let now = chrono::Utc::now().timestamp_micros() as f64 / 1e6;
            let subject = verify(token, jwt, kind, now).map_err(|e| {
                tracing::debug!(%wiki, error = %e, "wiki JWT refused");
                SessionError::Anonymous
            })?;
            let entry = self.entry(wiki, token);
            let identity = entry
                .identity
                .get_or_try_init(|| self.ask_user(site, subject))
                .await?;
            Ok(identity.caller.clone())
        }

        /// The user a subject names: name, groups and rights from `list=users` (after
        /// `meta=globaluserinfo` for a central id).
        async fn ask_user(&self, site: &Site, subject: Subject) -> Result<Identity, SessionError> {
            #[derive(Deserialize)]
            struct Users {
                query: UsersQuery,
            }
            #[derive(Deserialize)]
            struct UsersQuery {
                users: Vec<User>,
            }
            #[derive(Deserialize)]
            struct User {
                #[serde(default)]
                userid: u64,
                name: String,
                #[serde(default)]
                missing: bool,
                #[serde(default)]
                groups: Vec<String>,
                #[serde(default)]
                rights: Vec<String>,
            }
            let (id, by): (u64, (&str, String)) = match subject {
                Subject::Local(id) => (id, ("ususerids", id.to_string())),
                Subject::Central(id) => {
                    #[derive(Deserialize)]
                    struct Global {
                        query: GlobalQuery,
                    }
                    #[derive(Deserialize)]
                    struct GlobalQuery {
                        globaluserinfo: GlobalUser,
                    }
                    #[derive(Deserialize)]
                    struct GlobalUser {
                        name: Option<String>,
                    }
                    let guiid = id.to_string();
                    let g: Global = self
                        .post(
                            site,
                            "",
                            &[
                                ("action", "query"),
                                ("meta", "globaluserinfo"),
                                ("guiid", &guiid),
                                ("format", "json"),
                                ("formatversion", "2"),
                            ],
                        )
                        .await?;
                    let name = g.query.globaluserinfo.name.ok_or(SessionError::Anonymous)?;
                    (id, ("ususers", name))
                }
            };
            let users: Users = self
                .post(
                    site,
                    "",
                    &[
                        ("action", "query"),
                        ("list", "users"),
                        (by.0, &by.1),
                        ("usprop", "groups|rights"),
                        ("format", "json"),
                        ("formatversion", "2"),
                    ],
                )
                .await?;
            let user = users
                .query
                .users
                .into_iter()
                .next()
                .filter(|u| !u.missing && (u.userid > 0 || matches!(subject, Subject::Central(_))))
                .ok_or(SessionError::Anonymous)?;
            if !is_user_name(&user.name) {
                return Err(SessionError::WikiUnavailable(
                    "the wiki's user has no usable name".into(),
                ));
            }
            Ok(Identity {
                caller: Caller {
                    user_id: UserId::new(id).map_err(|e| {
                        SessionError::WikiUnavailable(format!("no usable user id: {e}"))
                    })?,
                    name: user.name,
                    organizer: user.rights.contains(&site.organizer_right),
                    admin: user.groups.contains(&site.admin_group),
                },
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::jwt::{parse_subject, Subject};

    #[test]
    fn subjects_as_mediawiki_writes_them() {
        assert_eq!(
            parse_subject("mw:CentralAuth::123"),
            Ok(Subject::Central(123))
        );
        assert_eq!(parse_subject("mw:local:my_wiki:5"), Ok(Subject::Local(5)));
        assert_eq!(parse_subject("42"), Ok(Subject::Local(42)));
        for bad in [
            "mw:anon",
            "mw:CentralAuth:x:1",
            "mw:CentralAuth::0",
            "mw:CentralAuth::-1",
            "0",
            "+5",
            "mw:",
            "mw:local:5",
            "CentralAuth::1",
            "mw:CentralAuth::1:2",
        ] {
            assert!(parse_subject(bad).is_err(), "{bad}");
        }
    }
}
