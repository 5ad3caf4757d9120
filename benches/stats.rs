//! Cost of the per-edit statistics: `cargo bench --bench stats`.
//!
//! Targets (release build): a typical edit of a 100 KB article in ≤ 1 ms, and the worst case
//! a vandal can produce, a 2 MB page replaced by different 2 MB text, well under 200 ms.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};

use campaign_events::association::stats::{compute, Page, SiteInfo};

/// Deterministic wikitext-like text of about `bytes` bytes: headings, paragraphs of words with
/// [[links]], <ref>s and {{templates}}, so that both the diff and the scanners do real work.
fn article(seed: u64, bytes: usize) -> String {
    const WORDS: [&str; 24] = [
        "the",
        "city",
        "river",
        "was",
        "founded",
        "in",
        "century",
        "by",
        "and",
        "its",
        "population",
        "grew",
        "after",
        "trade",
        "port",
        "capital",
        "região",
        "cidade",
        "of",
        "a",
        "with",
        "during",
        "major",
        "north",
    ];
    let mut rng = seed | 1;
    let mut next = move |n: usize| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        (rng % n as u64) as usize
    };
    let mut text = String::with_capacity(bytes + 1024);
    text.push_str("{{Infobox settlement|name=Example|country=[[Portugal]]}}\n");
    let mut section = 0;
    while text.len() < bytes {
        if next(6) == 0 {
            section += 1;
            text.push_str(&format!("\n== Section {section} ==\n"));
        }
        for _ in 0..3 + next(5) {
            for w in 0..8 + next(14) {
                let word = WORDS[next(WORDS.len())];
                match next(14) {
                    0 => text.push_str(&format!("[[{word} {}]]", next(5000))),
                    1 if w > 0 => text.push_str(&format!("[[{word} {}|{word}]]", next(5000))),
                    _ => text.push_str(word),
                }
                text.push(' ');
            }
            text.pop();
            text.push('.');
            if next(3) == 0 {
                let source = next(100_000);
                text.push_str(&format!(
                    "<ref>{{{{cite web |title=Source {source} |year={}}}}}</ref>",
                    1900 + next(120)
                ));
            }
            text.push(' ');
        }
        text.push_str("\n\n");
    }
    text.push_str("== References ==\n{{reflist}}\n[[Category:Examples]]\n");
    text
}

fn benches(c: &mut Criterion) {
    let site = SiteInfo::english();
    let page = Page::new(0, "Lisbon");

    let old = article(1, 100_000);
    let middle = old[..old.len() / 2].rfind(". ").map_or(0, |i| i + 2);
    let mut new = old.clone();
    new.insert_str(
        middle,
        "The bridge over the river was opened in 1966 by [[Salazar]].<ref>Bridge history</ref> ",
    );
    c.bench_function("typical_edit_100kb", |b| {
        b.iter(|| compute(black_box(&old), black_box(&new), &page, &site))
    });

    let created = article(2, 50_000);
    c.bench_function("page_creation_50kb", |b| {
        b.iter(|| compute(black_box(""), black_box(&created), &page, &site))
    });

    let big_old = article(3, 2_000_000);
    let big_new = article(4, 2_000_000);
    c.bench_function("replace_2mb", |b| {
        b.iter(|| compute(black_box(&big_old), black_box(&big_new), &page, &site))
    });
}

criterion_group!(stats, benches);
criterion_main!(stats);
