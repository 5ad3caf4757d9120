//! The wikis this service knows (`WIKIS_FILE`): each wiki id with its Action API endpoint.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use campaign_events_actors::domain::WikiId;
use serde::Deserialize;

/// The file used when `WIKIS_FILE` is not set, if it exists in the working directory.
pub const DEFAULT_WIKIS_FILE: &str = "wikis.toml";

/// Known wikis. `None` inside means no file was configured: every well-formed wiki id is
/// accepted, which suits development; production sets the file.
#[derive(Debug, Clone, Default)]
pub struct Wikis {
    known: Option<BTreeMap<WikiId, String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WikisFile {
    wikis: BTreeMap<String, String>,
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
        let wikis = Self::parse(&text).with_context(|| format!("in {}", path.display()))?;
        tracing::info!(file = %path.display(), count = wikis.len(), "loaded known wikis");
        Ok(wikis)
    }

    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let file: WikisFile =
            toml::from_str(text).context("expected a [wikis] table of wiki_id = \"api url\"")?;
        let mut known = BTreeMap::new();
        for (id, url) in file.wikis {
            let wiki = WikiId::parse(&id).map_err(|e| anyhow::anyhow!("wiki id {id:?} {e}"))?;
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                anyhow::bail!("the API URL of {id} must start with http:// or https://");
            }
            known.insert(wiki, url);
        }
        Ok(Self { known: Some(known) })
    }

    /// From a list, as tests and the dev setup build it.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (WikiId, String)>) -> Self {
        Self {
            known: Some(pairs.into_iter().collect()),
        }
    }

    pub fn is_known(&self, wiki: &WikiId) -> bool {
        self.known.as_ref().is_none_or(|k| k.contains_key(wiki))
    }

    /// The Action API endpoint of `wiki`, when configured.
    pub fn api_url(&self, wiki: &WikiId) -> Option<&str> {
        self.known.as_ref()?.get(wiki).map(String::as_str)
    }

    pub fn len(&self) -> usize {
        self.known.as_ref().map_or(0, BTreeMap::len)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
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
}
