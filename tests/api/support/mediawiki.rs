#![allow(dead_code)]
//! `TestWiki`: a real MediaWiki (Debian's `mediawiki` package, 1.39) for tests that need the
//! wiki's own answers — session cookies, `meta=userinfo`, `action=checktoken`, edits — rather
//! than the in-process `MockWiki`.
//!
//! Each [`TestWiki::start`] installs a fresh wiki on SQLite into a temporary directory of its
//! own (`maintenance/install.php`, a few seconds), creates its users
//! (`maintenance/createAndPromote.php`) and serves it with PHP's built-in server
//! (`php -S 127.0.0.1:PORT`, `PHP_CLI_SERVER_WORKERS=4`, so that the wiki can answer the
//! service while it is serving a page). The system wiki's configuration
//! (`/usr/share/mediawiki/LocalSettings.php`, a symlink into `/etc/mediawiki`) is neither read
//! nor written: the code is served from `/usr/share/mediawiki` as is, and MediaWiki 1.39 reads
//! the test wiki's own `LocalSettings.php` from the `MW_CONFIG_FILE` environment variable (web
//! requests, see `includes/BootstrapHelperFunctions.php`) or `--conf` (maintenance scripts).
//!
//! Every `api.php` request the wiki receives is written to a log by a router script
//! (`mediawiki/router.php`) before MediaWiki answers it; [`TestWiki::api_requests`] reads it,
//! so a test can count what the service asked (`meta=userinfo`, `action=checktoken` …).
//!
//! Dropping the `TestWiki` kills the server (its whole process group: the workers too) and
//! removes the directory.

use std::collections::BTreeMap;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::helpers::{free_port, unique_name};

/// Where Debian's `mediawiki` package puts the code (`$IP`); `$MEDIAWIKI_DIR` overrides it.
pub const DEFAULT_MEDIAWIKI_DIR: &str = "/usr/share/mediawiki";
/// The right the organizer group holds (as the CampaignEvents extension names it).
pub const ENABLE_REGISTRATION_RIGHT: &str = "campaignevents-enable-registration";
/// The group that holds [`ENABLE_REGISTRATION_RIGHT`] on a test wiki.
pub const ORGANIZER_GROUP: &str = "event-organizer";
/// The `User-Agent` of the harness's own requests, so that counts can leave them out.
pub const HARNESS_USER_AGENT: &str = "campaign-events-test-harness";

/// How long a wiki may take to install and answer (a busy 2-core CI machine).
const START_TIMEOUT: Duration = Duration::from_secs(120);

const ROUTER: &str = include_str!("mediawiki/router.php");

/// The settings every test wiki gets, after the installer's `LocalSettings.php`.
const TEST_SETTINGS: &str = r#"
# --- campaign-events test harness (tests/api/support/mediawiki.rs) ---
# Sessions and caches in the wiki's SQLite: the installer picks APCu, which php-cli disables,
# and the built-in server's workers are separate processes.
$wgMainCacheType = CACHE_DB;
$wgSessionCacheType = CACHE_DB;
$wgParserCacheType = CACHE_DB;

# The CampaignEvents right, held by a group of its own (add a user with
# createAndPromote.php --custom-groups event-organizer).
$wgGroupPermissions['event-organizer']['campaignevents-enable-registration'] = true;
$wgAvailableRights[] = 'campaignevents-enable-registration';

# The Action API is always on since MediaWiki 1.32 ($wgEnableAPI and $wgEnableWriteAPI were
# removed); set anyway for readers of older manuals, MediaWiki ignores them.
$wgEnableAPI = true;
$wgEnableWriteAPI = true;

$wgRawHtml = false;
# A later test installs a script through MediaWiki:Common.js.
$wgAllowUserJs = true;
$wgUseSiteJs = true;
# Plain http on 127.0.0.1.
$wgCookieSecure = false;
$wgForceHTTPS = false;
# php -S sets PATH_INFO: /index.php/Title works.
$wgUsePathInfo = true;
$wgArticlePath = "/index.php/$1";

# Tests log in, fail to log in and edit quickly: no throttles, no rate limits.
$wgPasswordAttemptThrottle = false;
$wgAccountCreationThrottle = 0;
$wgRateLimits = [];
# Jobs only when a test runs them (maintenance/runJobs.php), not at the end of its requests.
$wgJobRunRate = 0;
$wgEnableEmail = false;
$wgShowExceptionDetails = true;

# The port is only known when the server has bound it.
require __DIR__ . '/Server.php';
"#;

/// A user of a test wiki.
#[derive(Clone, Debug)]
pub struct WikiUser {
    pub name: String,
    pub password: String,
}

/// One `api.php` request the wiki received, as the router logged it.
#[derive(Clone, Debug)]
pub struct ApiRequest {
    pub method: String,
    pub user_agent: String,
    /// The query and the form body together (a body parameter wins, as in MediaWiki);
    /// passwords are logged as `(hidden)`.
    pub params: BTreeMap<String, String>,
}

