//! How much text an edit added and removed.
//!
//! The counts come from a diff, not from the size difference, so that rewording a sentence
//! counts as both adding and removing. They are exact (minimal, as an LCS) for edits whose
//! changed region is small, which is nearly every real edit, and approximate for big rewrites:
//! there the cost of a minimal diff grows with the product of the sizes, and a service that
//! diffs every edit of a wiki must bound its cost for any input (vandals replace 2 MB pages).
//!
//! The design: take the common prefix and suffix off (a typical edit leaves a sentence);
//! if what remains is small, diff it by character with similar's Myers (minimal); if not,
//! diff it by line first, then by character inside each replaced hunk that is small enough,
//! counting larger hunks whole. Every diff has a deadline, so the counts of a rare huge
//! rewrite depend a little on the machine's speed (they are only less minimal, never
//! unbalanced); ordinary edits finish long before any deadline.
//!
//! Whatever the path, each diff accounts for every character of both sides as equal,
//! inserted or deleted, so `added − removed` equals the size difference by construction.

use std::collections::HashMap;
use std::convert::Infallible;
use std::time::{Duration, Instant};

use similar::algorithms::{myers, DiffHook};
use similar::{Algorithm, DiffOp};

/// Text added and removed by an edit, in UTF-8 bytes and in Unicode scalar values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TextDelta {
    pub bytes_added: u64,
    pub bytes_removed: u64,
    pub chars_added: u64,
    pub chars_removed: u64,
}

/// Above this many characters (both sides together) a region is not diffed by character:
/// Myers costs O((N+M)·D), about 0.1–0.4 s at this size for unrelated texts, which the
/// deadline would cut short anyway.
const CHAR_DIFF_MAX_CHARS: usize = 20_000;

/// Time for the line-level diff of a large edit. Similar texts finish far sooner (a diff of
/// lines is cheap when few differ); this only binds for wholesale replacements.
const LINE_BUDGET: Duration = Duration::from_millis(30);

/// Time for the whole of [`text_delta`]; character diffs of the changed hunks share what the
/// line diff left. Past it, Myers falls back to "all removed, all added" for what remains.
const TOTAL_BUDGET: Duration = Duration::from_millis(60);

/// Bytes and chars added and removed from `old` to `new`; see the module docs for how.
pub fn text_delta(old: &str, new: &str) -> TextDelta {
    text_delta_within(old, new, LINE_BUDGET, TOTAL_BUDGET)
}

/// [`text_delta`] with explicit time budgets, so tests can check minimality without the
/// wall clock deciding the result. A budget too large to represent means no deadline.
///
/// The budgets are for the diffs themselves: the clock starts after the work that is linear
/// in the input (common affixes, splitting and numbering lines). Hashing the lines of a 2 MB
/// page can take longer than the whole budget on a busy machine, and a deadline already spent
/// would count an edit of two lines as the whole page between them.
pub(crate) fn text_delta_within(
    old: &str,
    new: &str,
    line_budget: Duration,
    total_budget: Duration,
) -> TextDelta {
    // Most edits touch one spot of a long page: taking the common prefix and suffix out first
    // (which keeps the diff minimal) leaves only that spot to diff.
    let (old, new) = strip_common_affixes(old, new);
    let mut delta = TextDelta::default();
    if old.is_empty() || new.is_empty() || fits_char_diff(old, new) {
        char_diff(
            old,
            new,
            Instant::now().checked_add(total_budget),
            &mut delta,
        );
    } else {
        line_then_char_diff(old, new, line_budget, total_budget, &mut delta);
    }
    delta
}

impl TextDelta {
    fn add(&mut self, text: &str) {
        self.bytes_added += text.len() as u64;
        self.chars_added += text.chars().count() as u64;
    }

    fn remove(&mut self, text: &str) {
        self.bytes_removed += text.len() as u64;
        self.chars_removed += text.chars().count() as u64;
    }
}

/// Whether `old` and `new` are small enough together for a character diff.
fn fits_char_diff(old: &str, new: &str) -> bool {
    // Bytes bound chars from above, so the count is only needed for large inputs.
    old.len() + new.len() <= CHAR_DIFF_MAX_CHARS
        || old.chars().count() + new.chars().count() <= CHAR_DIFF_MAX_CHARS
}

