//! Bearer tokens: verifying them (HS256 shared secret or RS256 public key) and minting dev ones.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use campaign_events_actors::domain::UserId;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::infra::config::{AuthSettings, DEV_JWT_SECRET};

/// Longest accepted user name, in bytes (MediaWiki caps user names at 255 bytes).
const MAX_USER_NAME_BYTES: usize = 255;

/// Longest a token may live, from now to its `exp`: a year. A token that claims more is
/// refused — whoever minted it meant a mistake or a forgery — and the bound keeps every
/// time computed from `exp` far from overflow.
pub const MAX_TOKEN_LIFETIME_SECS: i64 = 366 * 24 * 3600;

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenError {
    /// Not a token of ours, or not now: `401`.
    Invalid(String),
    /// Well signed, but its `name` is no user name (control characters, empty, too long):
    /// `400`, as for any other malformed input.
    BadName,
}

impl std::fmt::Display for TokenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TokenError::Invalid(why) => f.write_str(why),
            TokenError::BadName => f.write_str(
                "the token's name claim is not a user name (empty, over 255 bytes, or with \
                 control characters)",
            ),
        }
    }
}

/// Whether `name` can be a MediaWiki user name as far as this service cares: not blank, at
/// most 255 bytes, no control characters (a NUL cannot even be stored in Postgres).
pub fn is_user_name(name: &str) -> bool {
    !name.trim().is_empty()
        && name.len() <= MAX_USER_NAME_BYTES
        && !name.chars().any(char::is_control)
}

/// The claims this service reads. `sub` is the central user id as a decimal string.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub name: String,
    pub exp: i64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
}

/// A verified caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub user_id: UserId,
    pub name: String,
    pub organizer: bool,
    pub admin: bool,
}

impl Caller {
    /// Admins may do whatever organizers may.
    pub fn may_create_events(&self) -> bool {
        self.organizer || self.admin
    }
}

/// Checks signatures and claims. Built once at start.
#[derive(Clone)]
pub struct Verifier {
    key: DecodingKey,
    validation: Validation,
    verified: Arc<TokenCache>,
}

/// Tokens already verified, by their exact text, until they expire. A browser sends the same
/// token with every request of a session, and verifying one (base64, JSON, HMAC or RSA) costs
/// more than the rest of a cached read; looking the text up costs a hash. Keyed by the whole
/// token — signature included — so only a byte-identical token can hit. Bounded: a full shard
/// is simply emptied.
struct TokenCache {
    shards: Vec<Mutex<HashMap<u64, Verified>>>,
}

/// A verified token: its whole text (compared on every hit, so only a byte-identical token
/// matches), who it names and until when.
struct Verified {
    token: Box<str>,
    caller: Caller,
    exp: i64,
}

