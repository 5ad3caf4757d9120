//! `<ref>` footnotes defined in wikitext, as the Cite extension renders them.
//!
//! "Refs added" should count new citations, not new uses of an existing one: `<ref name=x/>`
//! only repeats footnote x, and a named ref defined again (`<ref name=x>…</ref>` twice) is
//! still the one footnote x, so each name counts once, with its first definition. Footnotes
//! are compared by content, not by name, because renaming a ref or moving it does not add a
//! citation, and two identical unnamed citations are two footnotes (hence a multiset).
//!
//! What Cite renders decides what counts: a ref it refuses (numeric name, unknown attribute,
//! no content and no name) is no footnote; a name only ever reused is one (an error note,
//! with empty content here); a definition in a `<references>` list counts only for a name
//! used before it; a group's notes count only where a `<references group=…>` lists them (the
//! default group's are listed at the end anyway).

use std::collections::hash_map::Entry;
use std::collections::HashMap;

use super::markup::{self, Piece};

/// Normalised contents of the <ref> footnotes defined in a text (a multiset, as a sorted Vec).
pub fn defined_refs(text: &str) -> Vec<String> {
    let mut refs = Footnotes::default();
    refs.collect(text, None);
    refs.list("");
    let mut out: Vec<String> = refs
        .notes
        .into_iter()
        .filter(|n| n.listed)
        .map(|n| n.content)
        .collect();
    out.sort_unstable();
    out
}

struct Note {
    group: String,
    /// Normalised; empty while the note's name has only been reused.
    content: String,
    /// A references list has rendered it.
    listed: bool,
}

#[derive(Default)]
struct Footnotes {
    notes: Vec<Note>,
    /// `(group, name)` to the note, until the group's list is rendered (then names start
    /// afresh, as in Cite).
    named: HashMap<(String, String), usize>,
}

impl Footnotes {
    /// Adds the refs of `text`, which is the content of a `<references group=…>` list when
    /// `list_group` is set. List-defined refs are scanned by recursion (bounded: the content
    /// of `<references>` cannot contain `</references>`).
    fn collect(&mut self, text: &str, list_group: Option<&str>) {
        markup::scan(text, |piece| match piece {
            Piece::Tag {
                name: "ref",
                attrs,
                inner,
            } => self.define(attrs, inner, list_group),
            Piece::Tag {
                name: "references",
                attrs,
                inner,
            } => {
                let group = RefAttrs::parse(attrs).group.unwrap_or_default();
                if let Some(inner) = inner {
                    self.collect(inner, Some(&group));
                }
                self.list(&group);
            }
            _ => {}
        });
    }

    fn define(&mut self, attrs: &str, inner: Option<&str>, list_group: Option<&str>) {
        let attrs = RefAttrs::parse(attrs);
        // An unknown attribute is Cite's "too many keys" error; a `follow` ref adds to
        // another note: neither is a note of its own.
        if attrs.unknown || attrs.follow {
            return;
        }
        let content = inner.map(normalise).unwrap_or_default();
        let group = attrs
            .group
            .or(list_group.map(str::to_owned))
            .unwrap_or_default();
        // `name=""` is no name; a numeric one is refused (it would clash with Cite's ids).
        let name = attrs.name.filter(|n| !n.is_empty());
        if name
            .as_deref()
            .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
        {
            return;
        }
        if let Some(list) = list_group {
            // In a list: only the content of a note used before, of the list's group.
            if let (Some(name), false, true) = (name, content.is_empty(), group == list) {
                if let Some(&i) = self.named.get(&(group, name)) {
                    fill(&mut self.notes[i], content);
                }
            }
            return;
        }
        match name {
            Some(name) => match self.named.entry((group.clone(), name)) {
                Entry::Occupied(e) => fill(&mut self.notes[*e.get()], content),
                Entry::Vacant(e) => {
                    e.insert(self.notes.len());
                    self.notes.push(Note {
                        group,
                        content,
                        listed: false,
                    });
                }
            },
            // Unnamed, it must have content.
            None if !content.is_empty() => self.notes.push(Note {
                group,
                content,
                listed: false,
            }),
            None => {}
        }
    }

