//! Migrations: applied on an empty database; a second run changes nothing.

use campaign_events::infra::db;

use crate::helpers::*;

/// A fingerprint of the schema: every column of every table, and every index definition.
async fn schema_fingerprint(client: &tokio_postgres::Client) -> Vec<String> {
    let mut out: Vec<String> = client
        .query(
            "SELECT table_name || '.' || column_name || ':' || data_type || ':' || is_nullable \
             FROM information_schema.columns WHERE table_schema = 'public'",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    out.extend(
        client
            .query(
                "SELECT indexdef FROM pg_indexes WHERE schemaname = 'public'",
                &[],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| r.get::<_, String>(0)),
    );
    out.sort();
    out
}

#[tokio::test]
async fn migrations_create_the_database_apply_once_and_then_change_nothing() {
    let name = unique_name("ce_migr");
    let url = database_url(&name);
    let config = db::prepare(&url).await.expect("creates the database");
    let first = campaign_events::infra::migrate(&config).await.unwrap();
    assert_eq!(
        first.applied,
        vec![
            "V1__initial_schema".to_owned(),
            "V2__open_dead_letters_index".to_owned(),
            "V3__dead_letters_per_job".to_owned(),
            "V4__hide_contribution_prompt".to_owned(),
            "V5__rows_follow_the_wiki".to_owned()
        ]
    );

    let client = db::connect(&config).await.unwrap();
    let before = schema_fingerprint(&client).await;
    for table in [
        "ce_events",
        "ce_event_wikis",
        "ce_event_organizers",
        "ce_participants",
        "ce_associate_edit_to_event",
        "ce_dead_letters",
    ] {
        assert!(
            before.iter().any(|c| c.starts_with(&format!("{table}."))),
            "{table} exists"
        );
    }
    assert!(
        before
            .iter()
            .any(|i| i.contains("UNIQUE") && i.contains("(wiki_id, revision_id)")),
        "contributions are unique per edit"
    );

    // Again, and with prepare() seeing an existing database.
    let config = db::prepare(&url).await.unwrap();
    let second = campaign_events::infra::migrate(&config).await.unwrap();
    assert!(second.applied.is_empty(), "{:?}", second.applied);
    assert_eq!(schema_fingerprint(&client).await, before);
    drop(client);
    cleanup(name, String::new());
}

#[tokio::test]
async fn concurrent_migrations_apply_once() {
    let name = unique_name("ce_migr");
    let config = db::prepare(&database_url(&name)).await.unwrap();
    let (a, b) = tokio::join!(
        campaign_events::infra::migrate(&config),
        campaign_events::infra::migrate(&config)
    );
    let (a, b) = (a.unwrap().applied, b.unwrap().applied);
    // The advisory lock lets one instance migrate; the other finds nothing left to do.
    assert!(
        a.is_empty() != b.is_empty() && a.len() + b.len() == 5,
        "{a:?} {b:?}"
    );
    cleanup(name, String::new());
}