/// The map key: FNV-1a of the token's last 32 bytes — its signature, already as good as
/// random — so a lookup hashes 32 bytes instead of a few hundred. Two tokens with one key
/// simply replace each other.
fn token_key(token: &str) -> u64 {
    let b = token.as_bytes();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for x in &b[b.len().saturating_sub(32)..] {
        h ^= u64::from(*x);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

const TOKEN_CACHE_SHARDS: usize = 16;
const TOKEN_CACHE_PER_SHARD: usize = 4096;

impl TokenCache {
    fn new() -> Self {
        Self {
            shards: (0..TOKEN_CACHE_SHARDS)
                .map(|_| Mutex::new(HashMap::new()))
                .collect(),
        }
    }

    fn shard(&self, key: u64) -> &Mutex<HashMap<u64, Verified>> {
        &self.shards[(key >> 60) as usize % TOKEN_CACHE_SHARDS]
    }

    fn get(&self, token: &str, now: i64, leeway: i64) -> Option<Caller> {
        let key = token_key(token);
        let shard = self.shard(key).lock().unwrap_or_else(|p| p.into_inner());
        match shard.get(&key) {
            Some(v) if &*v.token == token && now <= v.exp.saturating_add(leeway) => {
                Some(v.caller.clone())
            }
            _ => None,
        }
    }

    fn put(&self, token: &str, caller: &Caller, exp: i64) {
        let key = token_key(token);
        let mut shard = self.shard(key).lock().unwrap_or_else(|p| p.into_inner());
        if shard.len() >= TOKEN_CACHE_PER_SHARD {
            shard.clear();
        }
        shard.insert(
            key,
            Verified {
                token: token.into(),
                caller: caller.clone(),
                exp,
            },
        );
    }
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("algorithms", &self.validation.algorithms)
            .finish()
    }
}

impl Verifier {
    /// From the settings: the RS256 key file when given, else the HS256 secret, else the dev
    /// secret — loudly, unless the gateway only listens on loopback.
    pub fn from_settings(auth: &AuthSettings, listen: Option<SocketAddr>) -> anyhow::Result<Self> {
        if let Some(path) = &auth.jwt_rs256_public_key_file {
            let pem = std::fs::read(path).with_context(|| {
                format!("cannot read JWT_RS256_PUBLIC_KEY_FILE {}", path.display())
            })?;
            let key = DecodingKey::from_rsa_pem(&pem)
                .context("the RS256 public key is not a PEM RSA key")?;
            return Ok(Self::new(key, Algorithm::RS256));
        }
        let secret = match &auth.jwt_hs256_secret {
            Some(s) if !s.is_empty() => s.clone(),
            _ => {
                if listen.is_some_and(|a| !a.ip().is_loopback()) {
                    tracing::warn!(
                        "!!! JWT_HS256_SECRET is not set: tokens are checked against the public \
                         DEV secret while listening beyond loopback. Anyone can mint a valid \
                         token. Set JWT_HS256_SECRET or JWT_RS256_PUBLIC_KEY_FILE. !!!"
                    );
                } else {
                    tracing::info!("using the dev JWT secret (loopback only)");
                }
                DEV_JWT_SECRET.to_owned()
            }
        };
        Ok(Self::new(
            DecodingKey::from_secret(secret.as_bytes()),
            Algorithm::HS256,
        ))
    }

    fn new(key: DecodingKey, alg: Algorithm) -> Self {
        let mut validation = Validation::new(alg);
        validation.set_required_spec_claims(&["exp", "sub"]);
        // A token may say it is not valid before some time; honour it.
        validation.validate_nbf = true;
        // Clocks across a farm agree to within seconds; a minute of grace hides nothing.
        validation.leeway = 5;
        Self {
            key,
            validation,
            verified: Arc::new(TokenCache::new()),
        }
    }

    /// Verifies a bearer token; the error says why, for the 401 (or 400) message.
    pub fn verify(&self, token: &str) -> Result<Caller, TokenError> {
        let now = chrono::Utc::now().timestamp();
        let leeway = self.validation.leeway as i64;
        if let Some(caller) = self.verified.get(token, now, leeway) {
            return Ok(caller);
        }
        let data =
            jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation).map_err(|e| {
                TokenError::Invalid(match e.kind() {
                    jsonwebtoken::errors::ErrorKind::ExpiredSignature => {
                        "the token has expired".to_owned()
                    }
                    jsonwebtoken::errors::ErrorKind::ImmatureSignature => {
                        "the token is not valid yet (nbf)".to_owned()
                    }
                    jsonwebtoken::errors::ErrorKind::InvalidSignature => {
                        "the token's signature is invalid".to_owned()
                    }
                    _ => format!("the token is invalid ({e})"),
                })
            })?;
        let claims = data.claims;
        if claims.exp > now.saturating_add(MAX_TOKEN_LIFETIME_SECS) {
            return Err(TokenError::Invalid(
                "the token's exp is more than a year away".into(),
            ));
        }
        let user_id: UserId = claims
            .sub
            .parse()
            .map_err(|e| TokenError::Invalid(format!("the token's sub claim {e}")))?;
        if !is_user_name(&claims.name) {
            return Err(TokenError::BadName);
        }
        let caller = Caller {
            user_id,
            name: claims.name,
            organizer: claims.roles.iter().any(|r| r == "organizer"),
            admin: claims.roles.iter().any(|r| r == "admin"),
        };
        self.verified.put(token, &caller, claims.exp);
        Ok(caller)
    }
}

/// Mints an HS256 token, as `campaign-events token` does.
pub fn mint(
    secret: &str,
    user_id: UserId,
    name: &str,
    roles: Vec<String>,
    ttl_secs: i64,
) -> anyhow::Result<String> {
    if !(1..=MAX_TOKEN_LIFETIME_SECS).contains(&ttl_secs) {
        anyhow::bail!("--ttl must be from 1 to {MAX_TOKEN_LIFETIME_SECS} seconds (a year)");
    }
    if !is_user_name(name) {
        anyhow::bail!(
            "--name must be a user name (not blank, at most 255 bytes, no control characters)"
        );
    }
    let now = chrono::Utc::now().timestamp();
    let claims = Claims {
        sub: user_id.to_string(),
        name: name.to_owned(),
        exp: now + ttl_secs,
        roles,
        iat: Some(now),
    };
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .context("cannot sign the token")
}

