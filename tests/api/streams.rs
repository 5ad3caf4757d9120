//! JetStream streams: created with the contract's retention and windows, and creating them
//! again changes nothing.

use std::time::Duration;

use async_nats::jetstream::stream::RetentionPolicy;
use campaign_events::infra::nats::{self, Names, StreamState};

use crate::helpers::*;

#[tokio::test]
async fn streams_are_created_once_with_the_contracts_settings() {
    let prefix = unique_name("t");
    let names = Names::new(&prefix);
    let js = nats::jetstream(nats::connect(NATS_URL).await.unwrap());

    let first = nats::ensure_streams(&js, &names).await.unwrap();
    assert!(
        first.iter().all(|(_, s)| *s == StreamState::Created),
        "{first:?}"
    );
    let second = nats::ensure_streams(&js, &names).await.unwrap();
    assert!(
        second.iter().all(|(_, s)| *s == StreamState::Unchanged),
        "{second:?}"
    );

    let mut regs = js.get_stream(names.registrations_stream()).await.unwrap();
    let info = regs.info().await.unwrap();
    assert_eq!(info.config.retention, RetentionPolicy::WorkQueue);
    assert_eq!(
        info.config.subjects,
        vec![format!("{prefix}campaignevents.registrations.>")]
    );

    let mut changes = js.get_stream(names.changes_stream()).await.unwrap();
    let info = changes.info().await.unwrap();
    assert_eq!(info.config.retention, RetentionPolicy::Limits);
    assert_eq!(info.config.max_age, Duration::from_secs(7 * 24 * 3600));

    let mut edits = js.get_stream(names.edits_stream()).await.unwrap();
    let info = edits.info().await.unwrap();
    assert_eq!(info.config.retention, RetentionPolicy::WorkQueue);
    assert!(info.config.duplicate_window >= Duration::from_secs(600));

    // The shared durable consumers exist.
    edits
        .consumer_info(names.diff_workers_consumer())
        .await
        .unwrap();
    regs.consumer_info(names.registrations_consumer())
        .await
        .unwrap();

    cleanup(String::new(), prefix);
}

#[tokio::test]
async fn a_drifted_stream_is_brought_back_in_line() {
    let prefix = unique_name("t");
    let names = Names::new(&prefix);
    let js = nats::jetstream(nats::connect(NATS_URL).await.unwrap());
    nats::ensure_streams(&js, &names).await.unwrap();
    let mut cfg = names.stream_configs()[2].clone();
    cfg.duplicate_window = Duration::from_secs(60);
    js.update_stream(&cfg).await.unwrap();

    let states = nats::ensure_streams(&js, &names).await.unwrap();
    assert_eq!(states[2], (names.edits_stream(), StreamState::Updated));
    let mut edits = js.get_stream(names.edits_stream()).await.unwrap();
    assert!(edits.info().await.unwrap().config.duplicate_window >= Duration::from_secs(600));
    cleanup(String::new(), prefix);
}

#[tokio::test]
async fn the_edit_stream_drops_a_republished_message_id() {
    // Invariant 6's server-side dedupe: the same Nats-Msg-Id twice is stored once.
    let prefix = unique_name("t");
    let names = Names::new(&prefix);
    let js = nats::jetstream(nats::connect(NATS_URL).await.unwrap());
    nats::ensure_streams(&js, &names).await.unwrap();
    for _ in 0..2 {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", "ptwiki:123");
        js.publish_with_headers(names.edit_subject("ptwiki"), headers, "job".into())
            .await
            .unwrap()
            .await
            .unwrap();
    }
    let mut edits = js.get_stream(names.edits_stream()).await.unwrap();
    assert_eq!(edits.info().await.unwrap().state.messages, 1);
    cleanup(String::new(), prefix);
}
