//! Bearer tokens: verifying them (HS256 shared secret or RS256 public key) and minting dev ones.

use std::net::SocketAddr;

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
        Self { key, validation }
    }

    /// Verifies a bearer token; the error says why, for the 401 message.
    pub fn verify(&self, token: &str) -> Result<Caller, String> {
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
        Ok(Caller {
            user_id,
            name: claims.name,
            organizer: claims.roles.iter().any(|r| r == "organizer"),
            admin: claims.roles.iter().any(|r| r == "admin"),
        })
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
