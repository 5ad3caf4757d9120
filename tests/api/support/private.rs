//! Servers of a test's own — a `nats-server` and a Postgres cluster on free ports with their
//! own storage — so that a test can really kill and restart a dependency without disturbing
//! the tests running beside it on the shared servers.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::helpers::{free_port, unique_name};

/// A nats-server with JetStream of this test's own.
pub struct PrivateNats {
    port: u16,
    dir: PathBuf,
    /// A configuration file to run with, and the environment it reads (passwords).
    config: Option<(PathBuf, Vec<(String, String)>)>,
    child: Option<Child>,
}

impl PrivateNats {
    pub fn start() -> Self {
        let dir = std::env::temp_dir().join(unique_name("nats"));
        std::fs::create_dir_all(&dir).unwrap();
        let mut n = PrivateNats {
            port: free_port(),
            dir,
            config: None,
            child: None,
        };
        n.up();
        n
    }

    /// A server on the repository's `nats/nats-server.conf` (its users and permissions), with
    /// `env` set for it (the passwords it reads). Only what would collide with other servers
    /// on this machine is replaced, by settings appended to a copy (a later block replaces an
    /// earlier one): the store, the monitoring and WebSocket ports, the bind addresses.
    pub fn start_shipped(env: &[(&str, &str)]) -> Self {
        let dir = std::env::temp_dir().join(unique_name("nats"));
        std::fs::create_dir_all(&dir).unwrap();
        let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("nats/nats-server.conf");
        let mut conf = std::fs::read_to_string(&shipped).expect("nats/nats-server.conf");
        conf.push_str(&format!(
            "\n# Appended by the test: its own ports and store.\n\
             http_port: {}\n\
             websocket {{\n  host: 127.0.0.1\n  port: {}\n  no_tls: true\n}}\n\
             jetstream {{\n  store_dir: {:?}\n}}\n",
            free_port(),
            free_port(),
            dir.join("js"),
        ));
        let file = dir.join("nats-server.conf");
        std::fs::write(&file, conf).unwrap();
        let env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut n = PrivateNats {
            port: free_port(),
            dir,
            config: Some((file, env)),
            child: None,
        };
        n.up();
        n
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Starts the server (again) on the same port and store.
    pub fn up(&mut self) {
        let mut cmd = Command::new("nats-server");
        cmd.args(["-a", "127.0.0.1", "-p", &self.port.to_string()]);
        match &self.config {
            Some((file, env)) => {
                cmd.arg("-c")
                    .arg(file)
                    .envs(env.iter().map(|(k, v)| (k, v)));
            }
            None => {
                cmd.args(["-js", "-sd"]).arg(&self.dir);
            }
        }
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server runs");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!(
                    "private NATS exited at start ({status}); port {}",
                    self.port
                );
            }
            assert!(Instant::now() < deadline, "private NATS did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL: a crash, not a clean stop.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for PrivateNats {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A Postgres cluster of this test's own, made with Debian's `initdb` in a temporary folder.
/// Postgres refuses to run as root: when the tests do, the server runs as the `postgres` user.
pub struct PrivatePostgres {
    port: u16,
    dir: PathBuf,
    bin: PathBuf,
    /// The uid and gid to run the server as, when the tests run as root.
    run_as: Option<(u32, u32)>,
    child: Option<Child>,
}

/// The newest installed server's programs (`/usr/lib/postgresql/N/bin`).
fn postgres_bin() -> PathBuf {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("Debian's Postgres server is installed")
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .collect();
    versions.sort();
    versions.pop().expect("a Postgres server version").1
}

/// The uid and gid of `user` from `/etc/passwd`.
fn user_ids(user: &str) -> Option<(u32, u32)> {
    std::fs::read_to_string("/etc/passwd")
        .ok()?
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.first() == Some(&user))
                .then(|| Some((f.get(2)?.parse().ok()?, f.get(3)?.parse().ok()?)))?
        })
}

impl PrivatePostgres {
    pub fn start() -> Self {
        let dir = std::env::temp_dir().join(unique_name("pg"));
        std::fs::create_dir_all(&dir).unwrap();
        // SAFETY: geteuid has no preconditions.
        let root = unsafe { libc::geteuid() } == 0;
        let run_as =
            root.then(|| user_ids("postgres").expect("a postgres user to run the server as"));
        let mut pg = PrivatePostgres {
            port: free_port(),
            dir,
            bin: postgres_bin(),
            run_as,
            child: None,
        };
        pg.own(&pg.dir);
        let out = pg
            .command("initdb")
            .args([
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
                "-E",
                "UTF8",
                "-D",
            ])
            .arg(pg.data())
            .output()
            .expect("initdb runs");
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        pg.up();
        pg
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// Gives `path` to the server's user.
    fn own(&self, path: &Path) {
        if let Some((uid, gid)) = self.run_as {
            std::os::unix::fs::chown(path, Some(uid), Some(gid)).unwrap();
        }
    }

    /// One of the server's programs, run as the server's user.
    fn command(&self, program: &str) -> Command {
        use std::os::unix::process::CommandExt;
        let mut cmd = Command::new(self.bin.join(program));
        if let Some((uid, gid)) = self.run_as {
            cmd.uid(uid).gid(gid);
        }
        cmd
    }

    /// A URL for database `db` on this server.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// Starts the server (again): after a kill it first recovers from its write-ahead log, as a
    /// crashed server does. Until the killed server's backends have noticed and exited, a new
    /// postmaster refuses to start; it is tried again.
    pub fn up(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let mut child = self
                .command("postgres")
                .arg("-D")
                .arg(self.data())
                .args([
                    "-p",
                    &self.port.to_string(),
                    "-c",
                    "listen_addresses=127.0.0.1",
                    "-k",
                ])
                .arg(&self.dir)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("postgres runs");
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(20) {
                if self.accepting() {
                    self.child = Some(child);
                    return;
                }
                if child.try_wait().ok().flatten().is_some() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
            assert!(Instant::now() < deadline, "private Postgres did not start");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Whether the server accepts connections (not merely listens: while it starts or
    /// recovers it refuses them).
    fn accepting(&self) -> bool {
        Command::new(self.bin.join("pg_isready"))
            .args([
                "-q",
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-t",
                "1",
            ])
            .status()
            .is_ok_and(|s| s.success())
    }

    /// SIGKILL to the postmaster: a crash, no shutdown checkpoint. Its backends see it gone
    /// and quit; the next start recovers.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for PrivatePostgres {
    /// A fast shutdown (SIGINT), not a kill: only a postmaster that exits cleanly removes its
    /// System V shared-memory segment, and the folder that would let a later start clean it
    /// up goes away here.
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SAFETY: kill has no memory preconditions; the pid is our own child's, not yet
            // waited for, so it cannot have been reused.
            unsafe { libc::kill(c.id() as libc::pid_t, libc::SIGINT) };
            let deadline = Instant::now() + Duration::from_secs(10);
            while c.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
