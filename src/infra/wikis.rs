//! The wikis this service knows (`WIKIS_FILE`): each wiki id with its Action API endpoint and,
//! in the table form, what lets that wiki's users sign in (its web origin, its session cookies,
//! its own JWTs) and which of its rights and groups make organizers and admins.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use campaign_events_actors::domain::WikiId;
use serde::Deserialize;

/// The file used when `WIKIS_FILE` is not set, if it exists in the working directory.
pub const DEFAULT_WIKIS_FILE: &str = "wikis.toml";

/// The right that lets a wiki's user create events, as the CampaignEvents extension names it.
pub const DEFAULT_ORGANIZER_RIGHT: &str = "campaignevents-enable-registration";
/// The group whose members are this service's admins.
pub const DEFAULT_ADMIN_GROUP: &str = "sysop";

/// Known wikis. `None` inside means no file was configured: every well-formed wiki id is
/// accepted, which suits development; production sets the file.
#[derive(Debug, Clone, Default)]
pub struct Wikis {
    known: Option<Arc<BTreeMap<WikiId, Site>>>,
}

/// One wiki, as `WIKIS_FILE` describes it.
#[derive(Debug, Clone)]
pub struct Site {
    /// The Action API endpoint (`…/w/api.php`).
    pub api: String,
    /// The wiki's web origin (`scheme://host[:port]`): where its pages, and so the post-edit
    /// module's requests, come from. CORS answers it, with credentials.
    pub origin: Option<String>,
    /// Whether the wiki's session cookies are accepted (verified by asking its API).
    pub sessions: bool,
    /// MediaWiki's own JWTs from this wiki, when configured.
    pub jwt: Option<WikiJwt>,
    /// A user with this right may create events.
    pub organizer_right: String,
    /// Members of this group are admins.
    pub admin_group: String,
}

/// How a wiki signs its JWTs: the issuer they name and the RS256 public key (PEM) that
/// verifies them.
#[derive(Clone)]
pub struct WikiJwt {
    pub issuer: String,
    pub key: jsonwebtoken::DecodingKey,
}

impl std::fmt::Debug for WikiJwt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WikiJwt")
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WikisFile {
    wikis: BTreeMap<String, toml::Value>,
}

/// The table form of one wiki.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SiteTable {
    api: String,
    origin: Option<String>,
    #[serde(default)]
    sessions: bool,
    jwt_issuer: Option<String>,
    jwt_public_key_file: Option<PathBuf>,
    organizer_right: Option<String>,
    admin_group: Option<String>,
}

impl Wikis {
    /// Loads `path`, or `wikis.toml` when present, or nothing.
    pub fn load(path: Option<&Path>) -> anyhow::Result<Self> {
        let path: PathBuf = match path {
            Some(p) => p.to_owned(),
            None if Path::new(DEFAULT_WIKIS_FILE).exists() => DEFAULT_WIKIS_FILE.into(),
            None => return Ok(Self::default()),
        };
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read WIKIS_FILE {}", path.display()))?;
        // Key files are named relative to the wikis file, so that the two travel together.
        let base = path.parent().unwrap_or(Path::new("."));
        let wikis = Self::parse_in(&text, base)
            .with_context(|| format!("in WIKIS_FILE {}", path.display()))?;
        tracing::info!(file = %path.display(), count = wikis.len(), "loaded known wikis");
        Ok(wikis)
    }

