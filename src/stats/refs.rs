//! `<ref>` footnotes defined in wikitext.
//!
//! "Refs added" should count new citations, not new uses of an existing one: `<ref name=x/>`
//! only repeats footnote x, so only refs with content are counted. Footnotes are compared by
//! content, not by name, because renaming a ref or moving it does not add a citation, and two
//! identical citations are two footnotes (hence a multiset).

use super::markup::{self, Piece};

/// Normalised contents of the <ref> footnotes defined in a text (a multiset, as a sorted Vec).
pub fn defined_refs(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    collect(text, &mut out);
    out.sort_unstable();
    out
}

/// Adds the refs of `text` to `out`. List-defined refs live inside `<references>…</references>`
/// and are definitions too, so its content is scanned by recursion (bounded: the content of
/// `<references>` cannot contain `</references>`).
fn collect(text: &str, out: &mut Vec<String>) {
    markup::scan(text, |piece| match piece {
        Piece::Tag {
            name: "ref",
            inner: Some(inner),
        } => {
            let content = normalise(inner);
            // `<ref name="x"></ref>` is a reuse, like `<ref name="x"/>`.
            if !content.is_empty() {
                out.push(content);
            }
        }
        Piece::Tag {
            name: "references",
            inner: Some(inner),
        } => collect(inner, out),
        _ => {}
    });
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
            defined_refs("<ref name=n1 group=note>A note</ref>"),
            v(&["A note"])
        );
    }

    #[test]
    fn self_closing_reuse_not_counted() {
        assert_eq!(
            defined_refs("<ref name=x/> <ref name=\"x\" /> <ref name='y'/>"),
            v(&[])
        );
    }

    #[test]
    fn empty_content_is_a_reuse() {
        assert_eq!(
            defined_refs("<ref name=x></ref> <ref name=y>  \n </ref>"),
            v(&[])
        );
    }

    #[test]
    fn whitespace_normalised() {
        assert_eq!(
            defined_refs("<ref>\n  Smith   2020,\n p. 3 </ref>"),
            v(&["Smith 2020, p. 3"])
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
