#![allow(dead_code)]
//! `Browser`: headless Chromium driven through chromedriver (WebDriver, with `fantoccini`), for
//! tests that use a wiki's pages as a person would — log in through `Special:UserLogin`, edit
//! through the edit form, click what a dialog offers — and check what the page showed.
//!
//! [`Browser::start`] runs `chromedriver --port=<free port>` in a process group of its own and
//! opens one headless session with a temporary profile; dropping the `Browser` kills that group
//! (chromedriver and the Chromium it started; Chromium's crash handlers, which leave the group,
//! end by themselves with it) and removes the profile.
//!
//! Every helper waits for an outcome (an element, a condition in the page) with a generous
//! deadline, never for a fixed time. JavaScript errors are collected in every page from its
//! first instant (a collector installed with the DevTools `Page.addScriptToEvaluateOnNewDocument`)
//! and can be read with [`Browser::js_errors`]; the browser's own console log (`goog:loggingPrefs`)
//! with [`Browser::console_log`].

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::wd::{Capabilities, WebDriverCompatibleCommand};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

use crate::helpers::{free_port, unique_name};
use crate::support::mediawiki::{TestWiki, WikiUser};

/// Debian's `chromium-driver`, or `$CHROMEDRIVER`.
fn chromedriver() -> String {
    std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".to_owned())
}

/// The Chromium binary itself (Debian's `/usr/bin/chromium` is a shell wrapper), or `$CHROMIUM`.
fn chromium() -> String {
    if let Ok(c) = std::env::var("CHROMIUM") {
        return c;
    }
    let real = "/usr/lib/chromium/chromium";
    if Path::new(real).exists() {
        real.to_owned()
    } else {
        "/usr/bin/chromium".to_owned()
    }
}

/// How long a page, an element or a condition may take on a busy 2-core CI machine.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// Installed in every document before its own scripts run: keeps uncaught errors, unhandled
/// rejections and `console.error` calls in `window.__ceJsErrors`.
const ERROR_COLLECTOR: &str = r#"
(function () {
  var errors = window.__ceJsErrors = [];
  window.addEventListener('error', function (e) {
    errors.push('error: ' + (e.message || String(e.error)) + ' at ' + (e.filename || '?') + ':' + (e.lineno || 0));
  });
  window.addEventListener('unhandledrejection', function (e) {
    var r = e.reason;
    errors.push('unhandled rejection: ' + (r && r.stack ? r.stack : String(r)));
  });
  var original = console.error;
  console.error = function () {
    try {
      errors.push('console.error: ' + Array.prototype.map.call(arguments, function (a) {
        return a && a.stack ? a.stack : String(a);
      }).join(' '));
    } catch (e) {}
    return original.apply(this, arguments);
  };
})();
"#;

/// The `url` crate's error, named through reqwest's re-exported `Url` (no direct dependency).
type UrlParseError = <reqwest::Url as std::str::FromStr>::Err;

/// A chromedriver command of its own (`POST /session/{id}/<path>` with a JSON body): the
/// DevTools passthrough (`goog/cdp/execute`) and the browser log (`se/log`).
#[derive(Debug)]
struct SessionPost {
    path: &'static str,
    body: Value,
}

impl WebDriverCompatibleCommand for SessionPost {
    fn endpoint(
        &self,
        base_url: &reqwest::Url,
        session_id: Option<&str>,
    ) -> Result<reqwest::Url, UrlParseError> {
        base_url.join(&format!(
            "session/{}/{}",
            session_id.unwrap_or_default(),
            self.path
        ))
    }

    fn method_and_body(&self, _: &reqwest::Url) -> (warp::http::Method, Option<String>) {
        (warp::http::Method::POST, Some(self.body.to_string()))
    }
}

/// One headless Chromium session, its chromedriver and its profile; all gone on drop.
pub struct Browser {
    client: Client,
    driver: Child,
    profile: PathBuf,
}

impl Browser {
    /// Starts chromedriver on a free port and opens a headless session (1280×900). Panics,
    /// with chromedriver's output, when it cannot.
    pub async fn start() -> Browser {
        let profile = std::env::temp_dir().join(unique_name("chromium-profile"));
        std::fs::create_dir_all(&profile).unwrap();
        let mut last_failure = String::new();
        // A port found free may be taken before chromedriver binds it: a few tries.
        for _ in 0..5 {
            let port = free_port();
            let log = profile.join(format!("chromedriver-{port}.log"));
            let mut driver = spawn_driver(port, &log);
            match connect(port, &profile, &mut driver).await {
                Ok(client) => {
                    let browser = Browser {
                        client,
                        driver,
                        profile,
                    };
                    browser
                        .cdp(
                            "Page.addScriptToEvaluateOnNewDocument",
                            json!({ "source": ERROR_COLLECTOR }),
                        )
                        .await;
                    browser
                        .client
                        .set_window_size(1280, 900)
                        .await
                        .expect("window size");
                    return browser;
                }
                Err(e) => {
                    kill_group(&mut driver);
                    last_failure = format!(
                        "{e}\nchromedriver's log:\n{}",
                        std::fs::read_to_string(&log).unwrap_or_default()
                    );
                }
            }
        }
        let _ = std::fs::remove_dir_all(&profile);
        panic!("browser: no session: {last_failure}");
    }