impl ApiRequest {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }

    /// Whether parameter `name` holds `value`, reading it as MediaWiki reads a multi-value
    /// parameter (`meta=siteinfo|userinfo`, or `\x1f`-separated when it starts with `\x1f`).
    pub fn asks(&self, name: &str, value: &str) -> bool {
        let Some(v) = self.param(name) else {
            return false;
        };
        match v.strip_prefix('\u{1f}') {
            Some(rest) => rest.split('\u{1f}').any(|x| x == value),
            None => v.split('|').any(|x| x == value),
        }
    }

    /// Made by this harness (its `User-Agent`), not by the service or a browser.
    pub fn by_harness(&self) -> bool {
        self.user_agent == HARNESS_USER_AGENT
    }

    /// `action=query` with `meta=userinfo`.
    pub fn is_userinfo(&self) -> bool {
        self.param("action") == Some("query") && self.asks("meta", "userinfo")
    }

    /// `action=checktoken`.
    pub fn is_checktoken(&self) -> bool {
        self.param("action") == Some("checktoken")
    }
}

/// A fresh MediaWiki on SQLite, served on `127.0.0.1:port` until dropped.
pub struct TestWiki {
    dir: PathBuf,
    ip: PathBuf,
    port: u16,
    server: Mutex<Child>,
    http: reqwest::Client,
    /// Created by the installer: groups sysop, bureaucrat, interface-admin.
    pub admin: WikiUser,
    /// In [`ORGANIZER_GROUP`], so holds [`ENABLE_REGISTRATION_RIGHT`].
    pub organizer: WikiUser,
    /// No group beyond the implicit ones.
    pub participant: WikiUser,
    /// How long installing, creating the users and the first answer took.
    pub start_time: Duration,
}

fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .user_agent(HARNESS_USER_AGENT)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

