//! Internal links written literally in wikitext, normalised the way MediaWiki names pages.
//!
//! The aim is the set of pages an edit links to, so that "links added" counts pages and not
//! spellings: `[[main_page]]`, `[[Main  page]]` and `[[Main page#History|see]]` are one link.
//! Things written with the same brackets that are not links to pages — file embeds, category
//! assignments, interwiki and interlanguage links, same-page anchors — are left out.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use unicode_normalization::UnicodeNormalization;

use super::markup::{self, Piece};
use super::siteinfo::{
    NamespaceCase, PrefixKind, SiteInfo, NS_CATEGORY, NS_FILE, NS_MAIN, NS_MEDIA,
};

/// Stands in for an extension tag's content, as MediaWiki's strip markers do: it is a control
/// character, so a "link" whose target contains a `<nowiki>` or a `<ref>` is invalid.
const STRIP_MARKER: char = '\u{7f}';

/// URL schemes that make `[[...]]` not an internal link (MediaWiki's `$wgUrlProtocols`, the
/// common part): `[[https://example.org]]` is a typo for an external link, not a page.
const URL_PROTOCOLS: [&str; 9] = [
    "//", "http://", "https://", "ftp://", "ftps://", "sftp://", "irc://", "ircs://", "mailto:",
];

/// Normalised internal link targets ("Main page", "Category:Foo", "File:X.jpg") of a text.
pub fn internal_links(text: &str, site: &SiteInfo) -> HashSet<String> {
    LinkTitles::of(text, site)
        .set()
        .into_iter()
        .map(str::to_owned)
        .collect()
}

/// The normalised link targets of a text, written one after another into one string.
///
/// Why not a `HashSet<String>` straight away: an article has hundreds to thousands of links
/// and `compute` runs on every edit, so one buffer instead of an allocation per link matters;
/// the set is then built over borrowed slices. (With `RandomState`, so that crafted titles
/// cannot make hashing quadratic.)
pub(crate) struct LinkTitles {
    arena: String,
    ends: Vec<usize>,
}

impl LinkTitles {
    pub(crate) fn of(text: &str, site: &SiteInfo) -> LinkTitles {
        let mut titles = LinkTitles {
            arena: String::new(),
            ends: Vec::new(),
        };
        titles.collect(text, site);
        titles
    }

    /// The distinct titles.
    pub(crate) fn set(&self) -> HashSet<&str> {
        self.iter().collect()
    }

    /// How many distinct titles `new` has that `old` has not, and the other way round. One
    /// map marking which side has each title: half the hashing of two sets and two
    /// differences.
    pub(crate) fn difference(old: &LinkTitles, new: &LinkTitles) -> (usize, usize) {
        const OLD: u8 = 1;
        const NEW: u8 = 2;
        let mut sides: HashMap<&str, u8> = HashMap::with_capacity(old.ends.len() + new.ends.len());
        for (titles, side) in [(old, OLD), (new, NEW)] {
            for title in titles.iter() {
                *sides.entry(title).or_default() |= side;
            }
        }
        let added = sides.values().filter(|&&s| s == NEW).count();
        let removed = sides.values().filter(|&&s| s == OLD).count();
        (added, removed)
    }

    fn iter(&self) -> impl Iterator<Item = &str> {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts
            .zip(&self.ends)
            .map(|(start, &end)| &self.arena[start..end])
    }

    /// Adds the links of `text`. Footnote content is wikitext of its own that MediaWiki parses
    /// separately, so links inside `<ref>`/`<references>` are collected by recursion; its
    /// depth is bounded because a tag's content cannot contain its own closing tag.
    fn collect(&mut self, text: &str, site: &SiteInfo) {
        let mut visible = String::with_capacity(text.len());
        markup::scan(text, |piece| match piece {
            Piece::Text(t) => visible.push_str(t),
            Piece::Tag { name, inner } => {
                visible.push(STRIP_MARKER);
                if let (Some(inner), "ref" | "references") = (inner, name) {
                    self.collect(inner, site);
                }
            }
        });
        for piece in link_pieces(&visible) {
            if let Some(target) = link_target(piece) {
                if push_title(&mut self.arena, target, site) {
                    self.ends.push(self.arena.len());
                }
            }
        }
    }
}