    /// Parses a wikis file whose key files are relative to the working directory.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        Self::parse_in(text, Path::new("."))
    }

    fn parse_in(text: &str, base: &Path) -> anyhow::Result<Self> {
        let file: WikisFile = toml::from_str(text).context(
            "expected a [wikis] table: wiki_id = \"api url\", or [wikis.wiki_id] with api = …",
        )?;
        let mut known = BTreeMap::new();
        for (id, entry) in file.wikis {
            let wiki = WikiId::parse(&id).map_err(|e| anyhow::anyhow!("wiki id {id:?} {e}"))?;
            let site = Site::from_entry(entry, base).with_context(|| format!("wiki {id}"))?;
            known.insert(wiki, site);
        }
        Ok(Self {
            known: Some(Arc::new(known)),
        })
    }

    /// From a list, as tests and the dev setup build it.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (WikiId, String)>) -> Self {
        Self {
            known: Some(Arc::new(
                pairs
                    .into_iter()
                    .map(|(w, api)| (w, Site::api_only(api)))
                    .collect(),
            )),
        }
    }

    pub fn is_known(&self, wiki: &WikiId) -> bool {
        self.known.as_ref().is_none_or(|k| k.contains_key(wiki))
    }

    /// The Action API endpoint of `wiki`, when configured.
    pub fn api_url(&self, wiki: &WikiId) -> Option<&str> {
        self.site(wiki).map(|s| s.api.as_str())
    }

    /// What the file says of `wiki`.
    pub fn site(&self, wiki: &WikiId) -> Option<&Site> {
        self.known.as_ref()?.get(wiki)
    }

    /// The wiki whose web origin is `origin`, if one is configured with it.
    pub fn by_origin(&self, origin: &str) -> Option<(&WikiId, &Site)> {
        self.known
            .as_ref()?
            .iter()
            .find(|(_, s)| s.origin.as_deref() == Some(origin))
    }

    /// Every configured wiki.
    pub fn iter(&self) -> impl Iterator<Item = (&WikiId, &Site)> {
        self.known.iter().flat_map(|k| k.iter())
    }

    pub fn len(&self) -> usize {
        self.known.as_ref().map_or(0, |k| k.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Site {
    fn api_only(api: String) -> Self {
        Self {
            api,
            origin: None,
            sessions: false,
            jwt: None,
            organizer_right: DEFAULT_ORGANIZER_RIGHT.to_owned(),
            admin_group: DEFAULT_ADMIN_GROUP.to_owned(),
        }
    }

    /// The short form (`ptwiki = "…/api.php"`) or the table form.
    fn from_entry(entry: toml::Value, base: &Path) -> anyhow::Result<Self> {
        let table: SiteTable = match entry {
            toml::Value::String(api) => {
                return check_api(&api).map(|()| Self::api_only(api));
            }
            toml::Value::Table(t) => {
                // Checked field by field first, so that an error names the field (serde's
                // type errors do not).
                for (field, value) in &t {
                    let want = match field.as_str() {
                        "sessions" => "boolean",
                        "api"
                        | "origin"
                        | "jwt_issuer"
                        | "jwt_public_key_file"
                        | "organizer_right"
                        | "admin_group" => "string",
                        other => anyhow::bail!(
                            "unknown field {other:?} (expected api, origin, sessions, \
                             jwt_issuer, jwt_public_key_file, organizer_right, admin_group)"
                        ),
                    };
                    if value.type_str() != want {
                        anyhow::bail!("{field} must be a {want}, not a {}", value.type_str());
                    }
                }
                SiteTable::deserialize(toml::Value::Table(t))
                    .map_err(|e| anyhow::anyhow!("{}", e.message()))?
            }
            other => anyhow::bail!(
                "expected the API URL as a string, or a table with api = …; found a {}",
                other.type_str()
            ),
        };
        check_api(&table.api)?;
        let origin = table
            .origin
            .as_deref()
            .map(|o| parse_origin(o).with_context(|| format!("origin {o:?}")))
            .transpose()?;
        if table.sessions && origin.is_none() {
            anyhow::bail!(
                "sessions = true needs origin: the wiki's web address, which its users' \
                 browsers send and CORS must answer"
            );
        }
        let jwt = match (table.jwt_issuer, table.jwt_public_key_file) {
            (None, None) => None,
            (Some(issuer), Some(file)) if !issuer.is_empty() => {
                let path = base.join(&file);
                let pem = std::fs::read(&path).with_context(|| {
                    format!("jwt_public_key_file: cannot read {}", path.display())
                })?;
                let key = jsonwebtoken::DecodingKey::from_rsa_pem(&pem).with_context(|| {
                    format!(
                        "jwt_public_key_file: {} is not a PEM RSA public key",
                        path.display()
                    )
                })?;
                Some(WikiJwt { issuer, key })
            }
            (Some(_), Some(_)) => anyhow::bail!("jwt_issuer must not be empty"),
            (Some(_), None) => anyhow::bail!("jwt_issuer needs jwt_public_key_file"),
            (None, Some(_)) => anyhow::bail!("jwt_public_key_file needs jwt_issuer"),
        };
        let name = |field: &str, v: Option<String>, default: &str| match v {
            Some(v) if v.trim().is_empty() || v.chars().any(char::is_control) => {
                anyhow::bail!("{field} must be a right or group name")
            }
            Some(v) => Ok(v),
            None => Ok(default.to_owned()),
        };
        Ok(Self {
            api: table.api,
            origin,
            sessions: table.sessions,
            jwt,
            organizer_right: name(
                "organizer_right",
                table.organizer_right,
                DEFAULT_ORGANIZER_RIGHT,
            )?,
            admin_group: name("admin_group", table.admin_group, DEFAULT_ADMIN_GROUP)?,
        })
    }
}

fn check_api(url: &str) -> anyhow::Result<()> {
    if url.starts_with("https://") || url.starts_with("http://") {
        Ok(())
    } else {
        anyhow::bail!("api: the API URL must start with http:// or https://, not {url:?}")
    }
}

/// `scheme://host[:port]`, lower-cased, as browsers send `Origin`; nothing after the authority.
fn parse_origin(raw: &str) -> anyhow::Result<String> {
    let (scheme, rest) = raw
        .split_once("://")
        .context("must be scheme://host[:port]")?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        anyhow::bail!("the scheme must be http or https");
    }
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    if authority.is_empty() || authority.contains(['/', '?', '#', '@', ' ']) {
        anyhow::bail!("must be scheme://host[:port], with no path, query or user");
    }
    Ok(format!("{scheme}://{}", authority.to_ascii_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_wikis_table() {
        let w = Wikis::parse(
            "[wikis]\nptwiki = \"https://pt.wikipedia.org/w/api.php\"\nenwiki = \"http://localhost/w/api.php\"\n",
        )
        .unwrap();
        let pt = WikiId::parse("ptwiki").unwrap();
        assert!(w.is_known(&pt));
        assert!(!w.is_known(&WikiId::parse("dewiki").unwrap()));
        assert_eq!(w.api_url(&pt), Some("https://pt.wikipedia.org/w/api.php"));
        assert!(Wikis::parse("[wikis]\n\"Bad Id\" = \"https://x\"\n").is_err());
        assert!(Wikis::parse("[wikis]\nx = \"ftp://x\"\n").is_err());
        assert!(Wikis::default().is_known(&pt));
    }

    #[test]
    fn the_table_form_adds_sign_in_settings_with_defaults() {
        let dir = std::env::temp_dir().join(format!("wikis-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("keys")).unwrap();
        std::fs::copy(
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/fixtures/rs256-test-public.pem"
            ),
            dir.join("keys/wiki.pem"),
        )
        .unwrap();
        let w = Wikis::parse_in(
            "[wikis]\nptwiki = \"https://pt.wikipedia.org/w/api.php\"\n\
             [wikis.testwiki]\napi = \"http://127.0.0.1:8089/api.php\"\n\
             origin = \"HTTP://127.0.0.1:8089/\"\nsessions = true\n\
             jwt_issuer = \"https://meta.wikimedia.org\"\n\
             jwt_public_key_file = \"keys/wiki.pem\"\nadmin_group = \"bureaucrat\"\n",
            &dir,
        )
        .unwrap();
        let test = w.site(&WikiId::parse("testwiki").unwrap()).unwrap();
        assert_eq!(test.origin.as_deref(), Some("http://127.0.0.1:8089"));
        assert!(test.sessions);
        assert_eq!(
            test.jwt.as_ref().unwrap().issuer,
            "https://meta.wikimedia.org"
        );
        assert_eq!(test.organizer_right, DEFAULT_ORGANIZER_RIGHT);
        assert_eq!(test.admin_group, "bureaucrat");
        assert_eq!(
            w.by_origin("http://127.0.0.1:8089")
                .map(|(id, _)| id.as_str()),
            Some("testwiki")
        );
        let pt = w.site(&WikiId::parse("ptwiki").unwrap()).unwrap();
        assert!(!pt.sessions && pt.origin.is_none() && pt.jwt.is_none());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_bad_table_names_the_wiki_and_the_field() {
        for (toml, says) in [
            ("[wikis.w]\napi = \"http://x/api.php\"\nsesions = true\n", "sesions"),
            ("[wikis.w]\norigin = \"http://x\"\n", "api"),
            ("[wikis.w]\napi = \"x/api.php\"\n", "api"),
            ("[wikis.w]\napi = \"http://x/api.php\"\nsessions = true\n", "origin"),
            ("[wikis.w]\napi = \"http://x/api.php\"\norigin = \"http://x/w\"\n", "origin"),
            ("[wikis.w]\napi = \"http://x/api.php\"\nsessions = \"yes\"\n", "sessions"),
            ("[wikis.w]\napi = \"http://x/api.php\"\njwt_issuer = \"i\"\n", "jwt_public_key_file"),
            (
                "[wikis.w]\napi = \"http://x/api.php\"\njwt_issuer = \"i\"\njwt_public_key_file = \"/nonexistent.pem\"\n",
                "jwt_public_key_file",
            ),
            ("[wikis.w]\napi = \"http://x/api.php\"\nadmin_group = \"\"\n", "admin_group"),
            ("[wikis]\nw = 5\n", "string"),
        ] {
            let e = format!("{:#}", Wikis::parse(toml).unwrap_err());
            assert!(e.contains("wiki w") && e.contains(says), "{toml}: {e}");
        }
    }
}
