//! Internal links written literally in wikitext, normalised the way MediaWiki names pages.
//!
//! The aim is the set of pages an edit links to, so that "links added" counts pages and not
//! spellings: `[[main_page]]`, `[[Main  page]]` and `[[Main page#History|see]]` are one link.
//! Things written with the same brackets that are not recorded as links by MediaWiki's parser
//! — file embeds (but their `link=` target is), category assignments, special pages, interwiki
//! and interlanguage links, same-page anchors, a link to the page itself — are left out, and
//! relative links (`[[/Sub]]`, `[[../Sibling]]`) are read against the page, as the parser
//! does.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use unicode_normalization::UnicodeNormalization;

use super::markup::{self, Piece};
use super::siteinfo::{
    NamespaceCase, PrefixKind, SiteInfo, NS_CATEGORY, NS_FILE, NS_MAIN, NS_MEDIA, NS_SPECIAL,
};
use super::Page;

/// Stands in for an extension tag's content, as MediaWiki's strip markers do: it is a control
/// character, so a "link" whose target contains a `<nowiki>` or a `<ref>` is invalid.
const STRIP_MARKER: char = '\u{7f}';

/// URL schemes that make `[[...]]` not an internal link (MediaWiki's `$wgUrlProtocols`, the
/// common part): `[[https://example.org]]` is a typo for an external link, not a page.
const URL_PROTOCOLS: [&str; 9] = [
    "//", "http://", "https://", "ftp://", "ftps://", "sftp://", "irc://", "ircs://", "mailto:",
];