/// What MediaWiki tries as link insides: it splits the text on "[[" and drops the first part,
/// so a link ends before the next "[["; this is what makes `[[File:X|a [[B]] c]]` link to B.
/// Same as `text.split("[[").skip(1)`, but finding "[[" by its first byte is much faster.
fn link_pieces(text: &str) -> impl Iterator<Item = &str> {
    let bytes = text.as_bytes();
    let mut search_from = 0;
    let mut piece_start: Option<usize> = None;
    std::iter::from_fn(move || {
        while let Some(i) = text[search_from..].find('[').map(|i| search_from + i) {
            if bytes.get(i + 1) == Some(&b'[') {
                search_from = i + 2;
                if let Some(start) = piece_start.replace(i + 2) {
                    return Some(&text[start..i]);
                }
            } else {
                search_from = i + 1;
            }
        }
        search_from = text.len();
        piece_start.take().map(|start| &text[start..])
    })
}

/// The target of the link that `piece` (the text after "[[") starts with, if it is one:
/// MediaWiki's `^([title chars]+)(?:\|(.+?))?]]`.
fn link_target(piece: &str) -> Option<&str> {
    // The first non-title byte is ASCII, so `end` is on a char boundary.
    let end = piece
        .bytes()
        .position(|b| !is_title_byte(b))
        .unwrap_or(piece.len());
    let (target, rest) = piece.split_at(end);
    if target.is_empty() {
        return None;
    }
    if rest.starts_with("]]") {
        return Some(target);
    }
    // A label needs at least one character before its "]]".
    let label = rest.strip_prefix('|')?;
    let first = label.chars().next()?.len_utf8();
    label.as_bytes()[first..]
        .windows(2)
        .any(|w| w == b"]]")
        .then_some(target)
}

/// Bytes allowed in a link target: MediaWiki's legal title characters plus `#` and `%`, i.e.
/// anything but ASCII controls and `<>[]{}|` (MediaWiki's rule is on bytes too, and allows
/// every non-ASCII byte).
fn is_title_byte(b: u8) -> bool {
    !(b < 0x20 || b == 0x7f || matches!(b, b'<' | b'>' | b'[' | b']' | b'{' | b'}' | b'|'))
}

/// Appends to `out` the page a link target names, and says whether it did: not when the
/// target is not a countable internal link (invalid, same-page, interwiki, embed or category
/// assignment).
fn push_title(out: &mut String, target: &str, site: &SiteInfo) -> bool {
    // MediaWiki decides "leading colon" on the raw target, spaces trimmed.
    let raw = target.trim_start_matches(' ');
    let forced_link = raw.starts_with(':');
    let starts_with_ignore_case = |p: &str| {
        raw.as_bytes()
            .get(..p.len())
            .is_some_and(|b| b.eq_ignore_ascii_case(p.as_bytes()))
    };
    // Every protocol has a ':' in its first 8 bytes or starts with "//"; most targets have neither.
    let may_be_url = raw.starts_with("//") || raw.bytes().take(8).any(|b| b == b':');
    if may_be_url && URL_PROTOCOLS.iter().any(|p| starts_with_ignore_case(p)) {
        return false;
    }

    // As MediaWiki's parser: %-escapes first (titles pasted from URLs), then character
    // references; then the title parser drops directional marks and folds whitespace.
    let unescaped = percent_decode(target);
    let entities = decode_entities(&unescaped);
    let decoded = matches!(unescaped, Cow::Owned(_)) || matches!(entities, Cow::Owned(_));
    let unmarked = strip_directional_marks(&entities);
    let collapsed = collapse_whitespace(&unmarked);
    let mut title = match collapsed.strip_prefix(':') {
        Some(rest) => rest.trim_start_matches(' '),
        None => &collapsed,
    };

    // One namespace or interwiki prefix, spaces around its colon tolerated; a prefix naming
    // this wiki itself is dropped and the rest read again.
    let (ns, mut page) = loop {
        match split_once_byte(title, b':') {
            Some((prefix, rest)) if !prefix.is_empty() => {
                let prefix = prefix.trim_end_matches(' ');
                match site.prefix_kind(prefix) {
                    PrefixKind::Namespace(ns) => break (ns, rest.trim_start_matches(' ')),
                    PrefixKind::ThisWiki => title = rest.trim_start_matches(' '),
                    PrefixKind::Interwiki => return false,
                    PrefixKind::None => break (NS_MAIN, title),
                }
            }
            _ => break (NS_MAIN, title),
        }
    };

    if let Some((before, _fragment)) = split_once_byte(page, b'#') {
        page = before.trim_end_matches(' ');
    }
    // Empty: `[[#section]]` (same page) or `[[Category:]]` (invalid); neither is a link.
    // Only decoded entities can have brought in bytes that the raw target could not have.
    let decoded_invalid = decoded && !page.bytes().all(is_title_byte);
    let replacement_char = page
        .as_bytes()
        .windows(3)
        .any(|w| w == "\u{fffd}".as_bytes());
    if page.is_empty() || page.starts_with(':') || decoded_invalid || replacement_char {
        return false;
    }
    match ns {
        NS_MEDIA => return false,
        NS_FILE | NS_CATEGORY if !forced_link => return false,
        _ => {}
    }

    if ns != NS_MAIN {
        out.push_str(site.namespace_name(ns));
        out.push(':');
    }
    match site.namespace_case(ns) {
        NamespaceCase::FirstLetter => push_ucfirst(out, page),
        NamespaceCase::CaseSensitive => out.push_str(page),
    }
    true
}