/// Character-level Myers of two regions, added into `delta`.
fn char_diff(old: &str, new: &str, deadline: Option<Instant>, delta: &mut TextDelta) {
    if old.is_empty() || new.is_empty() {
        delta.remove(old);
        delta.add(new);
        return;
    }
    let old_chars: Vec<char> = old.chars().collect();
    let new_chars: Vec<char> = new.chars().collect();
    let mut counter = Counter {
        old: &old_chars,
        new: &new_chars,
        delta,
    };
    let result = myers::diff_deadline(
        &mut counter,
        &old_chars[..],
        0..old_chars.len(),
        &new_chars[..],
        0..new_chars.len(),
        deadline,
    );
    if let Err(never) = result {
        match never {}
    }
}

/// Counts what Myers deletes and inserts, without building the edit script.
struct Counter<'a> {
    old: &'a [char],
    new: &'a [char],
    delta: &'a mut TextDelta,
}

impl DiffHook for Counter<'_> {
    type Error = Infallible;

    fn delete(
        &mut self,
        old_index: usize,
        old_len: usize,
        _new_index: usize,
    ) -> Result<(), Infallible> {
        let removed = &self.old[old_index..old_index + old_len];
        self.delta.chars_removed += old_len as u64;
        self.delta.bytes_removed += removed.iter().map(|c| c.len_utf8() as u64).sum::<u64>();
        Ok(())
    }

    fn insert(
        &mut self,
        _old_index: usize,
        new_index: usize,
        new_len: usize,
    ) -> Result<(), Infallible> {
        let added = &self.new[new_index..new_index + new_len];
        self.delta.chars_added += new_len as u64;
        self.delta.bytes_added += added.iter().map(|c| c.len_utf8() as u64).sum::<u64>();
        Ok(())
    }
}

/// For large regions: a line diff finds the changed hunks cheaply, then each replaced hunk
/// small enough is diffed by character; larger hunks (or all of them once the time is up)
/// count as wholly removed and wholly added.
fn line_then_char_diff(
    old: &str,
    new: &str,
    line_budget: Duration,
    total_budget: Duration,
    delta: &mut TextDelta,
) {
    // Our own line splitting (similar's tokenizer walks chars one by one and was two thirds of
    // the cost of a two-place edit of a 100 KB page), numbering and offsets: Myers then
    // compares numbers, and all of this linear work is done before the clock starts.
    let (old_split, new_split) = (split_lines(old), split_lines(new));
    let mut numbers = HashMap::with_capacity(old_split.len());
    let old_ids = number_lines(&mut numbers, &old_split);
    let new_ids = number_lines(&mut numbers, &new_split);
    let old_at = line_offsets(&old_split);
    let new_at = line_offsets(&new_split);
    let start = Instant::now();
    let total_deadline = start.checked_add(total_budget);
    let ops = similar::capture_diff_deadline(
        Algorithm::Myers,
        &old_ids,
        0..old_ids.len(),
        &new_ids,
        0..new_ids.len(),
        start.checked_add(line_budget),
    );
    let old_lines = |index: usize, len: usize| &old[old_at[index]..old_at[index + len]];
    let new_lines = |index: usize, len: usize| &new[new_at[index]..new_at[index + len]];
    for op in &ops {
        match *op {
            DiffOp::Equal { .. } => {}
            DiffOp::Delete {
                old_index, old_len, ..
            } => delta.remove(old_lines(old_index, old_len)),
            DiffOp::Insert {
                new_index, new_len, ..
            } => delta.add(new_lines(new_index, new_len)),
            DiffOp::Replace {
                old_index,
                old_len,
                new_index,
                new_len,
            } => {
                let (old_hunk, new_hunk) =
                    (old_lines(old_index, old_len), new_lines(new_index, new_len));
                let time_left = total_deadline.is_none_or(|d| Instant::now() < d);
                if time_left && fits_char_diff(old_hunk, new_hunk) {
                    char_diff(old_hunk, new_hunk, total_deadline, delta);
                } else {
                    delta.remove(old_hunk);
                    delta.add(new_hunk);
                }
            }
        }
    }
}

/// Each line's number: equal lines get equal numbers, counted in `numbers`.
fn number_lines<'t>(numbers: &mut HashMap<&'t str, u32>, lines: &[&'t str]) -> Vec<u32> {
    lines
        .iter()
        .map(|line| {
            let next = numbers.len() as u32;
            *numbers.entry(line).or_insert(next)
        })
        .collect()
}

