//! Per-edit statistics for MediaWiki pages: how much text an edit added and removed, and how
//! many internal links and `<ref>` footnotes it added and removed.
//!
//! Everything is computed from the two revisions' wikitext alone (no parser, no template
//! expansion), so it is cheap enough to run on every edit of a campaign, and the per-wiki
//! rules (namespace names, subpages, interwiki prefixes) come from the wiki's own
//! [`SiteInfo`]. Links also depend on the page the text is on ([`Page`]): relative links are
//! read against it, and a link to itself is no link.

pub mod diff;
pub mod links;
pub mod refs;
pub mod siteinfo;

pub use siteinfo::{NamespaceCase, SiteInfo};

/// The statistics of one edit, from the parent revision's text to the revision's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct EditStats {
    /// UTF-8 bytes inserted by the diff.
    pub bytes_added: u64,
    pub bytes_removed: u64,
    /// Unicode scalar values (Rust `char`s) inserted by the diff.
    pub chars_added: u64,
    pub chars_removed: u64,
    /// Distinct pages linked from the new text and not from the old.
    pub links_added: u32,
    pub links_removed: u32,
    /// Footnotes defined in the new text and not in the old, by content (as a multiset).
    pub refs_added: u32,
    pub refs_removed: u32,
}

/// The page an edit is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub(crate) ns: i64,
    /// With its namespace's local name, spaces for underscores: "Utilizador:Bob/Rascunho".
    pub(crate) title: String,
}

impl Page {
    /// `title` as the Action API gives it (`title` of a revision's page: normalised, with the
    /// local namespace name), `ns` its namespace id.
    pub fn new(ns: i64, title: impl Into<String>) -> Page {
        Page {
            ns,
            title: title.into(),
        }
    }
}

/// Everything for one edit of `page`. `old` is "" for a page creation. Both texts are read on
/// the revision's title; if the page was moved between the two revisions, MediaWiki read the
/// parent on its old title, which only matters for its relative links and self-links.
pub fn compute(old: &str, new: &str, page: &Page, site: &SiteInfo) -> EditStats {
    let delta = diff::text_delta(old, new);

    // The same sets as `links::internal_links`, without a `String` per link: this runs on
    // every edit, and articles have thousands of links.
    let (links_added, links_removed) = links::LinkTitles::difference(
        &links::LinkTitles::of(old, page, site),
        &links::LinkTitles::of(new, page, site),
    );

    let (refs_added, refs_removed) =
        multiset_difference(&refs::defined_refs(old), &refs::defined_refs(new));

    EditStats {
        bytes_added: delta.bytes_added,
        bytes_removed: delta.bytes_removed,
        chars_added: delta.chars_added,
        chars_removed: delta.chars_removed,
        links_added: saturating_u32(links_added),
        links_removed: saturating_u32(links_removed),
        refs_added: saturating_u32(refs_added),
        refs_removed: saturating_u32(refs_removed),
    }
}

/// `(|new − old|, |old − new|)` for two sorted multisets, by one merge walk.
fn multiset_difference(old: &[String], new: &[String]) -> (usize, usize) {
    let (mut i, mut j) = (0, 0);
    let (mut added, mut removed) = (0, 0);
    while i < old.len() && j < new.len() {
        match old[i].cmp(&new[j]) {
            std::cmp::Ordering::Less => {
                removed += 1;
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                added += 1;
                j += 1;
            }
            std::cmp::Ordering::Equal => {
                i += 1;
                j += 1;
            }
        }
    }
    (added + new.len() - j, removed + old.len() - i)
}

fn saturating_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// What MediaWiki's preprocessor takes out of the wikitext before links are parsed.
///
/// The preprocessor makes one left-to-right pass in which it recognises `<!-- comments -->`
/// and extension tags; the content of an extension tag is opaque to that pass (a comment or a
/// link inside `<nowiki>` is just text), and is replaced by a strip marker. Both the link and
/// the ref scanners need exactly that view, so they share this scanner.
pub(crate) mod markup {
    /// The extension tags we recognise: those whose content must not yield links or refs
    /// (nowiki, pre, syntaxhighlight, source, math), and the two that structure footnotes.
    pub(crate) const EXT_TAGS: [&str; 7] = [
        "nowiki",
        "pre",
        "syntaxhighlight",
        "source",
        "math",
        "ref",
        "references",
    ];

