//! Bearer tokens: verifying them (HS256 shared secret or RS256 public key) and minting dev ones.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use campaign_events_actors::domain::UserId;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::config::{AuthSettings, DEV_JWT_SECRET};

/// Longest accepted user name, in bytes (MediaWiki caps user names at 255 bytes).
const MAX_USER_NAME_BYTES: usize = 255;

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
            Some(v) if &*v.token == token && now <= v.exp + leeway => Some(v.caller.clone()),
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
        // Clocks across a farm agree to within seconds; a minute of grace hides nothing.
        validation.leeway = 5;
        Self {
            key,
            validation,
            verified: Arc::new(TokenCache::new()),
        }
    }

    /// Verifies a bearer token; the error says why, for the 401 message.
    pub fn verify(&self, token: &str) -> Result<Caller, String> {
        let now = chrono::Utc::now().timestamp();
        let leeway = self.validation.leeway as i64;
        if let Some(caller) = self.verified.get(token, now, leeway) {
            return Ok(caller);
        }
        let data = jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation).map_err(
            |e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => {
                    "the token has expired".to_owned()
                }
                jsonwebtoken::errors::ErrorKind::InvalidSignature => {
                    "the token's signature is invalid".to_owned()
                }
                _ => format!("the token is invalid ({e})"),
            },
        )?;
        let claims = data.claims;
        let user_id: UserId = claims
            .sub
            .parse()
            .map_err(|e| format!("the token's sub claim {e}"))?;
        if claims.name.trim().is_empty() || claims.name.len() > MAX_USER_NAME_BYTES {
            return Err("the token's name claim must be a user name".into());
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

    #[test]
    fn bad_signature_expiry_and_subject_are_refused() {
        let uid = UserId::new(1).unwrap();
        let t = mint("one", uid, "A", vec![], 60).unwrap();
        assert!(hs("two").verify(&t).unwrap_err().contains("signature"));
        let old = mint("one", uid, "A", vec![], -3600).unwrap();
        assert!(hs("one").verify(&old).unwrap_err().contains("expired"));
        // A verified token is remembered, but only until it expires.
        let cache = TokenCache::new();
        let caller = hs("one")
            .verify(&mint("one", uid, "A", vec![], 60).unwrap())
            .unwrap();
        cache.put("tok", &caller, 1_000);
        assert_eq!(cache.get("tok", 1_000, 5), Some(caller.clone()));
        assert_eq!(cache.get("tok", 1_005, 5), Some(caller));
        assert_eq!(
            cache.get("tok", 1_006, 5),
            None,
            "expired, even though cached"
        );
        assert_eq!(cache.get("tok2", 1_000, 5), None);
        let claims = Claims {
            sub: "-4".into(),
            name: "A".into(),
            exp: chrono::Utc::now().timestamp() + 60,
            roles: vec![],
            iat: None,
        };
        let t = jsonwebtoken::encode(
            &Header::default(),
            &claims,
            &EncodingKey::from_secret(b"one"),
        )
        .unwrap();
        assert!(hs("one").verify(&t).unwrap_err().contains("sub"));
        assert!(hs("one").verify("not.a.token").is_err());
    }
}