/// `text` as consecutive lines, each with its "\n" (so "\r\n" stays inside a line, and a
/// CRLF/LF change is a changed line that the char diff then resolves).
fn split_lines(text: &str) -> Vec<&str> {
    let mut lines = Vec::with_capacity(text.len() / 64 + 1);
    let mut rest = text;
    while let Some(i) = rest.find('\n') {
        let (line, tail) = rest.split_at(i + 1);
        lines.push(line);
        rest = tail;
    }
    if !rest.is_empty() {
        lines.push(rest);
    }
    lines
}

/// Byte offset of each line's start, and the total length last.
fn line_offsets(lines: &[&str]) -> Vec<usize> {
    let mut offsets = Vec::with_capacity(lines.len() + 1);
    let mut at = 0;
    offsets.push(0);
    for line in lines {
        at += line.len();
        offsets.push(at);
    }
    offsets
}

/// `old` and `new` without their longest common prefix and suffix (on char boundaries).
fn strip_common_affixes<'a, 'b>(old: &'a str, new: &'b str) -> (&'a str, &'b str) {
    let (a, b) = (old.as_bytes(), new.as_bytes());
    let mut prefix = common_prefix_len(a, b);
    while !(old.is_char_boundary(prefix) && new.is_char_boundary(prefix)) {
        prefix -= 1;
    }
    let (a, b) = (&a[prefix..], &b[prefix..]);
    let mut suffix = common_suffix_len(a, b);
    while !(old.is_char_boundary(old.len() - suffix) && new.is_char_boundary(new.len() - suffix)) {
        suffix -= 1;
    }
    (
        &old[prefix..old.len() - suffix],
        &new[prefix..new.len() - suffix],
    )
}

/// Compares in blocks first: a whole-block slice comparison is a `memcmp`, much faster than
/// byte by byte on the long equal prefix of a typical edit.
fn common_prefix_len(a: &[u8], b: &[u8]) -> usize {
    const BLOCK: usize = 64;
    let n = a.len().min(b.len());
    let mut i = 0;
    while i + BLOCK <= n && a[i..i + BLOCK] == b[i..i + BLOCK] {
        i += BLOCK;
    }
    while i < n && a[i] == b[i] {
        i += 1;
    }
    i
}

