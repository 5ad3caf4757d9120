//! What a wiki's own configuration says about titles: namespace names, aliases, first-letter
//! case rules, which namespaces have subpages, and interwiki prefixes.
//!
//! Link normalisation cannot be hard-coded to English: on pt.wikipedia `[[Imagem:X.jpg]]` is a
//! file embed and `[[Categoria:X]]` a category assignment, and on Wiktionary `[[apple]]` and
//! `[[Apple]]` are different pages. So every rule that depends on the wiki reads it from here,
//! loaded from the wiki's own `meta=siteinfo` answer.

use std::collections::{HashMap, HashSet};

use serde::de::DeserializeOwned;
use serde::Deserialize;

/// How MediaWiki treats the first letter of page names in a namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NamespaceCase {
    /// `[[foo]]` and `[[Foo]]` are the same page (most wikis).
    FirstLetter,
    /// Titles are taken as written (Wiktionary's main namespace, for instance).
    CaseSensitive,
}

/// The namespace ids whose meaning is fixed across every MediaWiki installation.
pub(crate) const NS_MEDIA: i64 = -2;
pub(crate) const NS_SPECIAL: i64 = -1;
pub(crate) const NS_MAIN: i64 = 0;
pub(crate) const NS_FILE: i64 = 6;
pub(crate) const NS_CATEGORY: i64 = 14;

#[derive(Debug, Clone)]
struct Namespace {
    /// The local name, as the wiki writes it in titles ("Ficheiro", "Wikipedia talk").
    name: String,
    case: NamespaceCase,
    /// Whether `/` makes subpages here, so that `[[/Sub]]` and `[[../Sibling]]` are relative
    /// links on its pages (`$wgNamespacesWithSubpages`).
    subpages: bool,
}

/// One wiki's title rules. Build it with [`SiteInfo::from_action_api`] from the wiki's
/// siteinfo, or [`SiteInfo::english`] for an English Wikipedia-like default.
#[derive(Debug, Clone)]
pub struct SiteInfo {
    /// Sorted by id: looked up for every link, and a binary search over a few dozen ids is
    /// cheaper than hashing.
    namespaces: Vec<(i64, Namespace)>,
    /// The main namespace's case rule, asked for most links, kept at hand.
    main_case: NamespaceCase,
    /// Every name a namespace answers to — local name, canonical English name and aliases —
    /// folded by [`fold_key`], to its id.
    prefixes: HashMap<String, i64>,
    /// Interwiki and interlanguage prefixes, folded by [`fold_key`].
    interwiki: HashSet<String>,
    /// The prefixes that name this wiki itself (`localinterwiki` in the map: `pt` on
    /// pt.wikipedia), folded: MediaWiki strips them and reads the rest as a local title.
    local_interwiki: HashSet<String>,
}

/// The parts of the `query` object that we read (formatversion=2). Unknown fields are ignored
/// so that newer MediaWiki versions keep working.
#[derive(Deserialize)]
struct RawGeneral {
    case: Option<String>,
}

#[derive(Deserialize)]
struct RawNamespace {
    id: i64,
    case: Option<String>,
    name: String,
    canonical: Option<String>,
    /// `true` in formatversion=2; in formatversion=1 the key is there (as "") only when true.
    #[serde(default)]
    subpages: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct RawAlias {
    id: i64,
    alias: String,
}

#[derive(Deserialize)]
struct RawInterwiki {
    prefix: String,
    #[serde(default)]
    localinterwiki: bool,
}

/// One namespace as read, before the prefixes are folded.
struct RawNs {
    id: i64,
    name: String,
    canonical: Option<String>,
    case: NamespaceCase,
    subpages: bool,
}

/// What a title's prefix (before its first colon) names; see [`SiteInfo::prefix_kind`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PrefixKind {
    Namespace(i64),
    /// The wiki's own interwiki prefix: dropped, and the rest read again.
    ThisWiki,
    /// Another wiki's (interwiki or interlanguage): not an internal link.
    Interwiki,
    None,
}

