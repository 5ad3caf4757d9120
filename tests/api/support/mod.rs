//! Support code: what stands in for the world outside the service in the tests, and is no
//! test itself.
//!
//! - [`mock_wiki`]: `MockWiki`, an in-process stand-in for a wiki's Action API (`api.php`),
//!   answering the requests the service's Revision API client sends from fixture revisions
//!   in memory, with the faults a test switches on. For the tests of edit association (and
//!   `cargo bench --bench associate`), which need many revisions fast and outages on demand.
//!
//! Kept apart from the test modules beside it so that `tests/api/*.rs` reads as the list of
//! what the service is tested for, and this folder as what those tests stand on. The helpers
//! every test shares (the app, tokens, names, ports) are in `crate::helpers`.

pub mod mock_wiki;