    /// The WebDriver client, for what the helpers do not cover.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// A DevTools command through chromedriver; panics when it fails.
    pub async fn cdp(&self, cmd: &str, params: Value) -> Value {
        self.client
            .issue_cmd(SessionPost {
                path: "goog/cdp/execute",
                body: json!({ "cmd": cmd, "params": params }),
            })
            .await
            .unwrap_or_else(|e| panic!("browser: {cmd}: {e}"))
    }

    /// Opens `url` and waits until the document has loaded.
    pub async fn goto(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("browser: goto {url}: {e}"));
        self.wait_for_js(
            &format!("{url} loaded"),
            "document.readyState === 'complete'",
        )
        .await;
    }

    /// The current page's URL.
    pub async fn url(&self) -> String {
        self.client.current_url().await.unwrap().to_string()
    }

    /// Runs `script` (a function body: `return …;`) in the page.
    pub async fn js(&self, script: &str) -> Value {
        self.client
            .execute(script, vec![])
            .await
            .unwrap_or_else(|e| panic!("browser: script {script:?}: {e}"))
    }

    /// Waits until the expression `condition` is truthy in the current page (errors while a
    /// page is loading count as not yet); returns its value. Panics after [`DEADLINE`],
    /// naming `what`.
    pub async fn wait_for_js(&self, what: &str, condition: &str) -> Value {
        let script = format!("return ({condition});");
        let deadline = Instant::now() + DEADLINE;
        let mut last;
        loop {
            match self.client.execute(&script, vec![]).await {
                Ok(v) if truthy(&v) => return v,
                Ok(v) => last = v.to_string(),
                Err(e) => last = e.to_string(),
            }
            if Instant::now() > deadline {
                let url = self.client.current_url().await.map(|u| u.to_string());
                panic!("browser: {what}: not within {DEADLINE:?} (last: {last}; at {url:?})");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until an element matching the CSS `selector` is displayed; returns it.
    pub async fn wait_for_css(&self, selector: &str) -> fantoccini::elements::Element {
        let deadline = Instant::now() + DEADLINE;
        loop {
            if let Ok(found) = self.client.find_all(Locator::Css(selector)).await {
                for e in found {
                    if e.is_displayed().await.unwrap_or(false) {
                        return e;
                    }
                }
            }
            if Instant::now() > deadline {
                let url = self.client.current_url().await.map(|u| u.to_string());
                panic!("browser: no {selector} displayed within {DEADLINE:?} (at {url:?})");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until no animation or CSS transition runs in the page (a dialog has finished
    /// opening), so that a screenshot shows it as it stays.
    pub async fn wait_for_animations(&self) {
        self.wait_for_js(
            "animations finished",
            "document.getAnimations().every(a => a.playState !== 'running')",
        )
        .await;
    }

    /// Types `text` into the field `selector` (cleared first), as a person would.
    pub async fn fill(&self, selector: &str, text: &str) {
        let field = self.wait_for_css(selector).await;
        field
            .clear()
            .await
            .unwrap_or_else(|e| panic!("browser: clear {selector}: {e}"));
        field
            .send_keys(text)
            .await
            .unwrap_or_else(|e| panic!("browser: type into {selector}: {e}"));
    }

    /// Clicks the displayed button (a `<button>`, an `<input type=submit|button>` or anything
    /// with `role=button`, OOUI's included) whose text is `text`; waits until there is one
    /// that takes the click (a dialog may still be opening).
    pub async fn click_button(&self, text: &str) {
        let t = xpath_literal(text);
        let xpath = format!(
            "//*[(self::button or @role='button' or (self::input and (@type='submit' or \
             @type='button'))) and (normalize-space(.)={t} or @value={t})]"
        );
        let deadline = Instant::now() + DEADLINE;
        let mut last = String::from("no such button");
        loop {
            if let Ok(found) = self.client.find_all(Locator::XPath(&xpath)).await {
                for e in found {
                    if !e.is_displayed().await.unwrap_or(false) {
                        continue;
                    }
                    match e.click().await {
                        Ok(()) => return,
                        Err(err) => last = err.to_string(),
                    }
                }
            }
            if Instant::now() > deadline {
                panic!("browser: no button {text:?} took a click within {DEADLINE:?}: {last}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Logs `user` in through `Special:UserLogin`, as a person would; waits until the wiki's
    /// page says they are signed in.
    pub async fn login(&self, wiki: &TestWiki, user: &WikiUser) {
        self.goto(&format!("{}?title=Special:UserLogin", wiki.index_url()))
            .await;
        self.fill("#wpName1", &user.name).await;
        self.fill("#wpPassword1", &user.password).await;
        self.wait_for_css("#wpLoginAttempt")
            .await
            .click()
            .await
            .expect("click log in");
        let name = serde_json::to_string(&user.name).unwrap();
        self.wait_for_js(
            &format!("signed in as {}", user.name),
            &format!(
                "document.readyState === 'complete' && window.mw && \
                 mw.config.get('wgUserName') === {name}"
            ),
        )
        .await;
    }

    /// Edits `title` through `index.php?title=T&action=edit` — types `text` and `summary`,
    /// clicks "Save changes" — and waits for the page shown after the save (`wgPostEdit` set);
    /// returns the saved revision's id. The text must change the page (a null edit makes no
    /// revision and shows no post-edit page).
    pub async fn edit(&self, wiki: &TestWiki, title: &str, text: &str, summary: &str) -> u64 {
        self.open_editor(wiki, title, text, summary).await;
        self.save().await
    }

    /// Opens the edit form of `title` and types `text` and `summary`, without saving.
    pub async fn open_editor(&self, wiki: &TestWiki, title: &str, text: &str, summary: &str) {
        let url = format!(
            "{}?title={}&action=edit",
            wiki.index_url(),
            urlencode(title)
        );
        self.goto(&url).await;
        self.fill("#wpTextbox1", text).await;
        self.fill("#wpSummary", summary).await;
    }

    /// Clicks "Save changes" on an open edit form; waits for the page after the save and
    /// returns its revision id.
    pub async fn save(&self) -> u64 {
        // Marks the edit form's document, so that the page after the save is told apart.
        self.js("document.documentElement.setAttribute('data-ce-editing', '1'); return null;")
            .await;
        self.wait_for_css("#wpSave")
            .await
            .click()
            .await
            .expect("click save");
        let v = self
            .wait_for_js(
                "the page after the save",
                "document.readyState === 'complete' && \
                 !document.documentElement.hasAttribute('data-ce-editing') && window.mw && \
                 mw.config.get('wgAction') === 'view' && !!mw.config.get('wgPostEdit') && \
                 mw.config.get('wgCurRevisionId')",
            )
            .await;
        v.as_u64()
            .unwrap_or_else(|| panic!("browser: revision id after the save: {v}"))
    }

    /// Saves a PNG of the window to `path` (its directory created).
    pub async fn screenshot(&self, path: &Path) {
        let png = self
            .client
            .screenshot()
            .await
            .unwrap_or_else(|e| panic!("browser: screenshot: {e}"));
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::write(path, png).unwrap();
    }

    /// The JavaScript errors of the current page so far: uncaught errors, unhandled
    /// rejections and `console.error` calls, collected from the page's first instant.
    pub async fn js_errors(&self) -> Vec<String> {
        let v = self.js("return window.__ceJsErrors || null;").await;
        let list = v
            .as_array()
            .unwrap_or_else(|| panic!("browser: no error collector in the page: {v}"));
        list.iter()
            .map(|e| e.as_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// The browser's console log since the last call (`level`, `source`, `message` of each
    /// entry: `source` is `javascript` for uncaught errors, `console-api` for console calls,
    /// `network` for failed loads).
    pub async fn console_log(&self) -> Vec<Value> {
        let v = self
            .client
            .issue_cmd(SessionPost {
                path: "se/log",
                body: json!({ "type": "browser" }),
            })
            .await
            .unwrap_or_else(|e| panic!("browser: console log: {e}"));
        v.as_array()
            .cloned()
            .unwrap_or_else(|| panic!("browser: the console log is not a list: {v}"))
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        kill_group(&mut self.driver);
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// Where a test's screenshots go: `$CARGO_TARGET_DIR/screenshots` (or `target/screenshots`).
pub fn screenshot_path(name: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("screenshots").join(name)
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

/// `text` as an XPath 1.0 string literal (which has no escapes: `concat` when it holds both
/// quote characters).
fn xpath_literal(text: &str) -> String {
    if !text.contains('\'') {
        format!("'{text}'")
    } else if !text.contains('"') {
        format!("\"{text}\"")
    } else {
        let parts: Vec<String> = text.split('\'').map(|p| format!("'{p}'")).collect();
        format!("concat({})", parts.join(", \"'\", "))
    }
}

fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// `chromedriver --port=PORT` in a process group of its own (Chromium is its child), dying
/// with the test process.
fn spawn_driver(port: u16, log: &Path) -> Child {
    let mut cmd = Command::new(chromedriver());
    cmd.arg(format!("--port={port}"))
        .arg(format!("--log-path={}", log.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0);
    // SAFETY: prctl is async-signal-safe; if the test process dies without dropping the
    // browser, chromedriver goes too.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    cmd.spawn().unwrap_or_else(|e| {
        panic!(
            "browser: cannot run {} ({e}); install Debian's chromium-driver or set CHROMEDRIVER",
            chromedriver()
        )
    })
}

/// Waits for chromedriver to answer, then opens a headless session.
async fn connect(port: u16, profile: &Path, driver: &mut Child) -> Result<Client, String> {
    let http = reqwest::Client::new();
    let status = format!("http://127.0.0.1:{port}/status");
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Some(exit) = driver.try_wait().map_err(|e| e.to_string())? {
            return Err(format!("chromedriver exited: {exit}"));
        }
        if let Ok(r) = http.get(&status).send().await {
            if let Ok(v) = r.json::<Value>().await {
                if v["value"]["ready"] == true {
                    break;
                }
            }
        }
        if Instant::now() > deadline {
            return Err(format!("chromedriver did not answer within {DEADLINE:?}"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let user_data = profile.join("user-data");
    let caps = json!({
        "browserName": "chrome",
        "pageLoadStrategy": "normal",
        "timeouts": { "pageLoad": 60_000, "script": 30_000 },
        "goog:loggingPrefs": { "browser": "ALL" },
        "goog:chromeOptions": {
            "binary": chromium(),
            "args": [
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-background-networking",
                "--disable-extensions",
                "--no-first-run",
                "--window-size=1280,900",
                format!("--user-data-dir={}", user_data.display()),
            ],
        },
    });
    let Value::Object(caps) = caps else {
        unreachable!()
    };
    let caps: Capabilities = caps;
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .map_err(|e| format!("new session: {e}"))
}

/// Kills chromedriver's process group (chromedriver, and the Chromium it started with its
/// helpers), all started by this harness.
fn kill_group(driver: &mut Child) {
    let pgid = driver.id() as libc::pid_t;
    // SAFETY: plain syscall; the group is the one `spawn_driver` created.
    unsafe {
        libc::killpg(pgid, libc::SIGKILL);
    }
    let _ = driver.wait();
}

// ---------------------------------------------------------------------------------------------
// Tests of the harness itself.

/// The error collectors see what a page throws from its first script on, so that a test
/// asserting "no JavaScript error" would fail if there were one; the harness leaves no
/// chromedriver or Chromium behind.
#[tokio::test]
async fn browser_harness_collects_javascript_errors_from_the_first_instant() {
    let browser = Browser::start().await;
    let page = "<html><head><script>console.error('logged'); \
                Promise.reject(new Error('rejected')); \
                throw new Error('thrown early');</script></head>\
                <body><button onclick=\"document.body.dataset.clicked='yes'\">Don't click</button>\
                </body></html>";
    browser
        .goto(&format!(
            "data:text/html,{}",
            urlencode(page).replace('+', "%20")
        ))
        .await;
    browser.click_button("Don't click").await;
    browser
        .wait_for_js("the click", "document.body.dataset.clicked === 'yes'")
        .await;
    let errors = browser
        .wait_for_js(
            "three errors",
            "window.__ceJsErrors.length >= 3 && window.__ceJsErrors",
        )
        .await;
    let errors = errors.to_string();
    for e in [
        "console.error: logged",
        "thrown early",
        "unhandled rejection: Error: rejected",
    ] {
        assert!(errors.contains(e), "{e} not in {errors}");
    }
    let log = browser.console_log().await;
    assert!(
        log.iter()
            .any(|e| e["level"] == "SEVERE" && e["message"].to_string().contains("thrown early")),
        "{log:?}"
    );
    let pid = browser.driver.id() as libc::pid_t;
    drop(browser);
    // Killed at once; gone once the kernel has torn the processes down.
    crate::helpers::eventually(
        "chromedriver's process group gone",
        Duration::from_secs(30),
        async || {
            // SAFETY: signal 0 only asks whether the group still has a process.
            unsafe { libc::killpg(pid, 0) != 0 }
        },
    )
    .await;
}
