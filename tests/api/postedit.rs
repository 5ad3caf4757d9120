//! The post-edit module (`GET /postedit.js`) end to end: a real MediaWiki 1.39
//! (`crate::support::mediawiki`) loads it from `MediaWiki:Common.js`, a real headless Chromium
//! (`crate::support::browser`) logs in through `Special:UserLogin` and saves edits through the
//! edit form, and the test clicks what the dialog offers and checks what the service stored.
//!
//! The wiki and the service both listen on 127.0.0.1 (different ports), so the wiki's
//! host-only cookies reach the service, as they would behind the wiki's reverse proxy.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{json, Value};

use crate::cache::event_hours;
use crate::helpers::*;
use crate::support::browser::{screenshot_path, Browser};
use crate::support::mediawiki::{TestWiki, WikiSession};

/// How long an association may take to be stored (queued, diffed against the wiki, committed)
/// on a busy machine.
const STORED_WITHIN: Duration = Duration::from_secs(90);

/// The test wiki's `$wgDBname` is `wiki`: the module names the wiki by it.
const WIKI: &str = "wiki";

/// A service that knows the test wiki as `wiki`, its users signed in with its cookies.
async fn service_for(wiki: &TestWiki) -> TestApp {
    let file = write_wikis_file(&format!(
        "[wikis.{WIKI}]\napi = \"{}\"\norigin = \"{}\"\nsessions = true\n",
        wiki.api_url(),
        wiki.origin()
    ));
    spawn_app_with(|s| s.common.wikis_file = Some(file)).await
}

/// Installs the module on the wiki as its admin would: one line in `MediaWiki:Common.js`.
async fn install_module(wiki: &TestWiki, script_url: &str) {
    let admin = wiki.login(&wiki.admin).await;
    admin
        .edit(
            "MediaWiki:Common.js",
            &format!("mw.loader.load( '{script_url}' );\n"),
            "Install the campaign-events post-edit module",
        )
        .await;
}

/// A request to the service with `session`'s cookies, from the wiki's pages.
fn from_wiki(
    app: &TestApp,
    wiki: &TestWiki,
    session: &WikiSession,
    method: reqwest::Method,
    url: &str,
) -> reqwest::RequestBuilder {
    app.http
        .request(method, url)
        .header("cookie", session.cookie_header())
        .header("origin", wiki.origin())
}