fn common_suffix_len(a: &[u8], b: &[u8]) -> usize {
    const BLOCK: usize = 64;
    let n = a.len().min(b.len());
    let (a_end, b_end) = (a.len(), b.len());
    let mut i = 0;
    while i + BLOCK <= n && a[a_end - i - BLOCK..a_end - i] == b[b_end - i - BLOCK..b_end - i] {
        i += BLOCK;
    }
    while i < n && a[a_end - i - 1] == b[b_end - i - 1] {
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    /// No deadline: the result must not depend on the machine's speed.
    fn exact(old: &str, new: &str) -> TextDelta {
        text_delta_within(old, new, Duration::MAX, Duration::MAX)
    }

    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    const ALPHABETS: [&[&str]; 5] = [
        &["a", "b", "c", " ", "\n"],
        &["ç", "ã", "日", "本", "語", "🙂", "é"],
        &["ab", "\r\n", "x", " ", "\r"],
        &["the ", "cat ", "[[", "]]", "<ref>", "</ref>", ". "],
        &["a", "ação", "日本語", "🙂", "\r\n", "\n", "z"],
    ];

    fn random_text(rng: &mut XorShift, alphabet: &[&str], tokens: usize) -> String {
        (0..tokens)
            .map(|_| alphabet[rng.below(alphabet.len())])
            .collect()
    }

    /// `text` with a few inserts, deletes and replaces at random char positions.
    fn random_edit(rng: &mut XorShift, text: &str, alphabet: &[&str]) -> String {
        let mut chars: Vec<char> = text.chars().collect();
        for _ in 0..1 + rng.below(4) {
            let at = rng.below(chars.len() + 1);
            let len = rng.below(8).min(chars.len() - at);
            let tokens = rng.below(6);
            let insert: Vec<char> = random_text(rng, alphabet, tokens).chars().collect();
            match rng.below(3) {
                0 => drop(chars.splice(at..at, insert)),
                1 => drop(chars.drain(at..at + len)),
                _ => drop(chars.splice(at..at + len, insert)),
            }
        }
        chars.into_iter().collect()
    }

    fn assert_balanced(old: &str, new: &str, d: TextDelta) {
        assert_eq!(
            d.bytes_added as i64 - d.bytes_removed as i64,
            new.len() as i64 - old.len() as i64,
            "bytes {old:?} -> {new:?}: {d:?}"
        );
        assert_eq!(
            d.chars_added as i64 - d.chars_removed as i64,
            new.chars().count() as i64 - old.chars().count() as i64,
            "chars {old:?} -> {new:?}: {d:?}"
        );
    }

    /// Reference: a minimal diff removes old − LCS and adds new − LCS characters.
    fn lcs_len(old: &str, new: &str) -> usize {
        let a: Vec<char> = old.chars().collect();
        let b: Vec<char> = new.chars().collect();
        let mut prev = vec![0usize; b.len() + 1];
        let mut cur = vec![0usize; b.len() + 1];
        for &x in &a {
            for (j, &y) in b.iter().enumerate() {
                cur[j + 1] = if x == y {
                    prev[j] + 1
                } else {
                    cur[j].max(prev[j + 1])
                };
            }
            std::mem::swap(&mut prev, &mut cur);
        }
        prev[b.len()]
    }

    #[test]
    fn small_texts_are_minimal() {
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        for i in 0..600 {
            let alphabet = ALPHABETS[i % ALPHABETS.len()];
            let tokens = rng.below(60);
            let old = random_text(&mut rng, alphabet, tokens);
            // Half edits of old, half unrelated texts (the hard case for a diff).
            let new = if i % 2 == 0 {
                random_edit(&mut rng, &old, alphabet)
            } else {
                let tokens = rng.below(60);
                random_text(&mut rng, alphabet, tokens)
            };
            let (old_n, new_n) = (old.chars().count(), new.chars().count());
            if old_n > 200 || new_n > 200 {
                continue;
            }
            let d = exact(&old, &new);
            assert_balanced(&old, &new, d);
            let lcs = lcs_len(&old, &new);
            assert_eq!(d.chars_removed as usize, old_n - lcs, "{old:?} -> {new:?}");
            assert_eq!(d.chars_added as usize, new_n - lcs, "{old:?} -> {new:?}");
            // The budgets are wall-clock: a test process descheduled for their length on a
            // busy machine may see one cut short, so a few tries (one exact answer shows that
            // the deadline does not bind on its own).
            assert!(
                (0..3).any(|_| text_delta(&old, &new) == d),
                "the deadline must not bind on small texts: {old:?} -> {new:?}"
            );
        }
    }

    #[test]
    fn random_texts_balance() {
        let mut rng = XorShift(0xD1B5_4A32_D192_ED03);
        for i in 0..300 {
            let alphabet = ALPHABETS[i % ALPHABETS.len()];
            // Up to ~60k tokens, so that both the char path and the line path are taken.
            let size = [0, 10, 500, 8_000, 30_000][i % 5] + rng.below(100);
            let old = random_text(&mut rng, alphabet, size);
            let new = match rng.below(4) {
                0 => String::new(),
                1 => random_text(&mut rng, alphabet, size),
                _ => {
                    let mut edited = random_edit(&mut rng, &old, alphabet);
                    for _ in 0..rng.below(3) {
                        edited = random_edit(&mut rng, &edited, alphabet);
                    }
                    edited
                }
            };
            let (old, new) = if rng.below(2) == 0 {
                (old, new)
            } else {
                (new, old)
            };
            assert_balanced(&old, &new, text_delta(&old, &new));
        }
    }

    #[test]
    fn empty_sides() {
        let d = text_delta("", "ação🙂");
        assert_eq!(
            (
                d.bytes_added,
                d.chars_added,
                d.bytes_removed,
                d.chars_removed
            ),
            (10, 5, 0, 0)
        );
        let d = text_delta("ação🙂", "");
        assert_eq!(
            (
                d.bytes_added,
                d.chars_added,
                d.bytes_removed,
                d.chars_removed
            ),
            (0, 0, 10, 5)
        );
        assert_eq!(text_delta("", ""), TextDelta::default());
        assert_eq!(text_delta("same", "same"), TextDelta::default());
    }

    #[test]
    fn multibyte_counts_bytes_and_chars() {
        // "ã" (2 bytes) replaced by "日" (3 bytes); the common "ç" and "o" are kept.
        let d = exact("ação", "aç日o");
        assert_eq!(
            d,
            TextDelta {
                bytes_added: 3,
                bytes_removed: 2,
                chars_added: 1,
                chars_removed: 1
            }
        );
    }

    #[test]
    fn crlf_change_is_one_char() {
        let old = "line one\r\nline two\r\n".repeat(2_000);
        let new = old.replacen("line two\r\n", "line two\n", 1);
        let d = text_delta(&old, &new);
        assert_eq!((d.chars_added, d.chars_removed, d.bytes_removed), (0, 1, 1));
    }

    #[test]
    fn large_text_with_scattered_edits_is_exact_per_hunk() {
        // 400 paragraphs; three sentences changed far apart, so the line path is taken.
        let paragraphs: Vec<String> = (0..400)
            .map(|i| {
                format!(
                    "Paragraph {i} says something about [[Topic {i}]].<ref>Source {i}</ref>\n\n"
                )
            })
            .collect();
        let old = paragraphs.concat();
        let new = old
            .replacen("Paragraph 10 says", "Paragraph 10 now says", 1)
            .replacen("[[Topic 200]]", "[[Topic 201]]", 1)
            .replacen("Source 390", "", 1);
        let d = exact(&old, &new);
        assert_balanced(&old, &new, d);
        assert_eq!((d.chars_added, d.chars_removed), (4 + 1, 1 + 10));
    }

    /// A long list page (100k short lines, 2 MB) with two small edits far apart: the time it
    /// takes to split and number the lines is not taken from the diff's budget, which would
    /// count everything between the edits as removed and added.
    #[test]
    fn two_small_edits_far_apart_on_a_long_list_page_are_exact() {
        let old: String = (0..100_000)
            .map(|i| format!("* item {i:06}, [[Page {i}]]\n"))
            .collect();
        assert!(old.len() > 2_000_000);
        let new = old.replacen("item 000010,", "item 000010;", 1).replacen(
            "item 099990,",
            "item 099990;",
            1,
        );
        let want = exact(&old, &new);
        assert_eq!((want.chars_added, want.chars_removed), (2, 2));
        // Through the line path with budgets no busy machine can use up (the production
        // budgets are wall-clock, and a test must not depend on the machine's speed; the
        // stats benchmark measures this page against them): the hunks between the two edits
        // are equal lines, never counted as removed and added.
        let d = text_delta_within(&old, &new, Duration::from_secs(20), Duration::from_secs(40));
        assert_eq!(d, want);
    }

    #[test]
    fn huge_single_line() {
        let old: String = "abcdefghij".repeat(100_000);
        // One char changed in a 1 MB line: exact, thanks to the common prefix and suffix.
        let mut one = old.clone();
        one.replace_range(500_000..500_001, "Z");
        let d = text_delta(&old, &one);
        assert_eq!((d.chars_added, d.chars_removed), (1, 1));
        // Two changes 800 KB apart: one replaced line over the char-diff cap, counted whole.
        let mut two = old.clone();
        two.replace_range(100_000..100_001, "Z");
        two.replace_range(900_000..900_001, "Z");
        let d = text_delta(&old, &two);
        assert_balanced(&old, &two, d);
        assert_eq!(d.chars_removed, 800_001);
    }

    #[test]
    fn wholesale_replacement_of_large_texts() {
        // Unrelated texts of about 2 MB each: bounded by the deadlines.
        let mut rng = XorShift(7);
        let words = [
            "alpha ",
            "beta ",
            "gamma ",
            "[[delta]] ",
            "epsilon\n",
            "ζήτα ",
            "\n",
        ];
        let old = random_text(&mut rng, &words, 320_000);
        let new = random_text(&mut rng, &words, 320_000);
        assert!(old.len() > 2_000_000 && new.len() > 2_000_000);
        assert_balanced(&old, &new, text_delta(&old, &new));
        // Through `compute` too, so the link and ref scanners see the 2 MB pages.
        let page = crate::association::stats::Page::new(0, "Test article");
        let stats = crate::association::stats::compute(
            &old,
            &new,
            &page,
            &crate::association::stats::SiteInfo::english(),
        );
        assert_eq!((stats.links_added, stats.links_removed), (0, 0));
    }
}