fn mediawiki_dir() -> PathBuf {
    std::env::var_os("MEDIAWIKI_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_MEDIAWIKI_DIR))
}

impl TestWiki {
    /// Installs and starts a fresh wiki, with users `Admin`, `Organizer` and `Participant`
    /// (see the fields), and waits until it answers. Panics (with the installer's or the
    /// server's output) when it cannot.
    pub async fn start() -> TestWiki {
        let began = Instant::now();
        let ip = mediawiki_dir();
        assert!(
            ip.join("api.php").exists(),
            "no MediaWiki at {} (apt-get install mediawiki php-cli php-sqlite3 php-intl \
             php-mbstring php-xml, as .ci/run does, or set MEDIAWIKI_DIR)",
            ip.display()
        );
        let dir = std::env::temp_dir().join(unique_name("mediawiki"));
        std::fs::create_dir_all(dir.join("db")).unwrap();
        std::fs::create_dir_all(dir.join("conf")).unwrap();
        std::fs::write(dir.join("router.php"), ROUTER).unwrap();
        std::fs::write(dir.join("api.log"), "").unwrap();

        let admin = WikiUser {
            name: "Admin".into(),
            password: "Admin-Passw0rd!x".into(),
        };
        let organizer = WikiUser {
            name: "Organizer".into(),
            password: "Organizer-Passw0rd!x".into(),
        };
        let participant = WikiUser {
            name: "Participant".into(),
            password: "Participant-Passw0rd!x".into(),
        };

        // Install and create the users (CLI only, no server yet).
        {
            let (dir, ip, admin) = (dir.clone(), ip.clone(), admin.clone());
            let users = [
                (organizer.clone(), vec!["--custom-groups", ORGANIZER_GROUP]),
                (participant.clone(), vec![]),
            ];
            tokio::task::spawn_blocking(move || {
                let db = dir.join("db");
                let conf = dir.join("conf");
                run_php(
                    &ip,
                    &dir,
                    "install.php",
                    &[
                        "--dbtype",
                        "sqlite",
                        "--dbpath",
                        db.to_str().unwrap(),
                        "--dbname",
                        "wiki",
                        // Replaced by conf/Server.php once the port is known.
                        "--server",
                        "http://127.0.0.1",
                        "--scriptpath",
                        "",
                        "--confpath",
                        conf.to_str().unwrap(),
                        "--pass",
                        &admin.password,
                        "TestWiki",
                        &admin.name,
                    ],
                    false,
                );
                let mut settings = std::fs::OpenOptions::new()
                    .append(true)
                    .open(conf.join("LocalSettings.php"))
                    .unwrap();
                std::io::Write::write_all(&mut settings, TEST_SETTINGS.as_bytes()).unwrap();
                std::fs::write(conf.join("Server.php"), "<?php\n").unwrap();
                for (user, groups) in users {
                    let mut args = groups;
                    args.extend([user.name.as_str(), user.password.as_str()]);
                    run_php(&ip, &dir, "createAndPromote.php", &args, true);
                }
            })
            .await
            .unwrap();
        }

        // Serve it; a port found free may be taken before php binds it: a few tries.
        let http = http_client();
        let mut last_failure = String::new();
        for _ in 0..5 {
            let port = free_port();
            std::fs::write(
                dir.join("conf/Server.php"),
                format!("<?php\n$wgServer = 'http://127.0.0.1:{port}';\n"),
            )
            .unwrap();
            let mut server = spawn_server(&ip, &dir, port);
            match wait_until_answering(&http, port, &mut server).await {
                Ok(()) => {
                    let wiki = TestWiki {
                        dir,
                        ip,
                        port,
                        server: Mutex::new(server),
                        http,
                        admin,
                        organizer,
                        participant,
                        start_time: began.elapsed(),
                    };
                    // The readiness probes are not the test's requests.
                    std::fs::write(wiki.dir.join("api.log"), "").unwrap();
                    return wiki;
                }
                Err(failure) => {
                    kill_group(&mut server);
                    last_failure = failure;
                }
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
        panic!("mediawiki: the server did not start: {last_failure}");
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT` (`$wgServer`).
    pub fn origin(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `http://127.0.0.1:PORT/api.php`.
    pub fn api_url(&self) -> String {
        format!("{}/api.php", self.origin())
    }

    /// `http://127.0.0.1:PORT/index.php` (pages are also at `/index.php/Title`).
    pub fn index_url(&self) -> String {
        format!("{}/index.php", self.origin())
    }

    /// The wiki's temporary directory (`conf/LocalSettings.php`, `db/`, `api.log`, `server.log`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `LocalSettings.php` of this wiki: a test may append settings (read on each request).
    pub fn local_settings(&self) -> PathBuf {
        self.dir.join("conf/LocalSettings.php")
    }

    /// Every `api.php` request received so far (the harness's own included, see
    /// [`ApiRequest::by_harness`]), in the order they came.
    pub fn api_requests(&self) -> Vec<ApiRequest> {
        let log = std::fs::read_to_string(self.dir.join("api.log")).unwrap();
        log.lines()
            .map(|line| {
                let v: Value = serde_json::from_str(line)
                    .unwrap_or_else(|e| panic!("mediawiki: api.log line {line:?}: {e}"));
                let params = match &v["params"] {
                    Value::Object(m) => m
                        .iter()
                        .map(|(k, v)| {
                            let v = match v {
                                Value::String(s) => s.clone(),
                                other => other.to_string(),
                            };
                            (k.clone(), v)
                        })
                        .collect(),
                    // PHP encodes an empty array as [].
                    _ => BTreeMap::new(),
                };
                ApiRequest {
                    method: v["method"].as_str().unwrap_or_default().to_owned(),
                    user_agent: v["user_agent"].as_str().unwrap_or_default().to_owned(),
                    params,
                }
            })
            .collect()
    }

    /// How many requests received so far match `which` (the harness's own included).
    pub fn count_api_requests(&self, which: impl Fn(&ApiRequest) -> bool) -> usize {
        self.api_requests().iter().filter(|r| which(r)).count()
    }

    /// `meta=userinfo` requests made by others than the harness (the service, a browser).
    pub fn userinfo_calls(&self) -> usize {
        self.count_api_requests(|r| !r.by_harness() && r.is_userinfo())
    }

    /// `action=checktoken` requests made by others than the harness.
    pub fn checktoken_calls(&self) -> usize {
        self.count_api_requests(|r| !r.by_harness() && r.is_checktoken())
    }

    /// An anonymous GET of the Action API (`format=json&formatversion=2` added).
    pub async fn api_get(&self, params: &[(&str, &str)]) -> Value {
        let res = self
            .http
            .get(self.api_url())
            .query(params)
            .query(&[("format", "json"), ("formatversion", "2")])
            .send()
            .await
            .unwrap();
        json_answer(res).await
    }

    /// Creates a user (`createAndPromote.php`, in `groups`: custom ones, or `sysop`,
    /// `bureaucrat`, `interface-admin`, `bot`), with a password of the harness's choosing.
    pub async fn create_user(&self, name: &str, groups: &[&str]) -> WikiUser {
        let user = WikiUser {
            name: name.to_owned(),
            password: format!("{}-Passw0rd!x", name.replace(' ', "_")),
        };
        let mut args: Vec<String> = Vec::new();
        let mut custom = Vec::new();
        for g in groups {
            match *g {
                "sysop" | "bureaucrat" | "interface-admin" | "bot" => args.push(format!("--{g}")),
                other => custom.push(other),
            }
        }
        if !custom.is_empty() {
            args.push("--custom-groups".into());
            args.push(custom.join(","));
        }
        args.push(user.name.clone());
        args.push(user.password.clone());
        self.run_maintenance("createAndPromote.php", &args).await;
        user
    }

    /// Adds an existing user to more groups (`createAndPromote.php --force`).
    pub async fn add_to_groups(&self, user: &WikiUser, groups: &[&str]) {
        let mut args = vec![
            "--force".to_owned(),
            "--custom-groups".into(),
            groups.join(","),
        ];
        args.push(user.name.clone());
        self.run_maintenance("createAndPromote.php", &args).await;
    }

    /// Logs `user` in (see [`WikiSession::login`]).
    pub async fn login(&self, user: &WikiUser) -> WikiSession {
        WikiSession::login(self, user).await
    }

    /// Runs `maintenance/<script>` against this wiki (`--conf` its LocalSettings.php) and
    /// returns its standard output; panics with its output when it fails.
    pub async fn run_maintenance<S: AsRef<str>>(&self, script: &str, args: &[S]) -> String {
        let (ip, dir, script) = (self.ip.clone(), self.dir.clone(), script.to_owned());
        let args: Vec<String> = args.iter().map(|a| a.as_ref().to_owned()).collect();
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            run_php(&ip, &dir, &script, &args, true)
        })
        .await
        .unwrap()
    }

    /// Deletes pages as `Admin` (`deleteBatch.php`).
    pub async fn delete_pages(&self, titles: &[&str], reason: &str) {
        let list = self.dir.join(format!("{}.txt", unique_name("delete")));
        std::fs::write(&list, titles.join("\n") + "\n").unwrap();
        let list = list.to_str().unwrap().to_owned();
        let admin = self.admin.name.clone();
        self.run_maintenance("deleteBatch.php", &["-u", &admin, "-r", reason, &list])
            .await;
    }

    /// Undeletes a page's deleted revisions as `Admin` (`undelete.php`).
    pub async fn undelete_page(&self, title: &str, reason: &str) {
        let admin = self.admin.name.clone();
        self.run_maintenance(
            "undelete.php",
            &["--user", &admin, "--reason", reason, title],
        )
        .await;
    }

    /// Runs the job queue (`runJobs.php`); jobs do not run at the end of requests here.
    pub async fn run_jobs(&self) {
        self.run_maintenance::<&str>("runJobs.php", &[]).await;
    }
}

impl Drop for TestWiki {
    fn drop(&mut self) {
        let server = self.server.get_mut().unwrap_or_else(|e| e.into_inner());
        kill_group(server);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `php $IP/maintenance/<script> [--conf …] args`, in `dir`; returns stdout, panics on failure.
fn run_php(ip: &Path, dir: &Path, script: &str, args: &[&str], conf: bool) -> String {
    let config = dir.join("conf/LocalSettings.php");
    let mut cmd = Command::new("php");
    cmd.arg(ip.join("maintenance").join(script));
    if conf {
        cmd.arg("--conf").arg(&config);
    }
    let out = cmd
        .args(args)
        .current_dir(dir)
        .env("MW_CONFIG_FILE", &config)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("mediawiki: cannot run php: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "mediawiki: {script} {args:?} failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// `php -S 127.0.0.1:port -t $IP router.php`, in a process group of its own (the workers are
/// its children), logging to `server.log`.
fn spawn_server(ip: &Path, dir: &Path, port: u16) -> Child {
    let log = std::fs::File::create(dir.join("server.log")).unwrap();
    let mut cmd = Command::new("php");
    cmd.arg("-S")
        .arg(format!("127.0.0.1:{port}"))
        .arg("-t")
        .arg(ip)
        .arg(dir.join("router.php"))
        .current_dir(dir)
        .env("MW_CONFIG_FILE", dir.join("conf/LocalSettings.php"))
        .env("MW_TEST_API_LOG", dir.join("api.log"))
        .env("PHP_CLI_SERVER_WORKERS", "4")
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .process_group(0);
    // SAFETY: prctl is async-signal-safe. If the test process dies without dropping the wiki,
    // the server goes too (its workers then end at their next accept error or with the
    // machine; Drop kills the whole group).
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    cmd.spawn()
        .unwrap_or_else(|e| panic!("mediawiki: cannot run php -S: {e}"))
}

/// Kills the server's process group (the server and its workers, all started by us).
fn kill_group(server: &mut Child) {
    let pgid = server.id() as libc::pid_t;
    // SAFETY: plain syscall; the group is the one `spawn_server` created.
    unsafe {
        libc::killpg(pgid, libc::SIGKILL);
    }
    let _ = server.wait();
}

/// Waits until the wiki answers `meta=siteinfo` (the first answer builds the localisation
/// cache, which takes a few seconds), or the server exits (its port was taken).
async fn wait_until_answering(
    http: &reqwest::Client,
    port: u16,
    server: &mut Child,
) -> Result<(), String> {
    let url = format!(
        "http://127.0.0.1:{port}/api.php?action=query&meta=siteinfo&format=json&formatversion=2"
    );
    let deadline = Instant::now() + START_TIMEOUT;
    let mut last = String::new();
    loop {
        if let Some(status) = server.try_wait().unwrap() {
            return Err(format!("php -S exited ({status}): {last}"));
        }
        match http.get(&url).send().await {
            Ok(res) if res.status().is_success() => {
                let v: Value = res.json().await.map_err(|e| e.to_string())?;
                if v["query"]["general"]["generator"].is_string() {
                    return Ok(());
                }
                last = v.to_string();
            }
            Ok(res) => last = format!("HTTP {}", res.status()),
            Err(e) => last = e.to_string(),
        }
        if Instant::now() > deadline {
            return Err(format!("no answer in {START_TIMEOUT:?}: {last}"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn json_answer(res: reqwest::Response) -> Value {
    let status = res.status();
    let body = res.text().await.unwrap();
    assert!(status.is_success(), "mediawiki: HTTP {status}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("mediawiki: not JSON ({e}): {body}"))
}

/// A browser-like session on a test wiki: logged in through the Action API
/// (`meta=tokens&type=login`, then `action=clientlogin`), holding the wiki's cookies.
pub struct WikiSession {
    origin: String,
    http: reqwest::Client,
    cookies: Mutex<BTreeMap<String, String>>,
    user: String,
    csrf_token: String,
}

impl WikiSession {
    /// A session that has not logged in (no cookies yet; it keeps those the wiki sets).
    pub fn anonymous(wiki: &TestWiki) -> WikiSession {
        WikiSession {
            origin: wiki.origin(),
            http: http_client(),
            cookies: Mutex::new(BTreeMap::new()),
            user: String::new(),
            csrf_token: String::new(),
        }
    }

    /// Logs in as a browser's login form does through the API; panics unless MediaWiki says
    /// `PASS`. Then asks for the session's CSRF token (`meta=tokens`).
    pub async fn login(wiki: &TestWiki, user: &WikiUser) -> WikiSession {
        let mut session = WikiSession::anonymous(wiki);
        session.user = user.name.clone();
        let tokens = session
            .get(&[("action", "query"), ("meta", "tokens"), ("type", "login")])
            .await;
        let login_token = tokens["query"]["tokens"]["logintoken"]
            .as_str()
            .unwrap_or_else(|| panic!("mediawiki: no login token: {tokens}"))
            .to_owned();
        let return_url = format!("{}/", wiki.origin());
        let answer = session
            .post(&[
                ("action", "clientlogin"),
                ("username", &user.name),
                ("password", &user.password),
                ("logintoken", &login_token),
                ("loginreturnurl", &return_url),
            ])
            .await;
        assert_eq!(
            answer["clientlogin"]["status"], "PASS",
            "mediawiki: login as {} failed: {answer}",
            user.name
        );
        session.csrf_token = session.fetch_csrf_token().await;
        session
    }

    /// The user this session is logged in as (empty when anonymous).
    pub fn user_name(&self) -> &str {
        &self.user
    }

    /// The session's cookies as a `Cookie` request header's value (`a=1; b=2`).
    pub fn cookie_header(&self) -> String {
        let jar = self.cookies.lock().unwrap();
        jar.iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// The session's cookies, name to value.
    pub fn cookies(&self) -> BTreeMap<String, String> {
        self.cookies.lock().unwrap().clone()
    }

    /// The CSRF token of the session (`meta=tokens`, asked at login).
    pub fn csrf_token(&self) -> &str {
        &self.csrf_token
    }

    /// Asks the wiki for the session's CSRF token again.
    pub async fn fetch_csrf_token(&self) -> String {
        let v = self.get(&[("action", "query"), ("meta", "tokens")]).await;
        v["query"]["tokens"]["csrftoken"]
            .as_str()
            .unwrap_or_else(|| panic!("mediawiki: no csrf token: {v}"))
            .to_owned()
    }

    /// `meta=userinfo&uiprop=centralids|groups|rights` in this session.
    pub async fn userinfo(&self) -> Value {
        self.get(&[
            ("action", "query"),
            ("meta", "userinfo"),
            ("uiprop", "centralids|groups|rights"),
        ])
        .await
    }

    /// `action=checktoken&type=csrf` of `token` in this session: `"valid"`, `"invalid"` …
    pub async fn check_csrf_token(&self, token: &str) -> String {
        let v = self
            .post(&[("action", "checktoken"), ("type", "csrf"), ("token", token)])
            .await;
        v["checktoken"]["result"]
            .as_str()
            .unwrap_or_else(|| panic!("mediawiki: checktoken: {v}"))
            .to_owned()
    }

    /// Saves `text` as page `title` (`action=edit` with the CSRF token); returns the new
    /// revision id (or the current one when the text did not change).
    pub async fn edit(&self, title: &str, text: &str, summary: &str) -> u64 {
        let v = self
            .post(&[
                ("action", "edit"),
                ("title", title),
                ("text", text),
                ("summary", summary),
                ("token", &self.csrf_token),
            ])
            .await;
        assert_eq!(
            v["edit"]["result"], "Success",
            "mediawiki: edit {title}: {v}"
        );
        if let Some(rev) = v["edit"]["newrevid"].as_u64() {
            return rev;
        }
        // No change, so no new revision: the page's current one.
        let info = self
            .get(&[("action", "query"), ("prop", "info"), ("titles", title)])
            .await;
        info["query"]["pages"][0]["lastrevid"]
            .as_u64()
            .unwrap_or_else(|| panic!("mediawiki: edit {title}: {v}, then {info}"))
    }

    /// A GET of the Action API in this session (`format=json&formatversion=2` added).
    pub async fn get(&self, params: &[(&str, &str)]) -> Value {
        let req = self
            .http
            .get(format!("{}/api.php", self.origin))
            .query(params)
            .query(&[("format", "json"), ("formatversion", "2")]);
        self.send(req).await
    }

    /// A form POST to the Action API in this session (`format=json&formatversion=2` added).
    pub async fn post(&self, params: &[(&str, &str)]) -> Value {
        let mut form: Vec<(&str, &str)> = params.to_vec();
        form.extend([("format", "json"), ("formatversion", "2")]);
        let req = self
            .http
            .post(format!("{}/api.php", self.origin))
            .form(&form);
        self.send(req).await
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Value {
        let cookie = self.cookie_header();
        let req = if cookie.is_empty() {
            req
        } else {
            req.header(reqwest::header::COOKIE, cookie)
        };
        let res = req.send().await.unwrap();
        self.keep_cookies(res.headers());
        json_answer(res).await
    }

    /// Takes the `Set-Cookie`s of an answer into the jar (a cookie MediaWiki clears comes with
    /// the value `deleted` or an empty one, and `Max-Age=0`).
    fn keep_cookies(&self, headers: &reqwest::header::HeaderMap) {
        let mut jar = self.cookies.lock().unwrap();
        for h in headers.get_all(reqwest::header::SET_COOKIE) {
            let Ok(h) = h.to_str() else { continue };
            let mut parts = h.split(';').map(str::trim);
            let Some((name, value)) = parts.next().and_then(|p| p.split_once('=')) else {
                continue;
            };
            let expired = parts.any(|a| a.eq_ignore_ascii_case("max-age=0"));
            if expired || value.is_empty() || value == "deleted" {
                jar.remove(name);
            } else {
                jar.insert(name.to_owned(), value.to_owned());
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Tests of the harness itself.

/// The groups and rights of `meta=userinfo`'s answer.
fn names(v: &Value) -> Vec<&str> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|x| x.as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn mediawiki_fresh_wiki_answers_siteinfo_and_serves_pages() {
    let wiki = TestWiki::start().await;
    eprintln!(
        "mediawiki: installed and answering in {:?}",
        wiki.start_time
    );
    let v = wiki
        .api_get(&[("action", "query"), ("meta", "siteinfo")])
        .await;
    let general = &v["query"]["general"];
    assert_eq!(general["sitename"], "TestWiki");
    assert_eq!(general["server"], wiki.origin());
    assert_eq!(general["wikiid"], "wiki");
    assert!(
        general["generator"]
            .as_str()
            .unwrap()
            .starts_with("MediaWiki 1."),
        "{general}"
    );
    // Pages, by path and by title parameter (a browser's URLs).
    for url in [
        format!("{}/Main_Page", wiki.index_url()),
        format!("{}?title=Main_Page", wiki.index_url()),
    ] {
        let res = http_client().get(&url).send().await.unwrap();
        assert_eq!(res.status(), 200, "{url}");
        let html = res.text().await.unwrap();
        assert!(
            html.contains("MediaWiki has been installed"),
            "{url}: {html}"
        );
    }
}

#[tokio::test]
async fn mediawiki_login_userinfo_names_the_user_with_groups_and_rights() {
    let wiki = TestWiki::start().await;

    let organizer = wiki.login(&wiki.organizer).await;
    let cookies = organizer.cookies();
    assert!(cookies.contains_key("wiki_session"), "{cookies:?}");
    assert_eq!(
        cookies.get("wikiUserName").map(String::as_str),
        Some("Organizer")
    );
    let v = organizer.userinfo().await;
    let me = &v["query"]["userinfo"];
    assert_eq!(me["name"], "Organizer", "{v}");
    assert!(me["id"].as_u64().unwrap() > 0, "{v}");
    assert_eq!(me["centralids"]["local"], me["id"], "{v}");
    assert!(me.get("anon").is_none(), "{v}");
    let groups = names(&me["groups"]);
    assert!(groups.contains(&ORGANIZER_GROUP), "{groups:?}");
    assert!(groups.contains(&"user"), "{groups:?}");
    assert!(
        names(&me["rights"]).contains(&ENABLE_REGISTRATION_RIGHT),
        "{v}"
    );

    // A plain user: no custom group, no custom right.
    let participant = wiki.login(&wiki.participant).await;
    let v = participant.userinfo().await;
    let me = &v["query"]["userinfo"];
    assert_eq!(me["name"], "Participant", "{v}");
    assert!(!names(&me["groups"]).contains(&ORGANIZER_GROUP), "{v}");
    assert!(
        !names(&me["rights"]).contains(&ENABLE_REGISTRATION_RIGHT),
        "{v}"
    );

    // The admin may edit the site's scripts (a later test installs MediaWiki:Common.js).
    let admin = wiki.login(&wiki.admin).await;
    let v = admin.userinfo().await;
    let me = &v["query"]["userinfo"];
    let groups = names(&me["groups"]);
    assert!(groups.contains(&"sysop"), "{groups:?}");
    assert!(names(&me["rights"]).contains(&"editsitejs"), "{v}");

    // A user added later, and a group given to an existing user.
    let late = wiki.create_user("Latecomer", &[]).await;
    let late_session = wiki.login(&late).await;
    let v = late_session.userinfo().await;
    assert!(!names(&v["query"]["userinfo"]["rights"]).contains(&ENABLE_REGISTRATION_RIGHT));
    wiki.add_to_groups(&late, &[ORGANIZER_GROUP]).await;
    let v = late_session.userinfo().await;
    assert!(names(&v["query"]["userinfo"]["rights"]).contains(&ENABLE_REGISTRATION_RIGHT));

    // The session's cookies alone carry the login (as when the service forwards them).
    let v: Value = http_client()
        .get(wiki.api_url())
        .query(&[
            ("action", "query"),
            ("meta", "userinfo"),
            ("format", "json"),
            ("formatversion", "2"),
        ])
        .header(reqwest::header::COOKIE, organizer.cookie_header())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["query"]["userinfo"]["name"], "Organizer", "{v}");
}

#[tokio::test]
async fn mediawiki_csrf_token_checks_valid_only_in_its_session() {
    let wiki = TestWiki::start().await;
    let organizer = wiki.login(&wiki.organizer).await;
    let token = organizer.csrf_token().to_owned();
    assert!(token.ends_with("+\\") && token.len() > 2, "{token}");
    assert_eq!(organizer.check_csrf_token(&token).await, "valid");
    assert_eq!(organizer.check_csrf_token("0123abcd+\\").await, "invalid");

    // Another user's session does not accept it.
    let participant = wiki.login(&wiki.participant).await;
    assert_eq!(participant.check_csrf_token(&token).await, "invalid");

    // Edits with the token make revisions.
    let first = organizer.edit("Harness page", "one", "first").await;
    let second = organizer.edit("Harness page", "two", "second").await;
    assert!(second > first, "{first} then {second}");
    assert_eq!(organizer.edit("Harness page", "two", "again").await, second);
}

#[tokio::test]
async fn mediawiki_request_counter_counts_what_was_asked() {
    let wiki = TestWiki::start().await;
    assert_eq!(
        wiki.api_requests().len(),
        0,
        "probes of the start are not counted"
    );
    let session = wiki.login(&wiki.organizer).await;
    // The harness's login: a login token, clientlogin, a CSRF token.
    let own = wiki.api_requests();
    assert_eq!(own.len(), 3, "{own:?}");
    assert!(own.iter().all(ApiRequest::by_harness));
    assert_eq!(own[1].param("action"), Some("clientlogin"));
    assert_eq!(own[1].param("password"), Some("(hidden)"));
    assert_eq!(wiki.userinfo_calls(), 0);

    // As the service will ask: its own User-Agent, the session's cookies.
    let service = reqwest::Client::builder()
        .user_agent("campaign-events-service-test")
        .build()
        .unwrap();
    let ask = |params: Vec<(&'static str, String)>| {
        let req = service
            .post(wiki.api_url())
            .header(reqwest::header::COOKIE, session.cookie_header())
            .form(&params);
        async move {
            let v: Value = req.send().await.unwrap().json().await.unwrap();
            v
        }
    };
    let userinfo = || {
        vec![
            ("action", "query".to_owned()),
            ("meta", "userinfo".to_owned()),
            ("uiprop", "centralids|groups|rights".to_owned()),
            ("format", "json".to_owned()),
        ]
    };
    ask(userinfo()).await;
    ask(userinfo()).await;
    // A multi-value meta with userinfo among others, \x1f-separated.
    ask(vec![
        ("action", "query".to_owned()),
        ("meta", "\u{1f}siteinfo\u{1f}userinfo".to_owned()),
        ("format", "json".to_owned()),
    ])
    .await;
    let v = ask(vec![
        ("action", "checktoken".to_owned()),
        ("type", "csrf".to_owned()),
        ("token", session.csrf_token().to_owned()),
        ("format", "json".to_owned()),
    ])
    .await;
    assert_eq!(v["checktoken"]["result"], "valid", "{v}");
    ask(vec![
        ("action", "query".to_owned()),
        ("meta", "siteinfo".to_owned()),
        ("format", "json".to_owned()),
    ])
    .await;

    assert_eq!(wiki.userinfo_calls(), 3);
    assert_eq!(wiki.checktoken_calls(), 1);
    assert_eq!(
        wiki.count_api_requests(|r| !r.by_harness() && r.asks("meta", "siteinfo")),
        2
    );
    // The harness's own userinfo is logged, and left out of userinfo_calls().
    session.userinfo().await;
    assert_eq!(wiki.userinfo_calls(), 3);
    assert_eq!(wiki.count_api_requests(ApiRequest::is_userinfo), 4);
}

#[tokio::test]
async fn mediawiki_maintenance_scripts_delete_and_undelete_pages() {
    let wiki = TestWiki::start().await;
    let admin = wiki.login(&wiki.admin).await;
    let rev = admin.edit("Doomed page", "soon gone", "create").await;
    let exists = |v: &Value| v["query"]["pages"][0].get("missing").is_none();
    let info = || {
        wiki.api_get(&[
            ("action", "query"),
            ("prop", "info"),
            ("titles", "Doomed page"),
        ])
    };
    assert!(exists(&info().await));

    wiki.delete_pages(&["Doomed page"], "test").await;
    assert!(!exists(&info().await));

    wiki.undelete_page("Doomed page", "test").await;
    let v = info().await;
    assert!(exists(&v), "{v}");
    assert_eq!(v["query"]["pages"][0]["lastrevid"], rev, "{v}");
}

// ---------------------------------------------------------------------------------------------
// The answers in tests/fixtures/mediawiki-auth/ (see its README).

fn auth_fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mediawiki-auth")
}

/// The live answers the fixtures hold, by file name: `userinfo` of a logged-in organizer and
/// of an anonymous visitor, `checktoken` of the session's token, of a wrong one, and of the
/// anonymous token `+\` without a session.
async fn auth_answers(wiki: &TestWiki) -> Vec<(&'static str, Value)> {
    let session = wiki.login(&wiki.organizer).await;
    let token = session.csrf_token().to_owned();
    let userinfo = [
        ("action", "query"),
        ("meta", "userinfo"),
        ("uiprop", "centralids|groups|rights"),
    ];
    let anonymous = WikiSession::anonymous(wiki);
    let checktoken = |token: String| {
        vec![
            ("action", "checktoken".to_owned()),
            ("type", "csrf".to_owned()),
            ("token", token),
        ]
    };
    async fn post(s: &WikiSession, params: Vec<(&'static str, String)>) -> Value {
        let p: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        s.post(&p).await
    }
    vec![
        ("userinfo-logged-in.json", session.get(&userinfo).await),
        ("userinfo-anonymous.json", anonymous.get(&userinfo).await),
        (
            "checktoken-valid.json",
            post(&session, checktoken(token)).await,
        ),
        (
            "checktoken-invalid.json",
            post(
                &session,
                checktoken("0123456789abcdef0123456789abcdef01234567+\\".into()),
            )
            .await,
        ),
        (
            "checktoken-anonymous-token.json",
            post(&anonymous, checktoken("+\\".into())).await,
        ),
    ]
}

/// The shape of a JSON value: objects' keys and the kinds of the values, lists by their first
/// item (token strings, ids and the IP differ from wiki to wiki; the shape may not).
fn shape(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), shape(v))).collect()),
        Value::Array(a) => Value::Array(a.first().map(shape).into_iter().collect()),
        Value::String(_) => "string".into(),
        Value::Number(_) => "number".into(),
        Value::Bool(_) => "bool".into(),
        Value::Null => Value::Null,
    }
}

#[tokio::test]
async fn mediawiki_auth_fixtures_have_the_live_wikis_shape() {
    let wiki = TestWiki::start().await;
    for (file, live) in auth_answers(&wiki).await {
        let stored: Value =
            serde_json::from_str(&std::fs::read_to_string(auth_fixtures_dir().join(file)).unwrap())
                .unwrap();
        assert_eq!(
            shape(&stored),
            shape(&live),
            "{file}: stored {stored}, live {live}"
        );
    }
    // What the fixtures are for, as the live wiki says it.
    let answers: BTreeMap<_, _> = auth_answers(&wiki).await.into_iter().collect();
    assert_eq!(
        answers["checktoken-valid.json"]["checktoken"]["result"],
        "valid"
    );
    assert_eq!(
        answers["checktoken-invalid.json"]["checktoken"]["result"],
        "invalid"
    );
    // The anonymous token is valid for anyone without a session: a token check alone does
    // not prove a login.
    assert_eq!(
        answers["checktoken-anonymous-token.json"]["checktoken"]["result"],
        "valid"
    );
    assert_eq!(
        answers["userinfo-anonymous.json"]["query"]["userinfo"]["anon"],
        true
    );
}

/// Writes the fixtures from a fresh wiki:
/// `cargo nextest run --run-ignored only -E 'test(mediawiki_capture_auth_fixtures)'`.
#[tokio::test]
#[ignore = "captures tests/fixtures/mediawiki-auth/ (run by hand, see its README)"]
async fn mediawiki_capture_auth_fixtures() {
    let wiki = TestWiki::start().await;
    std::fs::create_dir_all(auth_fixtures_dir()).unwrap();
    for (file, answer) in auth_answers(&wiki).await {
        let text = serde_json::to_string_pretty(&answer).unwrap() + "\n";
        std::fs::write(auth_fixtures_dir().join(file), text).unwrap();
    }
}