async fn answer(req: reqwest::RequestBuilder) -> (u16, Value) {
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// Creates an ongoing event on `wiki` tracking contributions, as the organizer (with the
/// wiki's cookies and CSRF token); returns its id.
async fn create_event(app: &TestApp, wiki: &TestWiki, name: &str) -> u64 {
    let organizer = wiki.login(&wiki.organizer).await;
    let mut body = event_hours(chrono::Utc::now(), -1, 3, &[WIKI]);
    body["event_name"] = json!(name);
    body["token"] = json!(organizer.csrf_token());
    let (s, v) = answer(
        from_wiki(
            app,
            wiki,
            &organizer,
            reqwest::Method::POST,
            &app.v0("/event_registration"),
        )
        .json(&body),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    v["id"].as_u64().unwrap()
}

/// Registers `session`'s user for `event` (with the wiki's cookies and CSRF token).
async fn register(app: &TestApp, wiki: &TestWiki, session: &WikiSession, event: u64) {
    let (s, v) = answer(
        from_wiki(
            app,
            wiki,
            session,
            reqwest::Method::PUT,
            &app.v0(&format!("/event_registration/{event}/participants/self")),
        )
        .header("x-csrf-token", session.csrf_token())
        .json(&json!({"is_private": false})),
    )
    .await;
    assert_eq!(s, 200, "{v}");
}

/// `events_for_edit` of `session`'s user on the test wiki: the event ids.
async fn events_for_edit(app: &TestApp, wiki: &TestWiki, session: &WikiSession) -> Vec<u64> {
    let (s, v) = answer(from_wiki(
        app,
        wiki,
        session,
        reqwest::Method::GET,
        &app.v0(&format!("/participant/self/events_for_edit?wiki={WIKI}")),
    ))
    .await;
    assert_eq!(s, 200, "{v}");
    v.as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_u64().unwrap())
        .collect()
}

/// The stored contributions of `event` (public listing, newest first).
async fn contributions(app: &TestApp, event: u64) -> Vec<Value> {
    let (s, v) = app
        .get_json(&app.v0(&format!(
            "/event_registration/{event}/contributions?limit=50"
        )))
        .await;
    assert_eq!(s, 200, "{v}");
    v["contributions"].as_array().unwrap().clone()
}

/// Waits until `event` has the row of `revision`; returns it.
async fn stored_row(app: &TestApp, event: u64, revision: u64) -> Value {
    let mut row = Value::Null;
    eventually(
        &format!("revision {revision} stored for event {event}"),
        STORED_WITHIN,
        async || {
            row = contributions(app, event)
                .await
                .into_iter()
                .find(|r| r["revision_id"] == json!(revision))
                .unwrap_or(Value::Null);
            !row.is_null()
        },
    )
    .await;
    row
}

/// Waits until the module has handled the save of `revision` (it shows a final state on
/// `<html>`: anything but "dialog") and asserts that the state is `state`.
async fn wait_for_outcome(browser: &Browser, revision: u64, state: &str) {
    let got = browser
        .wait_for_js(
            &format!("the module's outcome for revision {revision}"),
            &format!(
                "document.documentElement.getAttribute('data-ce-postedit-revision') === '{revision}' \
                 && document.documentElement.getAttribute('data-ce-postedit') !== 'dialog' \
                 && document.documentElement.getAttribute('data-ce-postedit')"
            ),
        )
        .await;
    assert_eq!(
        got,
        json!(state),
        "the module's outcome for revision {revision}"
    );
}

/// The dialog's text, once it is shown.
async fn dialog_text(browser: &Browser) -> String {
    browser
        .wait_for_css(".ce-postedit-dialog.oo-ui-window-ready .ce-postedit-question")
        .await;
    browser.wait_for_animations().await;
    browser
        .wait_for_js(
            "the dialog's question",
            "document.querySelector('.ce-postedit-dialog .ce-postedit-question').textContent",
        )
        .await
        .as_str()
        .unwrap()
        .to_owned()
}

/// Waits until no post-edit dialog is displayed.
async fn dialog_closed(browser: &Browser) {
    browser
        .wait_for_js(
            "the dialog closed",
            "!Array.from(document.querySelectorAll('.ce-postedit-dialog'))\
             .some(e => e.offsetParent !== null)",
        )
        .await;
}

/// Whether a post-edit dialog is displayed now.
async fn dialog_shown(browser: &Browser) -> bool {
    browser
        .js(
            "return Array.from(document.querySelectorAll('.ce-postedit-dialog'))\
             .some(e => e.offsetParent !== null);",
        )
        .await
        == json!(true)
}

/// The sizes of `revision` and of its parent (0 for a page's first revision), as MediaWiki's
/// API reports them, and the parent's id.
async fn sizes(wiki: &TestWiki, revision: u64) -> (i64, i64, Option<u64>) {
    let rev = wiki
        .api_get(&[
            ("action", "query"),
            ("prop", "revisions"),
            ("revids", &revision.to_string()),
            ("rvprop", "ids|size"),
        ])
        .await;
    let r = &rev["query"]["pages"][0]["revisions"][0];
    let size = r["size"].as_i64().unwrap_or_else(|| panic!("{rev}"));
    let parent = r["parentid"].as_u64().filter(|p| *p > 0);
    let parent_size = match parent {
        None => 0,
        Some(p) => {
            let v = wiki
                .api_get(&[
                    ("action", "query"),
                    ("prop", "revisions"),
                    ("revids", &p.to_string()),
                    ("rvprop", "size"),
                ])
                .await;
            v["query"]["pages"][0]["revisions"][0]["size"]
                .as_i64()
                .unwrap_or_else(|| panic!("{v}"))
        }
    };
    (size, parent_size, parent)
}

/// The pages the parser records as linked from `revision` (`action=parse&prop=links`).
async fn parser_links(wiki: &TestWiki, revision: u64) -> BTreeSet<String> {
    let v = wiki
        .api_get(&[
            ("action", "parse"),
            ("oldid", &revision.to_string()),
            ("prop", "links"),
        ])
        .await;
    v["parse"]["links"]
        .as_array()
        .unwrap_or_else(|| panic!("{v}"))
        .iter()
        .map(|l| l["title"].as_str().unwrap().to_owned())
        .collect()
}

/// Asserts that a stored row measured the edit as MediaWiki does: the size delta its API
/// reports, and the pages its parser records as linked, added and removed.
async fn assert_measured_as_mediawiki_does(wiki: &TestWiki, row: &Value, revision: u64) {
    let (size, parent_size, parent) = sizes(wiki, revision).await;
    let delta = row["bytes_added"].as_i64().unwrap() - row["bytes_removed"].as_i64().unwrap();
    assert_eq!(delta, size - parent_size, "{row}");
    let now = parser_links(wiki, revision).await;
    let before = match parent {
        Some(p) => parser_links(wiki, p).await,
        None => BTreeSet::new(),
    };
    assert!(!now.is_empty(), "the test edit has links");
    assert_eq!(
        row["links_added"].as_u64().unwrap(),
        now.difference(&before).count() as u64,
        "{row}; parser: {now:?}, before {before:?}"
    );
    assert_eq!(
        row["links_removed"].as_u64().unwrap(),
        before.difference(&now).count() as u64,
        "{row}; parser: {now:?}, before {before:?}"
    );
}

/// Asserts that the page reached no JavaScript error (uncaught, unhandled rejection,
/// `console.error`) nor a `SEVERE` JavaScript entry in the browser's console.
async fn assert_no_js_errors(browser: &Browser) {
    let errors = browser.js_errors().await;
    assert!(errors.is_empty(), "JavaScript errors: {errors:?}");
    let severe: Vec<Value> = browser
        .console_log()
        .await
        .into_iter()
        .filter(|e| e["level"] == "SEVERE" && e["source"] != "network")
        .collect();
    assert!(severe.is_empty(), "console: {severe:?}");
}

#[tokio::test]
async fn postedit_script_is_served_with_a_strong_etag_and_304() {
    let app = spawn_app().await;
    let resp = app.http.get(app.url("/postedit.js")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let h = resp.headers().clone();
    assert_eq!(h["content-type"], "text/javascript; charset=utf-8");
    assert_eq!(h["cache-control"], "public, max-age=300");
    let tag = h["etag"].to_str().unwrap().to_owned();
    assert!(
        tag.starts_with('"') && tag.ends_with('"'),
        "a strong tag: {tag}"
    );
    let body = resp.text().await.unwrap();
    assert_eq!(body, include_str!("../../src/association/postedit.js"));

    let resp = app
        .http
        .get(app.url("/postedit.js"))
        .header("if-none-match", &tag)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 304);
    assert_eq!(resp.headers()["etag"], tag.as_str());
    assert!(resp.bytes().await.unwrap().is_empty());
    // Another tag: the script again.
    let resp = app
        .http
        .get(app.url("/postedit.js"))
        .header("if-none-match", "\"0000000000000000\"")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

/// "Yes" stores the edit as MediaWiki measures it; "No, thanks" stores nothing.
#[tokio::test]
async fn postedit_yes_associates_the_edit_and_no_thanks_stores_nothing() {
    let wiki = TestWiki::start().await;
    let app = service_for(&wiki).await;
    install_module(&wiki, &app.url("/postedit.js")).await;
    // A name with markup and quotes: the dialog and the notification show it as text.
    let name = r#"Women <b>in</b> Red & "Co""#;
    let event = create_event(&app, &wiki, name).await;
    let participant = wiki.login(&wiki.participant).await;
    register(&app, &wiki, &participant, event).await;

    let browser = Browser::start().await;
    browser.login(&wiki, &wiki.participant).await;

    // Yes.
    let text = "Lovelace was a [[mathematician]] who worked with [[Charles Babbage|Babbage]] \
                on the [[Analytical Engine]].\n\nSee also [[Mathematician]] and \
                [https://example.org an external site].";
    let yes = browser
        .edit(&wiki, "Ada Lovelace", text, "A first article")
        .await;
    let question = dialog_text(&browser).await;
    assert_eq!(question, format!("Associate this edit with {name}?"));
    assert_eq!(
        browser
            .js("return document.querySelectorAll('.ce-postedit-dialog b').length;")
            .await,
        json!(0),
        "the name is text, not HTML"
    );
    // One event: no choice to make.
    assert_eq!(
        browser
            .js("return Array.from(document.querySelectorAll('.ce-postedit-dialog .ce-postedit-choice')).some(e => e.offsetParent !== null);")
            .await,
        json!(false)
    );
    browser
        .screenshot(&screenshot_path("postedit-dialog.png"))
        .await;
    browser.click_button("Yes").await;
    dialog_closed(&browser).await;
    wait_for_outcome(&browser, yes, "associated").await;
    let note = browser
        .wait_for_css(".mw-notification .ce-postedit-associated")
        .await;
    assert_eq!(
        note.text().await.unwrap(),
        format!("Your edit was associated with {name}.")
    );
    let href = browser
        .js("return document.querySelector('.mw-notification .ce-postedit-associated a').href;")
        .await;
    assert_eq!(href, json!(app.url(&format!("/event/{event}?wiki={WIKI}"))));
    let row = stored_row(&app, event, yes).await;
    assert_eq!(row["user_name"], wiki.participant.name, "{row}");
    assert_eq!(row["wiki_id"], WIKI, "{row}");
    assert_eq!(row["page_title"], "Ada Lovelace", "{row}");
    assert_measured_as_mediawiki_does(&wiki, &row, yes).await;
    assert_no_js_errors(&browser).await;

    // No, thanks: nothing sent. Proven by a later edit's association being stored while the
    // declined one never is (the later one was queued after it would have been).
    let declined = browser
        .edit(
            &wiki,
            "Ada Lovelace",
            &format!("{text}\n\nShe wrote the first [[algorithm]]."),
            "More",
        )
        .await;
    assert_eq!(
        dialog_text(&browser).await,
        format!("Associate this edit with {name}?")
    );
    browser.click_button("No, thanks").await;
    dialog_closed(&browser).await;
    wait_for_outcome(&browser, declined, "declined").await;
    let later = browser
        .edit(
            &wiki,
            "Charles Babbage",
            "Babbage designed the [[Difference Engine]].",
            "New",
        )
        .await;
    dialog_text(&browser).await;
    browser.click_button("Yes").await;
    wait_for_outcome(&browser, later, "associated").await;
    let row = stored_row(&app, event, later).await;
    assert_measured_as_mediawiki_does(&wiki, &row, later).await;
    let stored: Vec<u64> = contributions(&app, event)
        .await
        .iter()
        .map(|r| r["revision_id"].as_u64().unwrap())
        .collect();
    assert_eq!(stored, vec![later, yes], "the declined edit is not stored");

    // The notification's link: the event's report page, with both edits counted.
    browser.goto(href.as_str().unwrap()).await;
    let summary = browser.wait_for_css("#summary").await;
    assert_eq!(
        summary.attr("data-edits").await.unwrap().as_deref(),
        Some("2")
    );
    assert!(summary.text().await.unwrap().contains("made 2 edits"));
    assert_no_js_errors(&browser).await;
    assert_eq!(
        app.count(
            "SELECT count(*) FROM ce_associate_edit_to_event WHERE revision_id = $1",
            &[&(declined as i64)]
        )
        .await,
        0
    );
    assert_eq!(
        app.count("SELECT count(*) FROM ce_dead_letters", &[]).await,
        0
    );
    assert_no_js_errors(&browser).await;

    // An error answer: the user left the event while the dialog was open; "Yes" shows the
    // service's own message as an error notification, and the page goes on.
    let refused = browser
        .edit(
            &wiki,
            "Charles Babbage",
            "Babbage designed the [[Difference Engine]] and more.",
            "More",
        )
        .await;
    dialog_text(&browser).await;
    let registration = app.v0(&format!("/event_registration/{event}/participants/self"));
    let (s, v) = answer(
        from_wiki(
            &app,
            &wiki,
            &participant,
            reqwest::Method::DELETE,
            &registration,
        )
        .header("x-csrf-token", participant.csrf_token()),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    browser.click_button("Yes").await;
    wait_for_outcome(&browser, refused, "failed").await;
    let (s, v) = answer(
        from_wiki(
            &app,
            &wiki,
            &participant,
            reqwest::Method::PUT,
            &app.v0(&format!(
                "/event_registration/{event}/edits/{WIKI}/{refused}"
            )),
        )
        .header("x-csrf-token", participant.csrf_token()),
    )
    .await;
    assert_eq!(s, 403, "{v}");
    let message = v["messageTranslations"]["en"].as_str().unwrap();
    let note = browser
        .wait_for_css(".mw-notification.mw-notification-type-error")
        .await;
    assert_eq!(note.text().await.unwrap(), message);
    assert_no_js_errors(&browser).await;
}

/// "Don't ask again for this event": no dialog on the next save, and `events_for_edit` no
/// longer lists the event.
#[tokio::test]
async fn postedit_dont_ask_again_hides_the_prompt_for_that_event() {
    let wiki = TestWiki::start().await;
    let app = service_for(&wiki).await;
    install_module(&wiki, &app.url("/postedit.js")).await;
    let event = create_event(&app, &wiki, "Hidden later").await;
    let participant = wiki.login(&wiki.participant).await;
    register(&app, &wiki, &participant, event).await;

    let browser = Browser::start().await;
    browser.login(&wiki, &wiki.participant).await;
    let first = browser
        .edit(&wiki, "Sandbox", "A [[test]] edit.", "Try")
        .await;
    assert_eq!(
        dialog_text(&browser).await,
        "Associate this edit with Hidden later?"
    );
    browser.click_button("Don't ask again for this event").await;
    dialog_closed(&browser).await;
    wait_for_outcome(&browser, first, "hidden").await;
    assert!(
        events_for_edit(&app, &wiki, &participant).await.is_empty(),
        "the event is no longer offered"
    );
    // Still a participant, still public: only the prompt is hidden.
    let (s, v) = answer(from_wiki(
        &app,
        &wiki,
        &participant,
        reqwest::Method::GET,
        &app.v0(&format!(
            "/event_registration/{event}/participants/self?wiki={WIKI}"
        )),
    ))
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["is_private"], false, "{v}");
    assert_eq!(v["hide_contribution_association_prompt"], true, "{v}");

    let next = browser
        .edit(&wiki, "Sandbox", "Another [[test]] edit.", "Again")
        .await;
    wait_for_outcome(&browser, next, "none").await;
    assert!(!dialog_shown(&browser).await, "no dialog after hiding");
    assert!(contributions(&app, event).await.is_empty());
    assert_no_js_errors(&browser).await;
}

/// With two events the user chooses, and the edit goes to the chosen one; a user who takes
/// part in no event sees nothing (the module ran and got its answer).
#[tokio::test]
async fn postedit_two_events_offer_a_choice_and_a_non_participant_sees_nothing() {
    let wiki = TestWiki::start().await;
    let app = service_for(&wiki).await;
    install_module(&wiki, &app.url("/postedit.js")).await;
    let first = create_event(&app, &wiki, "First event").await;
    let second = create_event(&app, &wiki, "Second event").await;
    let participant = wiki.login(&wiki.participant).await;
    register(&app, &wiki, &participant, first).await;
    register(&app, &wiki, &participant, second).await;

    let browser = Browser::start().await;
    browser.login(&wiki, &wiki.participant).await;
    let revision = browser
        .edit(&wiki, "Two events", "Written for [[both]] events.", "Both")
        .await;
    // The first is preselected, and the question names the selected event.
    assert_eq!(
        dialog_text(&browser).await,
        "Associate this edit with First event?"
    );
    let options = browser
        .js(
            "return Array.from(document.querySelectorAll('.ce-postedit-dialog .ce-postedit-choice .oo-ui-radioOptionWidget'))\
             .map(o => [o.textContent.trim(), o.getAttribute('aria-checked') === 'true' || o.classList.contains('oo-ui-optionWidget-selected')]);",
        )
        .await;
    assert_eq!(
        options,
        json!([["First event", true], ["Second event", false]])
    );
    browser
        .wait_for_css(
            ".ce-postedit-dialog .ce-postedit-choice .oo-ui-radioOptionWidget:nth-child(2)",
        )
        .await
        .click()
        .await
        .unwrap();
    browser
        .wait_for_js(
            "the question follows the choice",
            "document.querySelector('.ce-postedit-dialog .ce-postedit-question').textContent === \
             'Associate this edit with Second event?'",
        )
        .await;
    browser
        .screenshot(&screenshot_path("postedit-dialog-choice.png"))
        .await;
    browser.click_button("Yes").await;
    wait_for_outcome(&browser, revision, "associated").await;
    let row = stored_row(&app, second, revision).await;
    assert_eq!(row["event_id"], json!(second), "{row}");
    assert!(contributions(&app, first).await.is_empty());
    assert_no_js_errors(&browser).await;

    // The organizer takes part in nothing: the module asks, gets an empty list, shows nothing.
    let other = Browser::start().await;
    other.login(&wiki, &wiki.organizer).await;
    let revision = other
        .edit(&wiki, "Organizer's page", "Notes on [[planning]].", "Notes")
        .await;
    wait_for_outcome(&other, revision, "none").await;
    assert_eq!(
        other
            .js("return window.ceEventsForEditDone === true;")
            .await,
        json!(true)
    );
    assert!(!dialog_shown(&other).await);
    assert_no_js_errors(&other).await;
}

/// The service unreachable: while the script is loaded (its requests fail) and once the
/// service is stopped (the script itself cannot load), the save works, no dialog is shown and
/// no exception reaches the console.
#[tokio::test]
async fn postedit_service_down_the_save_works_without_dialog_or_error() {
    let wiki = TestWiki::start().await;
    let app = service_for(&wiki).await;
    install_module(&wiki, &app.url("/postedit.js")).await;
    let event = create_event(&app, &wiki, "Unreachable").await;
    let participant = wiki.login(&wiki.participant).await;
    register(&app, &wiki, &participant, event).await;

    let browser = Browser::start().await;
    browser.login(&wiki, &wiki.participant).await;

    // The script loads, but its requests to the service fail (blocked as a dead network
    // would: "Failed to fetch").
    browser.cdp("Network.enable", json!({})).await;
    browser
        .cdp(
            "Network.setBlockedURLs",
            json!({ "urls": [format!("{}/rest.php/*", app.url(""))] }),
        )
        .await;
    let revision = browser
        .edit(
            &wiki,
            "Offline",
            "Saved while the [[service]] is away.",
            "Away",
        )
        .await;
    wait_for_outcome(&browser, revision, "error").await;
    assert!(!dialog_shown(&browser).await);
    assert_no_js_errors(&browser).await;
    browser
        .cdp("Network.setBlockedURLs", json!({ "urls": [] }))
        .await;

    // The service hangs: its requests are held and never answered (the Fetch domain pauses
    // them and no one lets them go). The module gives up at its own deadline, quietly.
    browser
        .cdp(
            "Fetch.enable",
            json!({ "patterns": [{ "urlPattern": format!("{}/rest.php/*", app.url("")) }] }),
        )
        .await;
    let revision = browser
        .edit(
            &wiki,
            "Offline",
            "Saved while the [[service]] does not answer.",
            "Hanging",
        )
        .await;
    wait_for_outcome(&browser, revision, "error").await;
    assert!(!dialog_shown(&browser).await);
    assert_no_js_errors(&browser).await;
    browser.cdp("Fetch.disable", json!({})).await;

    // The service stopped: the script itself does not load (no cached copy either).
    drop(app);
    browser
        .cdp("Network.setCacheDisabled", json!({ "cacheDisabled": true }))
        .await;
    let text = "Saved while the [[service]] is stopped.";
    let revision = browser.edit(&wiki, "Offline", text, "Stopped").await;
    let shown = browser
        .wait_for_css("#mw-content-text")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        shown.contains("Saved while the service is stopped."),
        "{shown}"
    );
    let v = wiki
        .api_get(&[("action", "query"), ("prop", "info"), ("titles", "Offline")])
        .await;
    assert_eq!(v["query"]["pages"][0]["lastrevid"], json!(revision), "{v}");
    // The page's site script ran and asked for the module, whose load then failed (the
    // loader removes the <script> element once it has loaded or failed) and it never ran.
    browser
        .wait_for_js(
            "the site script ran and the module's load ended",
            "window.mw && mw.loader.getState('site') === 'ready' && \
             !document.querySelector('script[src*=\"postedit.js\"]')",
        )
        .await;
    assert_eq!(
        browser
            .js("return document.documentElement.getAttribute('data-ce-postedit-revision');")
            .await,
        Value::Null
    );
    assert!(!dialog_shown(&browser).await);
    assert_no_js_errors(&browser).await;
}