    /// One piece of wikitext, in order.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(crate) enum Piece<'a> {
        /// Text the parser sees as is (comments already taken out).
        Text(&'a str),
        /// An extension tag: its lowercase name, its attributes as written, and its raw
        /// content (`None` when self-closing).
        Tag {
            name: &'static str,
            attrs: &'a str,
            inner: Option<&'a str>,
        },
    }

    /// Calls `visit` with the pieces of `text`. Linear time: like MediaWiki, once a tag name
    /// has no closing tag left, later opening tags of that name are not searched again.
    pub(crate) fn scan<'a>(text: &'a str, mut visit: impl FnMut(Piece<'a>)) {
        let bytes = text.as_bytes();
        let mut no_close = [false; EXT_TAGS.len()];
        let mut flushed = 0; // start of the text not yet visited
        let mut i = 0;
        while let Some(off) = text[i..].find('<') {
            let lt = i + off;
            if bytes[lt..].starts_with(b"<!--") {
                if flushed < lt {
                    visit(Piece::Text(&text[flushed..lt]));
                }
                // An unclosed comment runs to the end of the text, as in MediaWiki.
                let end = text[lt + 4..]
                    .find("-->")
                    .map_or(text.len(), |e| lt + 4 + e + 3);
                flushed = end;
                i = end;
                continue;
            }
            let Some((tag, name_end)) = tag_name(bytes, lt + 1) else {
                i = lt + 1;
                continue;
            };
            let Some(gt) = text[name_end..].find('>').map(|g| name_end + g) else {
                // No '>' anywhere after: no tag or comment can be completed from here on.
                break;
            };
            let name = EXT_TAGS[tag];
            if bytes[gt - 1] == b'/' {
                if flushed < lt {
                    visit(Piece::Text(&text[flushed..lt]));
                }
                visit(Piece::Tag {
                    name,
                    attrs: &text[name_end..gt - 1],
                    inner: None,
                });
                flushed = gt + 1;
                i = gt + 1;
                continue;
            }
            match (!no_close[tag])
                .then(|| closing_tag(text, gt + 1, name))
                .flatten()
            {
                Some((close_start, close_end)) => {
                    if flushed < lt {
                        visit(Piece::Text(&text[flushed..lt]));
                    }
                    visit(Piece::Tag {
                        name,
                        attrs: &text[name_end..gt],
                        inner: Some(&text[gt + 1..close_start]),
                    });
                    flushed = close_end;
                    i = close_end;
                }
                None => {
                    // Without a closing tag the opening tag is literal text.
                    no_close[tag] = true;
                    i = gt + 1;
                }
            }
        }
        if flushed < text.len() {
            visit(Piece::Text(&text[flushed..]));
        }
    }

    /// The extension tag whose name starts at `start` (case-insensitive, followed by
    /// whitespace, `>` or `/>` as the preprocessor requires), and where its name ends.
    fn tag_name(bytes: &[u8], start: usize) -> Option<(usize, usize)> {
        let rest = &bytes[start..];
        EXT_TAGS.iter().enumerate().find_map(|(idx, name)| {
            let n = name.len();
            let matches = rest.len() > n
                && rest[..n].eq_ignore_ascii_case(name.as_bytes())
                && (rest[n].is_ascii_whitespace()
                    || rest[n] == b'>'
                    || rest[n..].starts_with(b"/>"));
            matches.then_some((idx, start + n))
        })
    }

    /// The first `</name\s*>` at or after `from`, case-insensitive: `(start, end)`.
    fn closing_tag(text: &str, from: usize, name: &str) -> Option<(usize, usize)> {
        let bytes = text.as_bytes();
        let mut i = from;
        while let Some(off) = text[i..].find("</") {
            let start = i + off;
            let name_end = start + 2 + name.len();
            if bytes.len() >= name_end
                && bytes[start + 2..name_end].eq_ignore_ascii_case(name.as_bytes())
            {
                let mut j = name_end;
                while j < bytes.len() && bytes[j].is_ascii_whitespace() {
                    j += 1;
                }
                if j < bytes.len() && bytes[j] == b'>' {
                    return Some((start, j + 1));
                }
            }
            i = start + 2;
        }
        None
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        fn pieces(text: &str) -> Vec<Piece<'_>> {
            let mut out = Vec::new();
            scan(text, |p| out.push(p));
            out
        }

