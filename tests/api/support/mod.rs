//! Support code: what stands in for the world around the service in the tests, and is no test
//! itself.
//!
//! - [`mock_wiki`]: `MockWiki`, an in-process stand-in for a wiki's Action API (`api.php`)
//!   that answers the requests the service's Revision API client sends, from fixture
//!   revisions in memory, with the faults a test switches on. For the tests of edit
//!   association (and `cargo bench --bench associate`), which need many revisions fast and
//!   outages on demand.
//! - [`mediawiki`]: `TestWiki`, a real MediaWiki 1.39 installed fresh per test, for what only
//!   the wiki itself can answer: sessions, `meta=userinfo`, `action=checktoken`, edits,
//!   deletions.
//! - [`browser`]: `Browser`, headless Chromium through chromedriver, for the pages a person
//!   uses (the post-edit dialog).
//! - [`private`]: a `nats-server` and a Postgres cluster of a test's own, for the tests that
//!   kill a dependency without disturbing the tests beside them.
//!
//! Each harness carries the tests of its own behaviour beside it (the mock's `mod tests`, the
//! `mediawiki_*` and `browser_*` tests). All of it is kept apart from the test modules beside
//! this folder so that `tests/api/*.rs` reads as the list of what the service is tested for,
//! and this folder as what those tests stand on. The helpers every test shares (the app,
//! tokens, unique names, free ports, `eventually`) are in `crate::helpers`.

pub mod browser;
pub mod mediawiki;
pub mod mock_wiki;
pub mod private;