impl SiteInfo {
    /// From the JSON of MediaWiki's
    /// `action=query&meta=siteinfo&siprop=general|namespaces|namespacealiases|interwikimap&formatversion=2&format=json`
    /// (the whole response object, with its "query" member). Errors are human-readable.
    ///
    /// `namespaces` is required: without it embeds and categories would silently count as links.
    /// `namespacealiases` and `interwikimap` may be absent (an empty list is a legitimate answer).
    pub fn from_action_api(json: &serde_json::Value) -> Result<SiteInfo, String> {
        if let Some(err) = json.get("error") {
            let code = err.get("code").and_then(|c| c.as_str()).unwrap_or("?");
            let info = err.get("info").and_then(|c| c.as_str()).unwrap_or("");
            return Err(format!("siteinfo request failed: {code}: {info}"));
        }
        let query = json
            .get("query")
            .ok_or("siteinfo JSON has no \"query\" object (expected the whole API response)")?;
        let general: Option<RawGeneral> = field(query, "general")?;
        let wiki_case = match general.and_then(|g| g.case) {
            Some(case) => parse_case(&case)
                .ok_or_else(|| format!("siteinfo query.general.case has unknown value {case:?}"))?,
            None => NamespaceCase::FirstLetter,
        };
        let raw_namespaces: HashMap<String, RawNamespace> = field(query, "namespaces")?
            .ok_or("siteinfo JSON has no query.namespaces (add siprop=namespaces)")?;
        if raw_namespaces.is_empty() {
            return Err("siteinfo query.namespaces is empty".to_string());
        }
        let aliases: Vec<RawAlias> = field(query, "namespacealiases")?.unwrap_or_default();
        let interwikis: Vec<RawInterwiki> = field(query, "interwikimap")?.unwrap_or_default();

        let mut namespaces = Vec::with_capacity(raw_namespaces.len());
        for ns in raw_namespaces.into_values() {
            let case = match ns.case {
                Some(case) => parse_case(&case).ok_or_else(|| {
                    format!("siteinfo namespace {} has unknown case {case:?}", ns.id)
                })?,
                None => wiki_case,
            };
            let subpages = match ns.subpages {
                None | Some(serde_json::Value::Null | serde_json::Value::Bool(false)) => false,
                Some(serde_json::Value::Bool(true) | serde_json::Value::String(_)) => true,
                Some(other) => {
                    return Err(format!(
                        "siteinfo namespace {} has subpages {other}, not a boolean",
                        ns.id
                    ))
                }
            };
            namespaces.push(RawNs {
                id: ns.id,
                name: ns.name,
                canonical: ns.canonical,
                case,
                subpages,
            });
        }
        Ok(Self::build(
            namespaces,
            aliases.into_iter().map(|a| (a.alias, a.id)),
            interwikis.into_iter().map(|i| (i.prefix, i.localinterwiki)),
        ))
    }

    /// English Wikipedia-like defaults: namespaces -2..15 with their English names (project
    /// namespace "Wikipedia"), subpages where MediaWiki has them by default (every talk
    /// namespace, User, Project, MediaWiki, Template, Help), the aliases Image/Image talk/WP/WT, and the interwiki prefixes
    /// en, de, fr, pt, es, wikt, commons, meta, m. For tests and as an explicit fallback when
    /// a wiki's siteinfo cannot be had.
    pub fn english() -> SiteInfo {
        const NAMES: [(i64, &str, &str); 18] = [
            (-2, "Media", "Media"),
            (-1, "Special", "Special"),
            (0, "", ""),
            (1, "Talk", "Talk"),
            (2, "User", "User"),
            (3, "User talk", "User talk"),
            (4, "Wikipedia", "Project"),
            (5, "Wikipedia talk", "Project talk"),
            (6, "File", "File"),
            (7, "File talk", "File talk"),
            (8, "MediaWiki", "MediaWiki"),
            (9, "MediaWiki talk", "MediaWiki talk"),
            (10, "Template", "Template"),
            (11, "Template talk", "Template talk"),
            (12, "Help", "Help"),
            (13, "Help talk", "Help talk"),
            (14, "Category", "Category"),
            (15, "Category talk", "Category talk"),
        ];
        // MediaWiki's default `$wgNamespacesWithSubpages`.
        const SUBPAGES: [i64; 13] = [1, 2, 3, 4, 5, 7, 8, 9, 10, 11, 12, 13, 15];
        let namespaces = NAMES.iter().map(|&(id, name, canonical)| RawNs {
            id,
            name: name.to_string(),
            canonical: (!canonical.is_empty()).then(|| canonical.to_string()),
            case: NamespaceCase::FirstLetter,
            subpages: SUBPAGES.contains(&id),
        });
        let aliases = [("Image", 6), ("Image talk", 7), ("WP", 4), ("WT", 5)];
        let interwikis = ["en", "de", "fr", "pt", "es", "wikt", "commons", "meta", "m"];
        Self::build(
            namespaces.collect(),
            aliases.iter().map(|&(a, id)| (a.to_string(), id)),
            interwikis.iter().map(|p| (p.to_string(), false)),
        )
    }