        #[test]
        fn comments_and_tags() {
            assert_eq!(
                pieces("a<!-- x -->b<NoWiki>[[c]]</nowiki >d<ref name=x/>e"),
                vec![
                    Piece::Text("a"),
                    Piece::Text("b"),
                    Piece::Tag {
                        name: "nowiki",
                        attrs: "",
                        inner: Some("[[c]]")
                    },
                    Piece::Text("d"),
                    Piece::Tag {
                        name: "ref",
                        attrs: " name=x",
                        inner: None
                    },
                    Piece::Text("e"),
                ]
            );
        }

        #[test]
        fn unclosed_things() {
            assert_eq!(pieces("a<!-- never closed"), vec![Piece::Text("a")]);
            assert_eq!(pieces("a<nowiki>b"), vec![Piece::Text("a<nowiki>b")]);
            assert_eq!(pieces("a<ref"), vec![Piece::Text("a<ref")]);
            assert_eq!(
                pieces("<refs>x</refs>"),
                vec![Piece::Text("<refs>x</refs>")]
            );
            assert_eq!(
                pieces("<references>x</references>"),
                vec![Piece::Tag {
                    name: "references",
                    attrs: "",
                    inner: Some("x")
                }]
            );
        }

        #[test]
        fn tag_content_is_opaque() {
            // A comment opener inside <nowiki> does not start a comment.
            assert_eq!(
                pieces("<nowiki><!--</nowiki>x-->"),
                vec![
                    Piece::Tag {
                        name: "nowiki",
                        attrs: "",
                        inner: Some("<!--")
                    },
                    Piece::Text("x-->")
                ]
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An article no test text links to.
    fn article() -> Page {
        Page::new(0, "Test article")
    }

    #[test]
    fn compute_counts_everything() {
        let site = SiteInfo::english();
        let old = "Lisbon is in [[Portugal]].<ref>Atlas</ref> See [[Porto]].\n[[Category:Cities]]";
        let new = "Lisbon is the capital of [[Portugal]].<ref>Atlas</ref><ref>Census 2021</ref> \
                   See [[Braga]] and [[File:Map.png|thumb]].\n[[Category:Cities]]";
        let stats = compute(old, new, &article(), &site);
        assert_eq!((stats.links_added, stats.links_removed), (1, 1));
        assert_eq!((stats.refs_added, stats.refs_removed), (1, 0));
        assert_eq!(
            stats.bytes_added as i64 - stats.bytes_removed as i64,
            new.len() as i64 - old.len() as i64
        );
    }

    #[test]
    fn page_creation_counts_all_as_added() {
        let new = "New [[Page]] with a ref.<ref>Source</ref> and [[Another|link]].";
        let stats = compute("", new, &article(), &SiteInfo::english());
        assert_eq!(stats.bytes_added, new.len() as u64);
        assert_eq!(stats.chars_added, new.chars().count() as u64);
        assert_eq!((stats.bytes_removed, stats.chars_removed), (0, 0));
        assert_eq!(
            (stats.links_added, stats.links_removed, stats.refs_added),
            (2, 0, 1)
        );
    }

    #[test]
    fn refs_are_a_multiset() {
        assert_eq!(multiset_difference(&[], &[]), (0, 0));
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(
            multiset_difference(&s(&["a", "b", "b"]), &s(&["b", "c", "c"])),
            (2, 2)
        );
        let old = "<ref>A</ref><ref>A</ref>";
        let new = "<ref>A</ref>";
        let stats = compute(old, new, &article(), &SiteInfo::english());
        assert_eq!((stats.refs_added, stats.refs_removed), (0, 1));
    }

    /// Random markup soup, including multibyte text next to every delimiter: nothing may
    /// panic (every slice must land on a char boundary) and the text counts must balance.
    #[test]
    fn random_markup_never_panics() {
        const TOKENS: [&str; 30] = [
            "[[",
            "]]",
            "|",
            ":",
            "#",
            "_",
            " ",
            "\n",
            "\r\n",
            "<ref>",
            "</ref>",
            "<ref name=x/>",
            "<REF name=\"y\">",
            "<!--",
            "-->",
            "<nowiki>",
            "</nowiki>",
            "<references>",
            "</references>",
            "&amp;",
            "&#",
            "&#x",
            ";",
            "ação",
            "🙂",
            "日本",
            "Category:",
            "File:",
            "wikt:",
            "{{",
        ];
        let mut state: u64 = 0x2545_F491_4F6C_DD1D;
        let mut next = move |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
        let site = SiteInfo::english();
        for _ in 0..300 {
            let old: String = (0..next(80)).map(|_| TOKENS[next(TOKENS.len())]).collect();
            // Half the time an edit of `old` (the common case), else an unrelated text.
            let new: String = if next(2) == 0 {
                let at = (0..next(old.len() + 1))
                    .rev()
                    .find(|&i| old.is_char_boundary(i))
                    .unwrap_or(0);
                let insert: String = (0..next(6)).map(|_| TOKENS[next(TOKENS.len())]).collect();
                format!("{}{insert}{}", &old[..at], &old[at..])
            } else {
                (0..next(80)).map(|_| TOKENS[next(TOKENS.len())]).collect()
            };
            let (old, new) = (&old, &new);
            let stats = compute(old, new, &article(), &site);
            assert_eq!(
                stats.bytes_added as i64 - stats.bytes_removed as i64,
                new.len() as i64 - old.len() as i64
            );
            assert_eq!(
                stats.chars_added as i64 - stats.chars_removed as i64,
                new.chars().count() as i64 - old.chars().count() as i64
            );
        }
    }

    /// Our link and footnote extractors against MediaWiki's own parser: every case of the
    /// fixture holds a wikitext, the title it was parsed on, and what `action=parse` of a real
    /// MediaWiki answered (its `prop=links` list, and the footnotes in its `prop=text`),
    /// read with that wiki's own siteinfo. How they were captured:
    /// tests/fixtures/mediawiki/README.md.
    #[test]
    fn links_and_refs_match_mediawikis_parser() {
        let fixture: serde_json::Value = serde_json::from_str(include_str!(
            "../../../tests/fixtures/mediawiki/parser.json"
        ))
        .expect("the fixture is JSON");
        let site = SiteInfo::from_action_api(&fixture["siteinfo"]).expect("its siteinfo");
        let cases = fixture["cases"].as_array().expect("a list of cases");
        assert!(cases.len() >= 30, "{} cases", cases.len());
        let mut mismatches = Vec::new();
        for case in cases {
            let field = |name: &str| case[name].as_str().expect(name).to_owned();
            let (title, text) = (field("title"), field("wikitext"));
            let ns = match title.split_once(':').map(|(p, _)| site.prefix_kind(p)) {
                Some(siteinfo::PrefixKind::Namespace(ns)) => ns,
                _ => siteinfo::NS_MAIN,
            };
            let page = Page::new(ns, title.as_str());
            let mut ours: Vec<String> = links::internal_links(&text, &page, &site)
                .into_iter()
                .collect();
            ours.sort();
            let theirs: Vec<String> = serde_json::from_value(case["links"].clone()).expect("links");
            if ours != theirs {
                mismatches.push(format!(
                    "{title}: {text:?}\n  links: ours {ours:?}\n  parser's {theirs:?}"
                ));
            }
            let footnotes = refs::defined_refs(&text).len() as u64;
            let expected = case["footnotes"].as_u64().expect("footnotes");
            if footnotes != expected {
                mismatches.push(format!(
                    "{title}: {text:?}\n  footnotes: ours {footnotes}, Cite's {expected}"
                ));
            }
        }
        assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    }

    #[test]
    fn serializes_as_plain_fields() {
        let json = serde_json::to_value(EditStats {
            links_added: 2,
            ..EditStats::default()
        })
        .expect("serializable");
        assert_eq!(json["links_added"], 2);
        assert_eq!(json["bytes_added"], 0);
    }
}