/// `str::split_once` for an ASCII byte. Titles are short, and a plain loop beats the
/// general searcher's setup; this runs a few times for every link of every revision.
fn split_once_byte(s: &str, byte: u8) -> Option<(&str, &str)> {
    let i = s.bytes().position(|b| b == byte)?;
    Some((&s[..i], &s[i + 1..]))
}

/// Appends `page` with its first letter upper-cased. A letter whose upper case is several
/// characters (ß → SS) is kept as is, as Wikimedia wikis configure MediaWiki to do.
fn push_ucfirst(out: &mut String, page: &str) {
    let mut chars = page.chars();
    if let Some(first) = chars.next() {
        let mut upper = first.to_uppercase();
        match (upper.next(), upper.next()) {
            (Some(u), None) => out.push(u),
            _ => out.push(first),
        }
    }
    out.push_str(chars.as_str());
}

/// `_` as space, runs of (Unicode) spaces as one space, trimmed — MediaWiki's title
/// whitespace rule, which includes the no-break space that `&nbsp;` decodes to. Most targets
/// are already in this form and are returned as they are, without allocating.
fn collapse_whitespace(s: &str) -> Cow<'_, str> {
    let mut prev_space = true; // so that a leading space needs work
    let mut clean = true;
    for c in s.chars() {
        let space = is_title_space(c);
        if space && (prev_space || c != ' ') {
            clean = false;
            break;
        }
        prev_space = space;
    }
    if clean && !prev_space {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut pending_space = false;
    for c in s.chars() {
        if is_title_space(c) {
            pending_space = !out.is_empty();
        } else {
            if pending_space {
                out.push(' ');
                pending_space = false;
            }
            out.push(c);
        }
    }
    Cow::Owned(out)
}

fn is_title_space(c: char) -> bool {
    matches!(
        c,
        ' ' | '_' | '\u{a0}' | '\u{1680}' | '\u{180e}' | '\u{2000}'
            ..='\u{200a}' | '\u{2028}' | '\u{2029}' | '\u{202f}' | '\u{205f}' | '\u{3000}'
    )
}

/// `%XX` escapes decoded, as MediaWiki's parser does (`rawurldecode`) for any link target
/// with a `%`. Bytes that do not form UTF-8 become U+FFFD, which no title may hold.
fn percent_decode(s: &str) -> Cow<'_, str> {
    if !s.contains('%') {
        return Cow::Borrowed(s);
    }
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match (
            bytes[i],
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(hi), Some(lo)) => {
                out.push(hi << 4 | lo);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

/// Without the directional marks (U+200E, U+200F, U+202A–U+202E) that MediaWiki's title
/// parser removes: `[[Foo\u{200E}]]` links to Foo.
fn strip_directional_marks(s: &str) -> Cow<'_, str> {
    // Every mark is encoded E2 80 xx: most targets have no 0xE2 byte at all.
    let mark = |c: char| matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}');
    if !s.as_bytes().contains(&0xE2) || !s.chars().any(mark) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(s.chars().filter(|&c| !mark(c)).collect())
}

