//! The shipped `nats/nats-server.conf`: its users and their permissions (finding 5 of issue
//! 10). The service runs as `service`; a registration publisher, as `client`, may publish
//! registration commands and nothing on the change subjects, which feed every cache.

use std::time::Duration;

use campaign_events::cache::changes::{publish_message, ChangeMessage};
use campaign_events::infra::nats::Names;
use campaign_events::registration::nats::{self as registrations, Kind};
use chrono::Utc;

use crate::cache::{cmd, ongoing_event, ongoing_ids, register};
use crate::helpers::*;
use crate::support::private::PrivateNats;

/// With characters a URL must escape, so that the service's reading of credentials from
/// `NATS_URL` is exercised too.
const SERVICE_PASSWORD: &str = "s3rv/ce:p@ss";
const SERVICE_PASSWORD_IN_URL: &str = "s3rv%2Fce%3Ap%40ss";
const CLIENT_PASSWORD: &str = "cl1ent-pass";

#[tokio::test]
async fn the_shipped_nats_users_let_clients_register_but_not_forge_changes() {
    let nats = PrivateNats::start_shipped(&[
        ("NATS_SERVICE_PASSWORD", SERVICE_PASSWORD),
        ("NATS_CLIENT_PASSWORD", CLIENT_PASSWORD),
    ]);
    let port = nats.port();

    // Anonymous connections are refused.
    assert!(
        campaign_events::infra::nats::connect(&nats.url())
            .await
            .is_err(),
        "an anonymous connection was accepted"
    );

    // The service, as `service`, with its credentials in NATS_URL. The shipped subjects carry
    // no prefix; this server is the test's own, so none is needed.
    let service_url = format!("nats://service:{SERVICE_PASSWORD_IN_URL}@127.0.0.1:{port}");
    let app = spawn_app_with(move |s| {
        s.common.nats_url = service_url;
        s.common.stream_prefix = String::new();
    })
    .await;
    // Another instance: it learns others' changes only from the change stream.
    let peer = app.peer().await;
    let event = app.create_event(1, &ongoing_event()).await;
    assert_eq!(register(&app, event, 90).await.0, 200);
    eventually(
        "the peer follows the change stream",
        Duration::from_secs(10),
        async || ongoing_ids(&peer, 90).await == vec![event],
    )
    .await;

    // A registration publisher, as `client`.
    let client = async_nats::ConnectOptions::new()
        .user_and_password("client".into(), CLIENT_PASSWORD.into())
        .connect(nats.url())
        .await
        .expect("the client user logs in");
    let js = campaign_events::infra::nats::jetstream(client);
    let names = Names::new("");

    // May publish a registration command: JetStream acknowledges it and the service applies it.
    registrations::publish(&js, &names, &cmd(Kind::Registered, event, 91, Utc::now()))
        .await
        .expect("a registration command is accepted");
    eventually(
        "the command is applied",
        Duration::from_secs(20),
        async || ongoing_ids(&app, 91).await == vec![event],
    )
    .await;

    // May not publish on the change subjects: the server drops the message (a permissions
    // violation), so no stream acknowledges it.
    let forged = ChangeMessage::Participant {
        event_id: event,
        user_id: 92,
        active: true,
        version: 1 << 60,
        prompt_hidden: false,
    };
    assert!(
        publish_message(&js, &names, &forged).await.is_err(),
        "a client published on the change subjects"
    );
    // The change stream is ordered: once the peer has the service's next change, it would
    // have had the forged one before it.
    assert_eq!(register(&app, event, 93).await.0, 200);
    eventually(
        "the peer has the change after the refused one",
        Duration::from_secs(10),
        async || ongoing_ids(&peer, 93).await == vec![event],
    )
    .await;
    assert_eq!(ongoing_ids(&peer, 92).await, Vec::<u64>::new());
    assert_eq!(ongoing_ids(&app, 92).await, Vec::<u64>::new());
    assert_eq!(app.state.ops.cache.sweep().await.unwrap().drift, 0);
    assert_eq!(peer.state.ops.cache.sweep().await.unwrap().drift, 0);
}
