//! Edit association: accepting an association (`accept`: validated from the cache, queued on
//! `CE_EDITS` under the edit's stable key, `202` only after JetStream's ack), the job and its
//! message ids (`jobs`), the Bloom filter of associated edits (`bloom`), the diff workers
//! (`workers`) with the wiki's Action API client (`wiki_api`) and the measurements
//! (`stats`), the stored rows and dead letters (`db`), and the routes that read them
//! (`http`: listing, summary, Atom feed, dead letters), and the post-edit module wikis load to
//! offer their users the association after a save (`postedit`: `GET /postedit.js`).
//!
//! Owns: invariants 5 and 6 (nothing accepted is lost; stable keys) and 8 on the routes that
//! show contributions. Reads the cache to validate; never writes it.

pub mod accept;
pub mod bloom;
pub mod db;
pub mod http;
pub mod jobs;
pub mod postedit;
pub mod recheck;
pub mod stats;
pub mod wiki_api;
pub mod workers;