/// The secret `token` signs with: the configured one, or the dev secret.
pub fn signing_secret(auth: &AuthSettings) -> anyhow::Result<String> {
    if auth.jwt_rs256_public_key_file.is_some() && auth.jwt_hs256_secret.is_none() {
        anyhow::bail!(
            "this service verifies RS256 tokens from your identity provider; \
             `token` can only mint HS256 tokens (set JWT_HS256_SECRET)"
        );
    }
    Ok(auth
        .jwt_hs256_secret
        .clone()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| DEV_JWT_SECRET.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hs(secret: &str) -> Verifier {
        Verifier::new(
            DecodingKey::from_secret(secret.as_bytes()),
            Algorithm::HS256,
        )
    }

    #[test]
    fn minted_tokens_verify_and_carry_roles() {
        let t = mint(
            "s3cret",
            UserId::new(42).unwrap(),
            "Alice",
            vec!["organizer".into()],
            60,
        )
        .unwrap();
        let c = hs("s3cret").verify(&t).unwrap();
        assert_eq!(c.user_id.get(), 42);
        assert_eq!(c.name, "Alice");
        assert!(c.organizer && !c.admin);
    }

    /// Signs any claims with `secret` (HS256), as a forger or a careless issuer would.
    fn sign(secret: &str, claims: serde_json::Value) -> String {
        jsonwebtoken::encode(
            &Header::default(),
            &claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    }

    fn why(v: &Verifier, token: &str) -> String {
        v.verify(token).unwrap_err().to_string()
    }

    #[test]
    fn bad_signature_expiry_and_subject_are_refused() {
        let uid = UserId::new(1).unwrap();
        let now = chrono::Utc::now().timestamp();
        let t = mint("one", uid, "A", vec![], 60).unwrap();
        assert!(why(&hs("two"), &t).contains("signature"));
        let old = sign(
            "one",
            serde_json::json!({"sub": "1", "name": "A", "exp": now - 3600}),
        );
        assert!(why(&hs("one"), &old).contains("expired"));
        // A verified token is remembered, but only until it expires.
        let cache = TokenCache::new();
        let caller = hs("one")
            .verify(&mint("one", uid, "A", vec![], 60).unwrap())
            .unwrap();
        cache.put("tok", &caller, 1_000);
        assert_eq!(cache.get("tok", 1_000, 5), Some(caller.clone()));
        assert_eq!(cache.get("tok", 1_005, 5), Some(caller.clone()));
        assert_eq!(
            cache.get("tok", 1_006, 5),
            None,
            "expired, even though cached"
        );
        assert_eq!(cache.get("tok2", 1_000, 5), None);
        // An expiry at the end of time neither overflows nor is believed.
        cache.put("forever", &caller, i64::MAX);
        assert_eq!(cache.get("forever", 1_000, 5), Some(caller));
        let t = sign(
            "one",
            serde_json::json!({"sub": "-4", "name": "A", "exp": now + 60}),
        );
        assert!(why(&hs("one"), &t).contains("sub"));
        assert!(hs("one").verify("not.a.token").is_err());
    }

    #[test]
    fn exp_is_bounded_and_nbf_honoured() {
        let now = chrono::Utc::now().timestamp();
        let v = hs("one");
        for exp in [i64::MAX, now + MAX_TOKEN_LIFETIME_SECS + 3600] {
            let t = sign(
                "one",
                serde_json::json!({"sub": "1", "name": "A", "exp": exp}),
            );
            assert!(why(&v, &t).contains("a year"), "{exp}");
        }
        let later = sign(
            "one",
            serde_json::json!({"sub": "1", "name": "A", "exp": now + 7200, "nbf": now + 3600}),
        );
        assert!(why(&v, &later).contains("nbf"));
        let now_valid = sign(
            "one",
            serde_json::json!({"sub": "1", "name": "A", "exp": now + 7200, "nbf": now - 10}),
        );
        assert!(v.verify(&now_valid).is_ok());
        assert!(mint(
            "one",
            UserId::new(1).unwrap(),
            "A",
            vec![],
            MAX_TOKEN_LIFETIME_SECS + 1
        )
        .is_err());
        assert!(mint("one", UserId::new(1).unwrap(), "A", vec![], 0).is_err());
    }

    #[test]
    fn a_name_that_is_no_user_name_is_a_bad_request_not_a_bad_token() {
        let now = chrono::Utc::now().timestamp();
        for name in ["A\u{0}B", "\u{0}", "Line\nbreak", " ", ""] {
            let t = sign(
                "one",
                serde_json::json!({"sub": "1", "name": name, "exp": now + 60}),
            );
            assert_eq!(hs("one").verify(&t), Err(TokenError::BadName), "{name:?}");
        }
        assert!(mint("one", UserId::new(1).unwrap(), "A\u{0}", vec![], 60).is_err());
    }
}