    /// A references list for `group`: its notes so far are rendered, and its names free.
    fn list(&mut self, group: &str) {
        for note in self.notes.iter_mut().filter(|n| n.group == group) {
            note.listed = true;
        }
        self.named.retain(|(g, _), _| g != group);
    }
}

/// A note keeps its first definition.
fn fill(note: &mut Note, content: String) {
    if note.content.is_empty() {
        note.content = content;
    }
}

/// The attributes of a `<ref>` or `<references>` tag that decide which footnote it is.
#[derive(Default)]
struct RefAttrs {
    name: Option<String>,
    group: Option<String>,
    follow: bool,
    /// An attribute Cite does not know.
    unknown: bool,
}

impl RefAttrs {
    /// MediaWiki's attribute syntax (`Sanitizer::decodeTagAttributes`): names case-insensitive,
    /// values quoted with `"` or `'` or unquoted, trimmed, character references decoded.
    fn parse(attrs: &str) -> RefAttrs {
        let mut out = RefAttrs::default();
        let mut rest = attrs;
        loop {
            rest = rest.trim_start_matches(|c: char| c.is_ascii_whitespace() || c == '/');
            if rest.is_empty() {
                return out;
            }
            let end = rest
                .find(|c: char| c.is_ascii_whitespace() || c == '=' || c == '/')
                .unwrap_or(rest.len());
            let key = rest[..end].to_ascii_lowercase();
            rest = rest[end..].trim_start_matches(|c: char| c.is_ascii_whitespace());
            let mut value = "";
            if let Some(after) = rest.strip_prefix('=') {
                let after = after.trim_start_matches(|c: char| c.is_ascii_whitespace());
                let (v, r) = match after.chars().next() {
                    Some(q @ ('"' | '\'')) => match after[1..].find(q) {
                        Some(close) => (&after[1..1 + close], &after[close + 2..]),
                        None => (&after[1..], ""),
                    },
                    _ => {
                        let end = after
                            .find(|c: char| c.is_ascii_whitespace())
                            .unwrap_or(after.len());
                        after.split_at(end)
                    }
                };
                value = v;
                rest = r;
            }
            let value = super::links::decode_entities(value.trim()).into_owned();
            match key.as_str() {
                "name" => out.name = Some(value),
                "group" => out.group = Some(value),
                "follow" => out.follow = true,
                "extends" | "dir" | "details" => {}
                "" => {}
                _ => out.unknown = true,
            }
        }
    }
}