/// Normalised internal link targets ("Main page", "Category:Foo", "File:X.jpg") of a text on
/// `page`.
pub fn internal_links(text: &str, page: &Page, site: &SiteInfo) -> HashSet<String> {
    LinkTitles::of(text, page, site)
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
    pub(crate) fn of(text: &str, page: &Page, site: &SiteInfo) -> LinkTitles {
        let mut titles = LinkTitles {
            arena: String::new(),
            ends: Vec::new(),
        };
        titles.collect(text, page, site);
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
    fn collect(&mut self, text: &str, page: &Page, site: &SiteInfo) {
        let mut visible = String::with_capacity(text.len());
        markup::scan(text, |piece| match piece {
            Piece::Text(t) => visible.push_str(t),
            Piece::Tag { name, inner, .. } => {
                visible.push(STRIP_MARKER);
                if let (Some(inner), "ref" | "references") = (inner, name) {
                    self.collect(inner, page, site);
                }
            }
        });
        let pieces: Vec<&str> = link_pieces(&visible).collect();
        for (i, piece) in pieces.iter().enumerate() {
            let Some(link) = link_target(piece) else {
                continue;
            };
            let start = self.arena.len();
            match push_link(&mut self.arena, link.target, page, site) {
                Target::Link if link.closed => self.ends.push(self.arena.len()),
                Target::Link => self.arena.truncate(start),
                Target::FileEmbed => {
                    if let Some(options) = file_options(&link, &pieces[i + 1..]) {
                        self.push_file_link_targets(&options, site);
                    }
                }
                Target::Other => {}
            }
        }
    }

    /// The `link=` targets among a file embed's options: the parser records each as a link
    /// (`[[File:X.png|link=Lisbon]]` links to Lisbon), special pages and other wikis aside.
    fn push_file_link_targets(&mut self, options: &str, site: &SiteInfo) {
        for part in options.split('|') {
            // MediaWiki's `img_link` magic word, "link=$1", is case-sensitive.
            if let Some(value) = php_trim(part).strip_prefix("link=") {
                if push_link_parameter(&mut self.arena, value, site) {
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

/// A piece that starts like a link.
struct LinkPiece<'a> {
    target: &'a str,
    /// What follows the first `|` up to the closing `]]` (or to the piece's end when unclosed).
    options: Option<&'a str>,
    /// Whether the piece has the closing `]]`; an unclosed one is only a link if it is a
    /// file embed whose caption has links (`[[File:X|a [[B]] c]]`), closed in a later piece.
    closed: bool,
}

/// The link that `piece` (the text after "[[") starts with, if it is one: MediaWiki's
/// `^([title chars]+)(?:\|(.+?))?]]` or, unclosed, `^([title chars]+)\|(.*)`.
fn link_target(piece: &str) -> Option<LinkPiece<'_>> {
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
        return Some(LinkPiece {
            target,
            options: None,
            closed: true,
        });
    }
    // A label needs at least one character before its "]]".
    let label = rest.strip_prefix('|')?;
    let first = label.chars().next()?.len_utf8();
    let close = label.as_bytes()[first..]
        .windows(2)
        .position(|w| w == b"]]")
        .map(|p| first + p);
    Some(LinkPiece {
        target,
        options: Some(close.map_or(label, |c| &label[..c])),
        closed: close.is_some(),
    })
}

/// A file embed's options text, as MediaWiki reads it: when the first piece is not closed,
/// its caption has links, and the embed closes at the first later piece with two `]]` (the
/// inner link's and its own). Inner links are only a strip marker here: they are counted as
/// pieces of their own, and a `|` inside them must not split the options. `None` when the
/// embed never closes (then MediaWiki prints it as text).
fn file_options<'a>(link: &LinkPiece<'a>, later: &[&'a str]) -> Option<Cow<'a, str>> {
    let options = link.options?;
    if link.closed {
        return Some(Cow::Borrowed(options));
    }
    let mut merged = options.to_owned();
    for next in later {
        let mut parts = next.splitn(3, "]]");
        let (_inner, after, trail) = (parts.next(), parts.next(), parts.next());
        let after = after?;
        merged.push(STRIP_MARKER);
        merged.push_str(after);
        if trail.is_some() {
            return Some(Cow::Owned(merged));
        }
    }
    None
}

/// Bytes allowed in a link target: MediaWiki's legal title characters plus `#` and `%`, i.e.
/// anything but ASCII controls and `<>[]{}|` (MediaWiki's rule is on bytes too, and allows
/// every non-ASCII byte).
fn is_title_byte(b: u8) -> bool {
    !(b < 0x20 || b == 0x7f || matches!(b, b'<' | b'>' | b'[' | b']' | b'{' | b'}' | b'|'))
}

/// What a link's target named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    /// A page the parser records: appended.
    Link,
    /// A file embed (`[[File:X.png|...]]`): not a link itself, but its `link=` option may be.
    FileEmbed,
    /// Anything else: invalid, same page, special page, another wiki, category assignment,
    /// media link.
    Other,
}

/// Appends to `out` the page a `[[link]]`'s target names, and says what it was; only a
/// [`Target::Link`] leaves anything in `out`. The steps and their order are those of
/// MediaWiki's `Parser::handleInternalLinks2`.
fn push_link(out: &mut String, target: &str, page: &Page, site: &SiteInfo) -> Target {
    // %-escapes first (titles pasted from URLs); then, on the target with leading spaces
    // trimmed, the URL check, the leading colon and relative links.
    let unescaped = percent_decode(target);
    let orig = unescaped.trim_start_matches(' ');
    if is_url(orig) {
        return Target::Other;
    }
    let forced_link = orig.starts_with(':');
    let resolved = if site.has_subpages(page.ns) {
        resolve_subpage_link(&page.title, orig)
    } else {
        Cow::Borrowed(orig)
    };
    let start = out.len();
    let decoded = matches!(unescaped, Cow::Owned(_));
    let Some(title) = push_title(out, &resolved, decoded, site) else {
        return Target::Other;
    };
    let as_link = forced_link || title.local_interwiki;
    let outcome = match title.ns {
        NS_MEDIA | NS_SPECIAL => Target::Other,
        NS_FILE if !as_link => Target::FileEmbed,
        NS_CATEGORY if !as_link => Target::Other,
        // A link to the page itself without a fragment is rendered bold, not recorded.
        _ if !title.has_fragment && out[start..] == page.title => Target::Other,
        _ => Target::Link,
    };
    if outcome != Target::Link {
        out.truncate(start);
    }
    outcome
}

/// Appends to `out` the page a file's `link=` option names, and says whether it did. As
/// MediaWiki's `Parser::parseLinkParameter`: a URL is an external link; anything else is
/// read as a title (no relative links, a leading colon only dropped) and recorded whatever
/// its namespace, even the page itself, but for special pages and other wikis; a `Media:`
/// title is recorded as the file's page.
fn push_link_parameter(out: &mut String, value: &str, site: &SiteInfo) -> bool {
    let value = php_trim(value);
    if value.is_empty() || is_url(value) {
        return false;
    }
    let unescaped = percent_decode(value);
    let start = out.len();
    let decoded = matches!(unescaped, Cow::Owned(_));
    match push_title(out, &unescaped, decoded, site).map(|t| t.ns) {
        Some(NS_SPECIAL) | None => {
            out.truncate(start);
            false
        }
        Some(NS_MEDIA) => {
            let name = site.namespace_name(NS_MEDIA);
            let page = out[start + name.len() + 1..].to_owned();
            out.truncate(start);
            out.push_str(site.namespace_name(NS_FILE));
            out.push(':');
            out.push_str(&page);
            true
        }
        Some(_) => true,
    }
}

/// Whether a target starts with a URL scheme: `[[https://example.org]]` is a typo for an
/// external link, not a page.
fn is_url(target: &str) -> bool {
    let starts_with_ignore_case = |p: &str| {
        target
            .as_bytes()
            .get(..p.len())
            .is_some_and(|b| b.eq_ignore_ascii_case(p.as_bytes()))
    };
    // Every protocol has a ':' in its first 8 bytes or starts with "//"; most targets have neither.
    let may_be_url = target.starts_with("//") || target.bytes().take(8).any(|b| b == b':');
    may_be_url && URL_PROTOCOLS.iter().any(|p| starts_with_ignore_case(p))
}

/// PHP's `trim`: the characters it strips by default, which are not Rust's whitespace.
fn php_trim(s: &str) -> &str {
    s.trim_matches([' ', '\t', '\n', '\r', '\0', '\u{b}'])
}

/// A relative link made absolute, as MediaWiki's `Linker::normalizeSubpageLink` does on a
/// page of a namespace with subpages (the caller checks that): `[[/Sub]]` and `[[/Sub/]]` are
/// the page's subpage, each `../` goes one level up (never above the top page: then the
/// target is kept as written, and `../` makes it an invalid title). A fragment is kept.
/// Anything else is returned as it is.
fn resolve_subpage_link<'a>(page_title: &str, target: &'a str) -> Cow<'a, str> {
    let (path, fragment) = match target.find('#') {
        Some(hash) => target.split_at(hash),
        None => (target, ""),
    };
    let path = php_trim(path);
    if let Some(sub) = path.strip_prefix('/') {
        let sub = php_trim(sub.trim_end_matches('/'));
        return Cow::Owned(format!("{page_title}/{sub}{fragment}"));
    }
    let mut up = 0;
    let mut rest = path;
    while let Some(r) = rest.strip_prefix("../") {
        up += 1;
        rest = r;
    }
    let levels: Vec<&str> = page_title.split('/').collect();
    if up == 0 || levels.len() <= up {
        return Cow::Borrowed(target);
    }
    let mut resolved = levels[..levels.len() - up].join("/");
    let rest = php_trim(rest.trim_end_matches('/'));
    if !rest.is_empty() {
        resolved.push('/');
        resolved.push_str(rest);
    }
    resolved.push_str(fragment);
    Cow::Owned(resolved)
}

/// What [`push_title`] read.
struct Title {
    ns: i64,
    /// A non-empty `#fragment` followed the name.
    has_fragment: bool,
    /// The wiki's own interwiki prefix came first (`[[en:Category:X]]` on en.wikipedia):
    /// MediaWiki then reads the link as if it had a leading colon.
    local_interwiki: bool,
}

/// Appends to `out` the normalised local page that `text` names, as MediaWiki's
/// `Title::newFromText` reads it, and its namespace; `None`, leaving `out` as it was, when
/// it names no local page (invalid, empty, or another wiki's). `decoded`: %-escapes were
/// decoded before, so bytes that cannot be in a title may have come in.
fn push_title(out: &mut String, text: &str, decoded: bool, site: &SiteInfo) -> Option<Title> {
    // Character references; then the title parser drops directional marks and folds
    // whitespace.
    let entities = decode_entities(text);
    let decoded = decoded || matches!(entities, Cow::Owned(_));
    let unmarked = strip_directional_marks(&entities);
    let collapsed = collapse_whitespace(&unmarked);
    let mut title = match collapsed.strip_prefix(':') {
        Some(rest) => rest.trim_start_matches(' '),
        None => &collapsed,
    };

    // One namespace or interwiki prefix, spaces around its colon tolerated; a prefix naming
    // this wiki itself is dropped and the rest read again.
    let mut local_interwiki = false;
    let (ns, mut page) = loop {
        match split_once_byte(title, b':') {
            Some((prefix, rest)) if !prefix.is_empty() => {
                let prefix = prefix.trim_end_matches(' ');
                match site.prefix_kind(prefix) {
                    PrefixKind::Namespace(ns) => break (ns, rest.trim_start_matches(' ')),
                    PrefixKind::ThisWiki => {
                        local_interwiki = true;
                        title = rest.trim_start_matches(' ');
                    }
                    PrefixKind::Interwiki => return None,
                    PrefixKind::None => break (NS_MAIN, title),
                }
            }
            _ => break (NS_MAIN, title),
        }
    };

    let mut has_fragment = false;
    if let Some((before, fragment)) = split_once_byte(page, b'#') {
        page = before.trim_end_matches(' ');
        has_fragment = !fragment.is_empty();
    }
    // Empty: `[[#section]]` (same page) or `[[Category:]]` (invalid); neither is a link.
    // Only decoded references can have brought in bytes that the raw target could not have.
    let decoded_invalid = decoded && !page.bytes().all(is_title_byte);
    let replacement_char = page
        .as_bytes()
        .windows(3)
        .any(|w| w == "\u{fffd}".as_bytes());
    if page.is_empty()
        || page.starts_with(':')
        || decoded_invalid
        || replacement_char
        || is_relative_path(page)
        || has_escape_or_reference(page)
        || page.contains("~~~")
        || page.len() > MAX_TITLE_BYTES
    {
        return None;
    }

    if ns != NS_MAIN {
        out.push_str(site.namespace_name(ns));
        out.push(':');
    }
    match site.namespace_case(ns) {
        NamespaceCase::FirstLetter => push_ucfirst(out, page),
        NamespaceCase::CaseSensitive => out.push_str(page),
    }
    Some(Title {
        ns,
        has_fragment,
        local_interwiki,
    })
}

/// The longest page name (without its namespace) that MediaWiki accepts, in UTF-8 bytes.
const MAX_TITLE_BYTES: usize = 255;

/// Whether a page name still holds something that reads as a %-escape or a named character
/// reference (`%41`, `&foo;`): MediaWiki refuses such titles, as they could not be linked
/// to consistently. So `[[A&nosuch;B]]` and `[[%2541]]` are no links.
fn has_escape_or_reference(page: &str) -> bool {
    let b = page.as_bytes();
    b.iter().enumerate().any(|(i, &c)| match c {
        b'%' => b.len() > i + 2 && b[i + 1].is_ascii_hexdigit() && b[i + 2].is_ascii_hexdigit(),
        b'&' => {
            let name = b[i + 1..]
                .iter()
                .take_while(|&&c| c.is_ascii_alphanumeric() || c >= 0x80)
                .count();
            name > 0 && b.get(i + 1 + name) == Some(&b';')
        }
        _ => false,
    })
}

/// Titles that MediaWiki refuses because browsers would read them as relative paths:
/// `.`, `..`, starting with `./` or `../`, containing `/./` or `/../`, ending in `/.` or `/..`.
/// So `[[../X]]` where relative links are not resolved (or go above the top page) is no link.
fn is_relative_path(page: &str) -> bool {
    page.contains('.')
        && (page == "."
            || page == ".."
            || page.starts_with("./")
            || page.starts_with("../")
            || page.contains("/./")
            || page.contains("/../")
            || page.ends_with("/.")
            || page.ends_with("/.."))
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
pub(crate) fn decode_entities(s: &str) -> Cow<'_, str> {
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

    /// The links of `text` on an English Wikipedia-like wiki, on an article (whose
    /// namespace has no subpages) that no test links to.
    fn en(text: &str) -> Vec<String> {
        en_on(0, "Test article", text)
    }

    fn en_on(ns: i64, title: &str, text: &str) -> Vec<String> {
        sorted(internal_links(
            text,
            &Page::new(ns, title),
            &SiteInfo::english(),
        ))
    }

    fn pt(text: &str) -> Vec<String> {
        pt_on(0, "Artigo de teste", text)
    }

    fn pt_on(ns: i64, title: &str, text: &str) -> Vec<String> {
        sorted(internal_links(text, &Page::new(ns, title), &portuguese()))
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
                "1": {"id": 1, "case": "first-letter", "name": "Discussão", "canonical": "Talk", "subpages": true},
                "2": {"id": 2, "case": "first-letter", "name": "Utilizador", "canonical": "User", "subpages": true},
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
        // What follows it is read again, but as after a leading colon: a link, not a
        // category assignment or a file embed.
        assert_eq!(
            pt("[[pt:Categoria:Cidades]] [[pt:Ficheiro:X.png]]"),
            v(&["Categoria:Cidades", "Ficheiro:X.png"])
        );
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
        // A title may not keep what reads as a reference or an escape.
        assert_eq!(
            en("[[A&nosuch;B]] [[&EACUTE;]] [[%2541]] [[A&amp;amp;]]"),
            v(&[])
        );
        // Every HTML5 named reference, as MediaWiki's Sanitizer decodes them.
        assert_eq!(
            pt("[[Ci&ecirc;ncia]] [[Ci&#234;ncia]] [[Caf&eacute;]] [[&Eacute;vora]] [[&NotEqualTilde;]]"),
            v(&["Café", "Ciência", "Évora", "\u{2242}\u{338}"])
        );
    }

    #[test]
    fn entity_edge_cases_as_mediawiki() {
        // Without ";": kept as written. With an unknown name: kept too, and then the title
        // is refused, as it still holds a reference.
        assert_eq!(
            en("[[Caf&eacute]] [[A&B;C]] [[&Eacute]]"),
            v(&["&Eacute", "Caf&eacute"])
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
    fn special_pages_not_counted() {
        // The parser keeps links to special pages apart, not in the page's links.
        assert_eq!(
            en("[[Special:RecentChanges]] [[special:Search/x|s]] [[:Special:Log]]"),
            v(&[])
        );
        assert_eq!(pt("[[Especial:Contribuições/Bob]]"), v(&[]));
    }

    #[test]
    fn a_link_to_the_page_itself_needs_a_fragment() {
        assert_eq!(
            en_on(0, "Lisbon", "[[Lisbon]] [[lisbon|here]] [[ Lisbon ]]"),
            v(&[])
        );
        assert_eq!(en_on(0, "Lisbon", "[[Lisbon#History]]"), v(&["Lisbon"]));
        // An empty fragment is no fragment.
        assert_eq!(en_on(0, "Lisbon", "[[Lisbon#]] [[Lisbon# ]]"), v(&[]));
        assert_eq!(
            en_on(2, "User:Bob", "[[user:bob]] [[User:Bob#a]]"),
            v(&["User:Bob"])
        );
        // Another namespace's page of the same name is another page.
        assert_eq!(en_on(1, "Talk:Lisbon", "[[Lisbon]]"), v(&["Lisbon"]));
        // A file page linking to itself with a colon, too.
        assert_eq!(en_on(6, "File:Map.png", "[[:File:Map.png]]"), v(&[]));
    }

    #[test]
    fn relative_links_on_pages_with_subpages() {
        let links = |text| en_on(2, "User:Bob/Drafts/Lisbon", text);
        assert_eq!(
            links("[[/Notes]] [[/Notes/|n]] [[ / Notes #x]]"),
            v(&["User:Bob/Drafts/Lisbon/Notes"])
        );
        assert_eq!(
            links("[[../]] [[../Porto]] [[../../Sandbox/]] [[../Porto#History]]"),
            v(&[
                "User:Bob/Drafts",
                "User:Bob/Drafts/Porto",
                "User:Bob/Sandbox"
            ])
        );
        // Not above the top page: kept as written, an invalid title.
        assert_eq!(links("[[../../../X]] [[../../../]]"), v(&[]));
        // `../` resolving to the page itself is a self-link.
        assert_eq!(
            en_on(2, "User:Bob/A", "[[../A]] [[/]]"),
            v(&["User:Bob/A/"])
        );
        assert_eq!(en_on(2, "User:Bob/A", "[[../]]"), v(&["User:Bob"]));
        // Entities are decoded after: `&#47;` is no relative link, but %2F is.
        assert_eq!(
            en_on(2, "User:Bob", "[[&#47;Sub]] [[%2FSub]]"),
            v(&["/Sub", "User:Bob/Sub"])
        );
        // A leading colon is no relative link either.
        assert_eq!(en_on(2, "User:Bob", "[[:/Sub]]"), v(&["/Sub"]));
    }

    #[test]
    fn relative_links_where_there_are_no_subpages() {
        // The main namespace has none here: "/Sub" is a page name, "../X" an invalid one.
        assert_eq!(
            en_on(0, "Lisbon", "[[/Sub]] [[../X]] [[..]] [[A/./B]] [[A/..]]"),
            v(&["/Sub"])
        );
        assert_eq!(pt_on(0, "Lisboa", "[[/Sub]]"), v(&["/Sub"]));
        assert_eq!(
            pt_on(2, "Utilizador:Bob", "[[/Sub]]"),
            v(&["Utilizador:Bob/Sub"])
        );
    }

    #[test]
    fn file_link_parameter_counts() {
        assert_eq!(
            en("[[File:Map.png|thumb|link=Lisbon|A map]] [[Image:X.png|link= Porto ]]"),
            v(&["Lisbon", "Porto"])
        );
        // Any namespace (a category too, a Media: target as the file), with fragment dropped
        // and references decoded; the page itself too, as the parser records it.
        assert_eq!(
            en_on(0, "Lisbon", "[[File:A.png|link=Category:Cities]] [[File:B.png|link=Media:C.png]] \
                [[File:D.png|link=Caf&eacute;#x]] [[File:E.png|link=Lisbon]] [[File:F.png|link=:File:G.png]]"),
            v(&["Café", "Category:Cities", "File:C.png", "File:G.png", "Lisbon"])
        );
        // Not: empty, URLs, special pages, other wikis, a wrongly cased "Link=", a link's own
        // `link=` (not a file), a colon link to a file.
        assert_eq!(
            en("[[File:A.png|link=]] [[File:B.png|link=https://x.org]] [[File:C.png|link=Special:Log]] \
                [[File:D.png|link=wikt:foo]] [[File:E.png|Link=Foo]] [[Foo|link=Bar]] [[:File:F.png|link=Baz]]"),
            v(&["File:F.png", "Foo"])
        );
        // After a caption with links, and never from an embed that does not close.
        assert_eq!(
            en("[[File:A.png|thumb|See [[Porto|the city]] and [[Braga]].|link=Lisbon]]"),
            v(&["Braga", "Lisbon", "Porto"])
        );
        assert_eq!(en("[[File:A.png|link=Lisbon|a [[Porto]] b"), v(&["Porto"]));
    }
}