/// Decodes every character reference as MediaWiki's `Sanitizer::decodeCharReferences` does
/// when it reads a title: `&name;` for every HTML5 named entity (case-sensitive), `&#65;` and
/// `&#x41;`; a reference needs its `;`, an unknown name is kept as written (`&` is legal in
/// titles), and a number that is no valid character becomes U+FFFD, which no title may hold.
/// Then, as MediaWiki does once anything matched, the result is NFC-normalised: `e&#x301;`
/// names the same page as `é`.
fn decode_entities(s: &str) -> Cow<'_, str> {
    if !s.bytes().any(|b| b == b'&') {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let len = decode_one(rest, &mut out).unwrap_or_else(|| {
            out.push('&');
            1
        });
        rest = &rest[len..];
    }
    out.push_str(rest);
    if unicode_normalization::is_nfc(&out) {
        Cow::Owned(out)
    } else {
        Cow::Owned(out.nfc().collect())
    }
}

/// MediaWiki's own names for a named reference, besides the HTML5 list (`Sanitizer`'s
/// `MW_ENTITY_ALIASES`): right-to-left marks spelled in Hebrew and Arabic.
const MW_ENTITY_ALIASES: [(&str, &str); 2] = [
    ("\u{5e8}\u{5dc}\u{5de}", "rlm"),
    ("\u{631}\u{644}\u{645}", "rlm"),
];

/// If `s` starts with a character reference (MediaWiki's `CHAR_REFS_REGEX`:
/// `&[A-Za-z0-9\x80-\xff]+;`, `&#[0-9]+;` or `&#[xX][0-9A-Fa-f]+;`), appends what it stands
/// for to `out` and returns its length.
fn decode_one(s: &str, out: &mut String) -> Option<usize> {
    let body = s.strip_prefix('&')?;
    let end = body.bytes().position(|b| b == b';')?;
    let name = &body[..end];
    let len = 1 + end + 1;
    if let Some(num) = name.strip_prefix('#') {
        let (digits, radix) = match num.strip_prefix(['x', 'X']) {
            Some(hex) if !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()) => (hex, 16),
            _ if !num.is_empty() && num.bytes().all(|b| b.is_ascii_digit()) => (num, 10),
            _ => return None,
        };
        // Too big for a u32 is too big for a character: MediaWiki's number saturates and
        // fails the same test.
        let code = u32::from_str_radix(digits, radix).unwrap_or(u32::MAX);
        out.push(valid_reference(code).unwrap_or('\u{fffd}'));
        return Some(len);
    }
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b >= 0x80) {
        return None;
    }
    let name = MW_ENTITY_ALIASES
        .iter()
        .find(|(alias, _)| *alias == name)
        .map_or(name, |&(_, html)| html);
    let table = &html_escape::NAMED_ENTITIES;
    match table.binary_search_by(|&(n, _)| n.cmp(name.as_bytes())) {
        Ok(i) => out.push_str(table[i].1),
        // Unknown: kept as written.
        Err(_) => out.push_str(&s[..len]),
    }
    Some(len)
}

