//! What organizers see: totals per participant and per page, the CSV export and the report
//! page, on seeded rows (several participants, one private; several pages and wikis; titles
//! with commas, quotes, line breaks and non-Latin scripts).

use chrono::{DateTime, TimeZone, Utc};
use serde_json::{json, Value};

use crate::cache::event_between;
use crate::helpers::*;

const ORGANIZER: u64 = 1;
const PRIVATE: u64 = 12;

fn titles() -> [&'static str; 5] {
    [
        "=HYPERLINK(\"https://example.org\")",
        "Porto, Portugal",
        "The \"Quoted\" One",
        "Two\nLines",
        "Ελληνικά 日本語 עברית",
    ]
}

/// A tracking event on two wikis, in `tz`, from 2026-11-20 to 2026-11-23 UTC; participants
/// 11 (public), 12 (private) and 13 (public); 20 rows over five pages and two wikis, one
/// row every 3 hours from 2026-11-20 15:00 UTC.
async fn seeded(app: &TestApp, tz: &str) -> (u64, Vec<DateTime<Utc>>) {
    let start = Utc.with_ymd_and_hms(2026, 11, 20, 0, 0, 0).unwrap();
    let end = Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap();
    let mut body = event_between(start, end, &["ptwiki", "enwiki"]);
    body["timezone"] = json!(tz);
    body["track_contributions"] = json!(true);
    let event = app.create_event(ORGANIZER, &body).await;
    let db = app.db().await;
    for (user, private) in [(11_i64, false), (PRIVATE as i64, true), (13, false)] {
        db.execute(
            "INSERT INTO ce_participants (event_id, user_id, private, registered_at, last_change_at) \
             VALUES ($1, $2, $3, now(), now())",
            &[&(event as i64), &user, &private],
        )
        .await
        .unwrap();
    }
    let mut times = Vec::new();
    for i in 0..20_i64 {
        let user = 11 + i % 3;
        let page = i % 5;
        let wiki = if page == 4 { "enwiki" } else { "ptwiki" };
        let at =
            Utc.with_ymd_and_hms(2026, 11, 20, 15, 0, 0).unwrap() + chrono::Duration::hours(3 * i);
        times.push(at);
        db.execute(
            "INSERT INTO ce_associate_edit_to_event (event_id, user_id, user_name, wiki_id, \
             revision_id, parent_revision_id, page_id, page_title, namespace, bytes_added, \
             bytes_removed, chars_added, chars_removed, links_added, links_removed, refs_added, \
             refs_removed, is_new_article, rev_timestamp, associated_at) \
             VALUES ($1,$2,$3,$4,$5,$6,$7,$8,0,$9,$10,$9,$10,$11,0,$12,0,$13,$14,$14)",
            &[
                &(event as i64),
                &user,
                &format!("User {user}"),
                &wiki,
                &(event as i64 * 1000 + i),
                &(if i < 5 {
                    None
                } else {
                    Some(event as i64 * 1000 + i - 1)
                }),
                &(100 + page),
                &titles()[page as usize],
                &(10 * (i + 1)),
                &i,
                &((i % 4) as i32),
                &((i % 2) as i32),
                &(i < 5),
                &at,
            ],
        )
        .await
        .unwrap();
    }
    (event, times)
}