    fn build(
        namespaces: Vec<RawNs>,
        aliases: impl Iterator<Item = (String, i64)>,
        interwikis: impl Iterator<Item = (String, bool)>,
    ) -> SiteInfo {
        let mut prefixes = HashMap::new();
        let mut by_id = Vec::with_capacity(namespaces.len());
        for RawNs {
            id,
            name,
            canonical,
            case,
            subpages,
        } in namespaces
        {
            // The main namespace has no prefix: "" must never match a prefix.
            if !name.is_empty() {
                prefixes.insert(fold_key(&name), id);
            }
            if let Some(canonical) = canonical.filter(|c| !c.is_empty()) {
                prefixes.insert(fold_key(&canonical), id);
            }
            by_id.push((
                id,
                Namespace {
                    name,
                    case,
                    subpages,
                },
            ));
        }
        by_id.sort_by_key(|&(id, _)| id);
        by_id.dedup_by_key(|&mut (id, _)| id);
        for (alias, id) in aliases {
            if !alias.is_empty() {
                prefixes.insert(fold_key(&alias), id);
            }
        }
        let main_case = by_id
            .iter()
            .find(|(id, _)| *id == NS_MAIN)
            .map_or(NamespaceCase::FirstLetter, |(_, ns)| ns.case);
        let (mut interwiki, mut local_interwiki) = (HashSet::new(), HashSet::new());
        for (prefix, local) in interwikis {
            if local {
                local_interwiki.insert(fold_key(&prefix));
            }
            interwiki.insert(fold_key(&prefix));
        }
        SiteInfo {
            main_case,
            namespaces: by_id,
            prefixes,
            interwiki,
            local_interwiki,
        }
    }

    /// What a title prefix names, folded once: a namespace (local, canonical or alias; any
    /// case, `_` or spaces), this wiki itself, another wiki, or nothing.
    pub(crate) fn prefix_kind(&self, prefix: &str) -> PrefixKind {
        let key = fold_key(prefix);
        if let Some(&ns) = self.prefixes.get(&key) {
            PrefixKind::Namespace(ns)
        } else if self.local_interwiki.contains(&key) {
            PrefixKind::ThisWiki
        } else if self.interwiki.contains(&key) {
            PrefixKind::Interwiki
        } else {
            PrefixKind::None
        }
    }

    #[cfg(test)]
    fn namespace_by_prefix(&self, prefix: &str) -> Option<i64> {
        self.prefixes.get(&fold_key(prefix)).copied()
    }

    #[cfg(test)]
    fn is_interwiki(&self, prefix: &str) -> bool {
        self.interwiki.contains(&fold_key(prefix))
    }

    fn namespace(&self, id: i64) -> Option<&Namespace> {
        let index = self
            .namespaces
            .binary_search_by_key(&id, |&(id, _)| id)
            .ok()?;
        Some(&self.namespaces[index].1)
    }

    /// The local name of a namespace, as titles are written on this wiki.
    pub(crate) fn namespace_name(&self, id: i64) -> &str {
        self.namespace(id).map_or("", |ns| ns.name.as_str())
    }

    /// Whether relative links (`[[/Sub]]`, `[[../Sibling]]`) are resolved on pages of a
    /// namespace; not when unknown, as MediaWiki's default for a namespace it is not told of.
    pub(crate) fn has_subpages(&self, id: i64) -> bool {
        self.namespace(id).is_some_and(|ns| ns.subpages)
    }

    /// The case rule of a namespace; first-letter, MediaWiki's default, when unknown.
    pub(crate) fn namespace_case(&self, id: i64) -> NamespaceCase {
        if id == NS_MAIN {
            return self.main_case;
        }
        self.namespace(id)
            .map_or(NamespaceCase::FirstLetter, |ns| ns.case)
    }
}

fn parse_case(case: &str) -> Option<NamespaceCase> {
    match case {
        "first-letter" => Some(NamespaceCase::FirstLetter),
        "case-sensitive" => Some(NamespaceCase::CaseSensitive),
        _ => None,
    }
}

/// Deserializes an optional member of `query`, naming it in the error.
fn field<T: DeserializeOwned>(query: &serde_json::Value, key: &str) -> Result<Option<T>, String> {
    match query.get(key) {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(value) => T::deserialize(value).map(Some).map_err(|e| {
            format!("siteinfo query.{key} is not in the expected shape (formatversion=2): {e}")
        }),
    }
}