/// Trimmed, with every run of whitespace as one space, so that reflowing a citation does not
/// make it a different one.
fn normalise(content: &str) -> String {
    let mut out = String::with_capacity(content.len());
    for word in content.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn plain_ref() {
        assert_eq!(
            defined_refs("Fact.<ref>Smith 2020, p. 3.</ref>"),
            v(&["Smith 2020, p. 3."])
        );
    }

    #[test]
    fn named_ref_with_quoted_name() {
        assert_eq!(
            defined_refs("<ref name=\"smith\">Smith 2020</ref>"),
            v(&["Smith 2020"])
        );
    }

    #[test]
    fn named_ref_with_group_unquoted() {
        assert_eq!(
            defined_refs("<ref name=n1 group=note>A note</ref> <references group=note/>"),
            v(&["A note"])
        );
    }

    #[test]
    fn self_closing_reuse_not_counted() {
        assert_eq!(
            defined_refs("<ref name=x>A</ref> <ref name=x/> <ref name=\"x\" />"),
            v(&["A"])
        );
        // A name never defined is still a note, which Cite renders with an error.
        assert_eq!(
            defined_refs("<ref name=x/> <ref name=\"x\" /> <ref name='y'/>"),
            v(&["", ""])
        );
    }

    #[test]
    fn empty_content_is_a_reuse() {
        assert_eq!(
            defined_refs("<ref name=x></ref> <ref name=y>  \n </ref> <ref name=x>A</ref>"),
            v(&["", "A"])
        );
        // Unnamed and empty: refused by Cite.
        assert_eq!(defined_refs("<ref>  </ref> <ref/> <ref></ref>"), v(&[]));
    }

    #[test]
    fn whitespace_normalised() {
        assert_eq!(
            defined_refs("<ref>\n  Smith   2020,\n p. 3 </ref>"),
            v(&["Smith 2020, p. 3"])
        );
    }

    #[test]
    fn a_named_ref_defined_twice_is_one_footnote() {
        // Cite renders one footnote x, with its first definition, whatever the second says.
        assert_eq!(
            defined_refs("<ref name=x>A</ref> <ref name=\"x\">A</ref> <ref name='x'>B</ref>"),
            v(&["A"])
        );
        // Defined in the list after a reuse: still once.
        assert_eq!(
            defined_refs(
                "<ref name=x/><ref name=x>A</ref><references><ref name=x>A</ref></references>"
            ),
            v(&["A"])
        );
        // The same name in another group is another footnote; so is each unnamed ref.
        assert_eq!(
            defined_refs(
                "<ref name=x>A</ref><ref name=x group=n>A</ref><ref>A</ref><ref name=\"\">A</ref> \
                 <references group=n/>"
            ),
            v(&["A", "A", "A", "A"])
        );
        assert_eq!(
            defined_refs(
                "<ref name=x group=n>A</ref><references group=n><ref name=x>B</ref></references>"
            ),
            v(&["A"])
        );
    }

    #[test]
    fn refs_cite_refuses_are_no_footnotes() {
        assert_eq!(
            defined_refs("<ref name=1>Numeric</ref> <ref nmae=x>Typo</ref> <ref name=a>Ok</ref>"),
            v(&["Ok"])
        );
    }

    #[test]
    fn duplicates_kept_and_sorted() {
        assert_eq!(
            defined_refs("<ref>B</ref><ref>A</ref><ref>B</ref>"),
            v(&["A", "B", "B"])
        );
    }

    #[test]
    fn case_insensitive_tag() {
        assert_eq!(
            defined_refs("<REF>Upper</REF> <Ref name=a>Mixed</rEF >"),
            v(&["Mixed", "Upper"])
        );
    }

    #[test]
    fn comment_nowiki_pre_skipped() {
        let text = "<!-- <ref>In comment</ref> --> <nowiki><ref>In nowiki</ref></nowiki> \
                    <pre><ref>In pre</ref></pre> <math><ref>m</ref></math> <!-- <ref>unclosed";
        assert_eq!(defined_refs(text), v(&[]));
    }

    #[test]
    fn list_defined_refs_count() {
        let text = "x<ref name=a/> <references>\n<ref name=a>Defined in list</ref>\n</references>";
        assert_eq!(defined_refs(text), v(&["Defined in list"]));
        // Only for a name used before the list: Cite does not render an unused definition.
        let text = "x<ref>A</ref> <references><ref name=b>B</ref></references>";
        assert_eq!(defined_refs(text), v(&["A"]));
    }

    #[test]
    fn a_group_counts_where_it_is_listed() {
        assert_eq!(defined_refs("<ref group=n>A</ref>"), v(&[]));
        assert_eq!(
            defined_refs("<ref group=n>A</ref> <references group=n/> <ref group=n>B</ref>"),
            v(&["A"])
        );
        // After a list, a name starts a new note.
        assert_eq!(
            defined_refs("<ref name=x>A</ref> <references/> <ref name=x>A</ref>"),
            v(&["A", "A"])
        );
    }

    #[test]
    fn unclosed_ref_is_text() {
        assert_eq!(defined_refs("<ref>never closed"), v(&[]));
        assert_eq!(defined_refs("<references/> <refx>no</refx>"), v(&[]));
    }

    #[test]
    fn content_with_templates_and_links() {
        assert_eq!(
            defined_refs("<ref>{{cite web |url=https://x.org |title=[[X]]}}</ref>"),
            v(&["{{cite web |url=https://x.org |title=[[X]]}}"])
        );
    }
}