async fn get(app: &TestApp, url: &str, tok: Option<&str>) -> (u16, Value) {
    let mut req = app.http.get(url);
    if let Some(t) = tok {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.unwrap();
    (
        resp.status().as_u16(),
        resp.json().await.unwrap_or(Value::Null),
    )
}

/// Every item of a paged report route, following `continue` with pages of `limit`.
async fn all_pages(
    app: &TestApp,
    event: u64,
    what: &str,
    limit: u32,
    tok: Option<&str>,
) -> Vec<Value> {
    let mut items = Vec::new();
    let mut cont: Option<String> = None;
    loop {
        let mut url = app.v0(&format!(
            "/event_registration/{event}/contributions/{what}?limit={limit}"
        ));
        if let Some(c) = &cont {
            url.push_str(&format!("&continue={c}"));
        }
        let (s, body) = get(app, &url, tok).await;
        assert_eq!(s, 200, "{body}");
        items.extend(body[what].as_array().unwrap().iter().cloned());
        match body["continue"].as_str() {
            Some(c) => cont = Some(c.to_owned()),
            None => return items,
        }
    }
}

fn sum(items: &[Value], field: &str) -> i64 {
    items.iter().map(|v| v[field].as_i64().unwrap()).sum()
}

#[tokio::test]
async fn totals_per_participant_and_per_page_add_up_to_the_summary_and_hide_private_participants() {
    let app = spawn_app().await;
    let (event, _) = seeded(&app, "Europe/Lisbon").await;
    let (_, summary) = app
        .get_json(&app.v0(&format!(
            "/event_registration/{event}/contributions/summary"
        )))
        .await;
    assert_eq!(
        (
            summary["edits"].as_i64(),
            summary["articles_edited"].as_i64(),
            summary["wikis"].as_i64()
        ),
        (Some(20), Some(5), Some(2)),
        "{summary}"
    );

    let people = all_pages(&app, event, "participants", 2, None).await;
    assert_eq!(people.len(), 3);
    for f in [
        "edits",
        "articles_created",
        "bytes_added",
        "bytes_removed",
        "links_added",
        "refs_added",
    ] {
        assert_eq!(sum(&people, f), summary[f].as_i64().unwrap(), "{f}");
    }
    let pages = all_pages(&app, event, "pages", 2, None).await;
    assert_eq!(pages.len(), 5);
    for f in [
        "edits",
        "bytes_added",
        "bytes_removed",
        "links_added",
        "refs_added",
    ] {
        assert_eq!(sum(&pages, f), summary[f].as_i64().unwrap(), "{f}");
    }
    assert_eq!(
        pages
            .iter()
            .filter(|p| p["created_in_event"] == true)
            .count(),
        5
    );

    // The private participant: hidden from anyone, shown to themselves and the organizer.
    let names = |items: &[Value]| -> Vec<String> {
        let mut n: Vec<String> = items
            .iter()
            .map(|p| p["user_name"].as_str().unwrap().to_owned())
            .collect();
        n.sort();
        n
    };
    assert_eq!(
        names(&people),
        ["Private participant", "User 11", "User 13"]
    );
    assert!(people.iter().any(|p| p["user_id"].is_null()));
    let someone = token(13, "User 13", &[]);
    let own = token(PRIVATE, "User 12", &[]);
    let organizer = organizer_token(ORGANIZER);
    assert_eq!(
        names(&all_pages(&app, event, "participants", 50, Some(&someone)).await),
        ["Private participant", "User 11", "User 13"]
    );
    for tok in [&own, &organizer] {
        assert_eq!(
            names(&all_pages(&app, event, "participants", 50, Some(tok)).await),
            ["User 11", "User 12", "User 13"]
        );
    }

    // Bad windows are 400s, not empty pages.
    for q in [
        "limit=0",
        "limit=501",
        "continue=0",
        "continue=abc",
        "continue=+5",
    ] {
        let (s, body) = get(
            &app,
            &app.v0(&format!(
                "/event_registration/{event}/contributions/participants?{q}"
            )),
            None,
        )
        .await;
        assert_eq!(s, 400, "{q}: {body}");
    }
}

/// The CSV as a strict RFC 4180 reader sees it (the BOM taken off first).
async fn csv_records(app: &TestApp, event: u64, tok: Option<&str>) -> Vec<Vec<String>> {
    let mut req = app
        .http
        .get(app.v0(&format!("/event_registration/{event}/contributions.csv")));
    if let Some(t) = tok {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-type"],
        "text/csv; charset=utf-8; header=present"
    );
    let bytes = resp.bytes().await.unwrap();
    let text = std::str::from_utf8(&bytes).expect("UTF-8");
    let text = text.strip_prefix('\u{feff}').expect("a byte-order mark");
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(false)
        .from_reader(text.as_bytes());
    reader
        .records()
        .map(|r| {
            r.expect("a well-formed record")
                .iter()
                .map(str::to_owned)
                .collect()
        })
        .collect()
}

#[tokio::test]
async fn the_csv_has_one_record_per_row_with_every_title_intact_and_local_times() {
    let app = spawn_app().await;
    let (event, times) = seeded(&app, "Asia/Kolkata").await;
    let records = csv_records(&app, event, None).await;
    assert_eq!(records.len(), 21, "a header and one record per row");
    let header = &records[0];
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let mut seen: Vec<String> = records[1..]
        .iter()
        .map(|r| r[col("page_title")].clone())
        .collect();
    seen.sort();
    seen.dedup();
    // A title a spreadsheet would run as a formula is made inert with an apostrophe.
    let mut expected: Vec<String> = titles()
        .iter()
        .map(|t| campaign_events::reports::csv::inert(t).into_owned())
        .collect();
    assert!(expected.iter().any(|t| t.starts_with("'=HYPERLINK")));
    expected.sort();
    assert_eq!(seen, expected);
    for (r, at) in records[1..].iter().zip(&times) {
        assert_eq!(
            r[col("timestamp_utc")],
            at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        );
        let local = DateTime::parse_from_rfc3339(&r[col("timestamp_local")]).unwrap();
        assert_eq!(local.offset().local_minus_utc(), 5 * 3600 + 1800);
        assert_eq!(local.with_timezone(&Utc), *at);
    }
    // The private participant: by name and id only to themselves and organizers.
    let private_rows = |records: &[Vec<String>]| {
        records[1..]
            .iter()
            .filter(|r| r[col("user_name")] == "Private participant")
            .inspect(|r| assert_eq!(r[col("user_id")], ""))
            .count()
    };
    assert!(private_rows(&records) > 0);
    assert!(!records.iter().flatten().any(|f| f == "User 12"));
    let organizer = csv_records(&app, event, Some(&organizer_token(ORGANIZER))).await;
    assert_eq!(private_rows(&organizer), 0);
    assert!(organizer[1..]
        .iter()
        .any(|r| r[col("user_name")] == "User 12"));
}

/// The page, rendered by headless Chromium, shows the JSON's numbers and puts edits on the
/// event's local days: in Kolkata (+05:30) and Los Angeles (−08:00) the same instants fall
/// on different days.
#[tokio::test]
async fn the_report_page_shows_the_jsons_numbers_on_the_events_local_days() {
    let app = spawn_app().await;
    for (tz, offset_minutes) in [("Asia/Kolkata", 330), ("America/Los_Angeles", -480)] {
        let (event, times) = seeded(&app, tz).await;
        let url = app.url(&format!("/event/{event}"));
        let dom = tokio::task::spawn_blocking(move || crate::dashboard::render(&url))
            .await
            .unwrap();
        let (_, summary) = app
            .get_json(&app.v0(&format!(
                "/event_registration/{event}/contributions/summary"
            )))
            .await;
        for (attr, field) in [
            ("data-edits", "edits"),
            ("data-participants", "participants"),
            ("data-articles-edited", "articles_edited"),
        ] {
            assert!(
                dom.contains(&format!("{attr}=\"{}\"", summary[field])),
                "{tz}: {attr} {}",
                summary[field]
            );
        }
        assert!(dom.contains("Private participant"), "{tz}");
        assert!(
            !dom.contains("User 12"),
            "{tz}: a private participant's name"
        );
        assert!(dom.contains("contributions.csv"));
        let mut expected = std::collections::BTreeMap::new();
        for at in &times {
            let day = (*at + chrono::Duration::minutes(offset_minutes)).date_naive();
            *expected.entry(day).or_insert(0) += 1;
        }
        for (day, n) in expected {
            assert!(
                dom.contains(&format!("data-day=\"{day}\" data-value=\"{n}\"")),
                "{tz}: {day} should have {n} edits"
            );
        }
    }
    // Unknown and deleted events: the API's 404.
    let (s, body) = app.get_json(&app.url("/event/987654")).await;
    assert_eq!(
        assert_error_shape(s, &body),
        "campaignevents-rest-event-not-found"
    );
}