/// The form in which prefixes are compared: MediaWiki matches namespace and interwiki
/// prefixes case-insensitively, with `_` and spaces interchangeable. Lowercasing is per
/// character (like PHP's `mb_strtolower`), not context-sensitive like `str::to_lowercase`.
fn fold_key(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for word in name.split(['_', ' ']).filter(|w| !w.is_empty()) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.extend(word.chars().flat_map(char::to_lowercase));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn portuguese_json() -> serde_json::Value {
        serde_json::json!({"batchcomplete": true, "query": {
            "general": {"lang": "pt", "case": "first-letter"},
            "namespaces": {
                "-2": {"id": -2, "case": "first-letter", "name": "Multimédia", "canonical": "Media"},
                "0": {"id": 0, "case": "first-letter", "name": "", "content": true, "subpages": false},
                "2": {"id": 2, "case": "first-letter", "name": "Utilizador", "canonical": "User", "subpages": true},
                "6": {"id": 6, "case": "first-letter", "name": "Ficheiro", "canonical": "File"},
                "14": {"id": 14, "case": "case-sensitive", "name": "Categoria", "canonical": "Category"}
            },
            "namespacealiases": [{"id": 6, "alias": "Imagem"}, {"id": 6, "alias": "Image"}],
            "interwikimap": [{"prefix": "en", "local": true, "language": "English"}, {"prefix": "wikt"}]
        }})
    }

    #[test]
    fn parses_formatversion_2() {
        let site = SiteInfo::from_action_api(&portuguese_json()).expect("valid siteinfo");
        assert_eq!(site.namespace_by_prefix("ficheiro"), Some(6));
        assert_eq!(site.namespace_by_prefix("FILE"), Some(6));
        assert_eq!(site.namespace_by_prefix("Imagem"), Some(6));
        assert_eq!(site.namespace_by_prefix("multimédia"), Some(-2));
        assert_eq!(site.namespace_by_prefix(""), None);
        assert_eq!(site.namespace_name(6), "Ficheiro");
        assert_eq!(site.namespace_case(14), NamespaceCase::CaseSensitive);
        assert_eq!(site.namespace_case(0), NamespaceCase::FirstLetter);
        assert!(site.is_interwiki("EN"));
        assert!(!site.is_interwiki("de"));
        assert!(site.has_subpages(2));
        assert!(!site.has_subpages(0) && !site.has_subpages(6) && !site.has_subpages(99));
    }

    #[test]
    fn subpages_in_formatversion_1() {
        // formatversion=1 lists "subpages": "" on the namespaces that have them, nothing on
        // others; the service asks for formatversion=2 (booleans), but both read the same.
        let json = serde_json::json!({"query": {"namespaces": {
            "0": {"id": 0, "case": "first-letter", "name": ""},
            "1": {"id": 1, "case": "first-letter", "name": "Talk", "subpages": ""},
            "2": {"id": 2, "case": "first-letter", "name": "User", "subpages": ""}
        }}});
        let site = SiteInfo::from_action_api(&json).expect("valid siteinfo");
        assert!(site.has_subpages(1) && site.has_subpages(2) && !site.has_subpages(0));
        let bad = serde_json::json!({"query": {"namespaces": {"0": {"id": 0, "name": "", "subpages": 1}}}});
        assert!(SiteInfo::from_action_api(&bad)
            .unwrap_err()
            .contains("subpages"));
    }

    #[test]
    fn english_subpages_are_mediawikis_defaults() {
        let site = SiteInfo::english();
        assert!(site.has_subpages(2) && site.has_subpages(1) && site.has_subpages(4));
        assert!(!site.has_subpages(0) && !site.has_subpages(6) && !site.has_subpages(14));
    }

    #[test]
    fn english_defaults() {
        let site = SiteInfo::english();
        assert_eq!(site.namespace_by_prefix("image"), Some(6));
        assert_eq!(site.namespace_by_prefix("Project talk"), Some(5));
        assert_eq!(site.namespace_by_prefix("user_talk"), Some(3));
        assert_eq!(site.namespace_name(4), "Wikipedia");
        assert!(site.is_interwiki("wikt") && site.is_interwiki("commons"));
    }

    #[test]
    fn errors_are_readable() {
        let missing = SiteInfo::from_action_api(&serde_json::json!({"batchcomplete": true}));
        assert!(missing.unwrap_err().contains("\"query\""));
        let no_ns = SiteInfo::from_action_api(&serde_json::json!({"query": {}}));
        assert!(no_ns.unwrap_err().contains("siprop=namespaces"));
        let bad = SiteInfo::from_action_api(&serde_json::json!({"query": {"namespaces": []}}));
        assert!(bad.unwrap_err().contains("query.namespaces"));
        let api_error =
            serde_json::json!({"error": {"code": "badvalue", "info": "Unrecognized value"}});
        let err = SiteInfo::from_action_api(&api_error).unwrap_err();
        assert!(err.contains("badvalue"), "{err}");
        let bad_case = serde_json::json!({"query": {"namespaces": {"0": {"id": 0, "name": "", "case": "odd"}}}});
        assert!(SiteInfo::from_action_api(&bad_case)
            .unwrap_err()
            .contains("odd"));
    }
}