/// The character a numeric reference may stand for (`Sanitizer::validateCodepoint`): no
/// controls but tab and newline, no surrogates, nothing past U+10FFFF, no U+FFFE/U+FFFF.
fn valid_reference(code: u32) -> Option<char> {
    let valid = matches!(code, 0x09 | 0x0a | 0x20..=0x7e | 0xa0..=0xd7ff | 0xe000..=0xfffd | 0x10000..=0x10ffff);
    valid.then(|| char::from_u32(code)).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn en(text: &str) -> Vec<String> {
        sorted(internal_links(text, &SiteInfo::english()))
    }

    fn pt(text: &str) -> Vec<String> {
        sorted(internal_links(text, &portuguese()))
    }

    fn sorted(set: HashSet<String>) -> Vec<String> {
        let mut v: Vec<String> = set.into_iter().collect();
        v.sort();
        v
    }

    /// A Portuguese Wikipedia-like siteinfo, abridged from a real answer.
    fn portuguese() -> SiteInfo {
        let json = serde_json::json!({"batchcomplete": true, "query": {
            "general": {"lang": "pt", "case": "first-letter"},
            "namespaces": {
                "-2": {"id": -2, "case": "first-letter", "name": "Multimédia", "canonical": "Media", "subpages": false, "content": false, "nonincludable": false},
                "-1": {"id": -1, "case": "first-letter", "name": "Especial", "canonical": "Special"},
                "0": {"id": 0, "case": "first-letter", "name": "", "subpages": false, "content": true, "nonincludable": false},
                "1": {"id": 1, "case": "first-letter", "name": "Discussão", "canonical": "Talk"},
                "4": {"id": 4, "case": "first-letter", "name": "Wikipédia", "canonical": "Project"},
                "6": {"id": 6, "case": "first-letter", "name": "Ficheiro", "canonical": "File"},
                "10": {"id": 10, "case": "first-letter", "name": "Predefinição", "canonical": "Template"},
                "14": {"id": 14, "case": "first-letter", "name": "Categoria", "canonical": "Category"},
                "100": {"id": 100, "case": "case-sensitive", "name": "Portal", "canonical": "Portal"}
            },
            "namespacealiases": [{"id": 6, "alias": "Imagem"}, {"id": 6, "alias": "Image"}, {"id": 4, "alias": "WP"}],
            "interwikimap": [
                {"prefix": "en", "local": true, "language": "English", "url": "https://en.wikipedia.org/wiki/$1", "protorel": false},
                {"prefix": "wikt", "local": true, "url": "https://pt.wiktionary.org/wiki/$1"},
                {"prefix": "pt", "local": true, "localinterwiki": true, "language": "português", "url": "https://pt.wikipedia.org/wiki/$1"}
            ]
        }});
        SiteInfo::from_action_api(&json).expect("valid siteinfo")
    }

    fn v(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn plain_link() {
        assert_eq!(en("see [[Main Page]] now"), v(&["Main Page"]));
        assert_eq!(pt("ver [[Lisboa]] agora"), v(&["Lisboa"]));
    }

    #[test]
    fn piped_link_label_ignored() {
        assert_eq!(
            en("[[Lisbon|the capital]] and [[Lisbon|Lisboa]]"),
            v(&["Lisbon"])
        );
        // A pipe needs a label: `[[A|]]` is the pipe trick, expanded on save, never stored.
        assert_eq!(en("[[A|]]"), v(&[]));
    }

    #[test]
    fn underscores_and_whitespace_collapse() {
        assert_eq!(
            en("[[main_page]] [[ Main   page ]] [[Main__page]]"),
            v(&["Main page"])
        );
        // Underscores and spaces around the namespace colon, in any case.
        assert_eq!(
            en("[[user_:_bob_smith]] [[USER : Bob smith]]"),
            v(&["User:Bob smith"])
        );
        assert_eq!(
            pt("[[imagem_:_x.png]] [[:imagem_:_x.png]]"),
            v(&["Ficheiro:X.png"])
        );
    }

    #[test]
    fn first_letter_uppercased() {
        assert_eq!(en("[[éclair]] [[ßtraße]]"), v(&["Éclair", "ßtraße"]));
        assert_eq!(en("[[user:bob]]"), v(&["User:Bob"]));
    }

    #[test]
    fn case_sensitive_namespace_keeps_case() {
        assert_eq!(pt("[[portal:ciência]]"), v(&["Portal:ciência"]));
    }

    #[test]
    fn fragment_dropped() {
        assert_eq!(en("[[Lisbon#History|history]] [[Lisbon]]"), v(&["Lisbon"]));
        assert_eq!(
            pt("[[Lisboa#História]] [[:Categoria:Cidades#Topo]]"),
            v(&["Categoria:Cidades", "Lisboa"])
        );
    }

    #[test]
    fn same_page_fragment_not_counted() {
        assert_eq!(en("[[#History]] [[ #Other|x]]"), v(&[]));
        assert_eq!(pt("[[#História|ver abaixo]]"), v(&[]));
    }

    #[test]
    fn colon_category_and_file_are_links() {
        assert_eq!(
            en("[[:Category:Cities]] [[:File:Map.png]] [[ :Image:Map.png|map]]"),
            v(&["Category:Cities", "File:Map.png"])
        );
        assert_eq!(
            pt("[[:Categoria:Cidades]] [[:Imagem:X.png]]"),
            v(&["Categoria:Cidades", "Ficheiro:X.png"])
        );
    }

    #[test]
    fn file_embeds_not_counted() {
        assert_eq!(
            en("[[File:X.jpg|thumb|A map]] [[Image:Y.png]] [[image : z.png|x]]"),
            v(&[])
        );
        assert_eq!(
            pt("[[Ficheiro:X.jpg|thumb]] [[Imagem:Y.png]] [[File:Z.png]]"),
            v(&[])
        );
    }

    #[test]
    fn media_links_not_counted() {
        assert_eq!(en("[[Media:Sound.ogg]] [[:Media:Sound.ogg]]"), v(&[]));
        assert_eq!(pt("[[Multimédia:Som.ogg]] [[media:Som.ogg]]"), v(&[]));
    }

    #[test]
    fn category_assignments_not_counted() {
        assert_eq!(
            en("[[Category:Cities|Lisbon]] [[category:Capitals]]"),
            v(&[])
        );
        assert_eq!(pt("[[Categoria:Cidades]] [[Category:Capitais]]"), v(&[]));
    }

    #[test]
    fn interwiki_and_interlanguage_not_counted() {
        assert_eq!(
            en("[[wikt:foo]] [[:en:Foo]] [[de:Lissabon]] [[Commons:Lisbon]] [[:m:Meta]]"),
            v(&[])
        );
        assert_eq!(pt("[[wikt:casa]] [[:en:House]] [[EN:House]]"), v(&[]));
        // Not an interwiki on this wiki: an ordinary page with a colon in its name.
        assert_eq!(pt("[[de:Lissabon]]"), v(&["De:Lissabon"]));
    }

    #[test]
    fn the_wikis_own_prefix_is_a_local_link() {
        // pt.wikipedia's interwiki map marks `pt` as itself: the prefix is dropped.
        assert_eq!(
            pt("[[pt:Lisboa]] [[:pt:Porto]] [[pt:Predefinição:Info]]"),
            v(&["Lisboa", "Porto", "Predefinição:Info"])
        );
        // What follows it is read again: a category assignment stays one.
        assert_eq!(pt("[[pt:Categoria:Cidades]]"), v(&[]));
    }

    #[test]
    fn percent_escapes_are_decoded_as_mediawiki_does() {
        assert_eq!(pt("[[S%C3%A3o_Paulo]]"), v(&["São Paulo"]));
        // Not an escape: kept as written.
        assert_eq!(pt("[[100%]] [[50%x]]"), v(&["100%", "50%x"]));
        // Escapes that decode to characters no title may hold, or to broken UTF-8: no link.
        assert_eq!(pt("[[A%3CB]] [[A%5BB]] [[X%C3]]"), v(&[]));
    }

    #[test]
    fn directional_marks_are_dropped() {
        assert_eq!(
            pt("[[Lisboa\u{200E}]] [[\u{202B}Porto]]"),
            v(&["Lisboa", "Porto"])
        );
    }

    #[test]
    fn namespace_aliases_resolve_to_local_name() {
        assert_eq!(
            en("[[Project:About]] [[WP:NPOV]] [[wikipedia talk:x]]"),
            v(&["Wikipedia talk:X", "Wikipedia:About", "Wikipedia:NPOV"])
        );
        assert_eq!(
            pt("[[Project:Sobre]] [[WP:Sobre]] [[template:Info]] [[Discussão : x]]"),
            v(&["Discussão:X", "Predefinição:Info", "Wikipédia:Sobre"])
        );
    }

    #[test]
    fn unknown_prefix_is_part_of_the_name() {
        assert_eq!(en("[[Star Wars: Episode I]]"), v(&["Star Wars: Episode I"]));
    }

    #[test]
    fn entities_decoded() {
        assert_eq!(
            en("[[AT&amp;T]] [[AT&T]] [[Rock&nbsp;music]] [[Rock music]] [[&quot;Q&quot;]] [[It&#39;s]] [[&#x41;B]]"),
            v(&["\"Q\"", "AB", "AT&T", "It's", "Rock music"])
        );
        // Not references, so "#" starts a fragment, as in MediaWiki.
        assert_eq!(en("[[A&lt;B]] [[&#+65;B]] [[&#;]]"), v(&["&"]));
        // Every HTML5 named reference, as MediaWiki's Sanitizer decodes them.
        assert_eq!(
            pt("[[Ci&ecirc;ncia]] [[Ci&#234;ncia]] [[Caf&eacute;]] [[&Eacute;vora]] [[&NotEqualTilde;]]"),
            v(&["Café", "Ciência", "Évora", "\u{2242}\u{338}"])
        );
    }

    #[test]
    fn entity_edge_cases_as_mediawiki() {
        // Without ";" or with an unknown (or wrongly cased) name: kept as written.
        assert_eq!(
            en("[[Caf&eacute]] [[A&nosuch;B]] [[&EACUTE;]]"),
            v(&["&EACUTE;", "A&nosuch;B", "Caf&eacute"])
        );
        // Numbers that are no valid character decode to U+FFFD: no title.
        assert_eq!(
            en("[[A&#0;B]] [[A&#x110000;]] [[A&#99999999999;]] [[A&#xD800;]]"),
            v(&[])
        );
        // Leading zeros are fine; the result is NFC: "e" + combining acute is "é".
        assert_eq!(en("[[&#0000066;]] [[e&#x301;t&#xE9;]]"), v(&["B", "Été"]));
        // MediaWiki's own Hebrew spelling of &rlm;, a directional mark, dropped from titles.
        assert_eq!(en("[[A&\u{5e8}\u{5dc}\u{5de};]]"), v(&["A"]));
    }

    #[test]
    fn invalid_titles_ignored() {
        assert_eq!(
            en("[[A{B}]] [[A<b>]] [[ ]] [[Category:]] [[::Foo]] [[{{PAGENAME}}]]"),
            v(&[])
        );
        assert_eq!(
            en("[[Foo\nBar]] [[https://example.org]] [[//example.org|x]]"),
            v(&[])
        );
    }

    #[test]
    fn unclosed_and_nested_brackets() {
        assert_eq!(en("[[Foo [[Bar]]"), v(&["Bar"]));
        assert_eq!(en("[[Foo|bar [[Baz]] qux]] [[Unclosed"), v(&["Baz"]));
        assert_eq!(
            en("[[File:X.jpg|thumb|A [[Caption link]] here]]"),
            v(&["Caption link"])
        );
    }

    #[test]
    fn template_arguments_count_but_templates_not_expanded() {
        assert_eq!(
            en("{{Infobox|capital=[[Lisbon]]}} {{Main|Porto}}"),
            v(&["Lisbon"])
        );
    }

    #[test]
    fn links_in_refs_count() {
        assert_eq!(
            en("x<ref>See [[Porto]].</ref> <references><ref name=a>[[Braga]]</ref></references>"),
            v(&["Braga", "Porto"])
        );
    }

    #[test]
    fn nowiki_comment_pre_code_math_skipped() {
        let text = "<nowiki>[[A]]</nowiki> <!-- [[B]] --> <pre>[[C]]</pre> \
                    <syntaxhighlight lang=\"text\">[[D]]</syntaxhighlight> <SOURCE>[[E]]</source> \
                    <math>[[F]]</math> <!-- unclosed [[G]]";
        assert_eq!(en(text), v(&[]));
        assert_eq!(pt(text), v(&[]));
        assert_eq!(
            en("[[Foo<nowiki>bar</nowiki>]] [[X<!-- c -->Y]]"),
            v(&["XY"])
        );
    }

    #[test]
    fn invalid_titles_ignored_pt() {
        assert_eq!(
            pt("[[Categoria:]] [[Ficheiro: ]] [[A|B]]] [[{{PAGENAME}}|x]]"),
            v(&["A"])
        );
    }

    #[test]
    fn link_pieces_split_like_mediawiki() {
        let mut state: u64 = 0x1234_5678_9ABC_DEF1;
        let parts = ["[", "[[", "[[[", "]]", "a", "ç", "🙂", " "];
        for _ in 0..500 {
            let text: String = (0..(state % 20))
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    parts[(state % parts.len() as u64) as usize]
                })
                .collect();
            let expected: Vec<&str> = text.split("[[").skip(1).collect();
            assert_eq!(link_pieces(&text).collect::<Vec<_>>(), expected, "{text:?}");
        }
    }

    #[test]
    fn special_pages_count() {
        // Not excluded by the rules: a link to a special page is an internal link.
        assert_eq!(
            en("[[Special:RecentChanges]]"),
            v(&["Special:RecentChanges"])
        );
    }
}
