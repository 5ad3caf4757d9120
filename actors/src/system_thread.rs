//! An actix system on a thread of its own, with its arbiters: the shape both the cache and the
//! service's diff workers run in, so that their actors never share the gateway's tokio runtime.
//! Dropping it stops the system and joins the thread.

use actix::prelude::*;

pub struct SystemThread {
    system: System,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SystemThread {
    /// Starts a system on a thread named `name` with `arbiters` arbiter threads, runs `init` on
    /// the system's own arbiter with their handles, and returns what `init` made once it ran.
    pub fn start<T: Send + 'static>(
        name: &str,
        arbiters: usize,
        init: impl FnOnce(Vec<ArbiterHandle>) -> T + Send + 'static,
    ) -> std::io::Result<(Self, T)> {
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                let system = System::new();
                system.block_on(async move {
                    let handles = (0..arbiters.max(1))
                        .map(|_| Arbiter::new().handle())
                        .collect();
                    let _ = tx.send((init(handles), System::current()));
                });
                let _ = system.run();
            })?;
        let (made, system) = rx
            .recv()
            .map_err(|_| std::io::Error::other(format!("the {name} actor system did not start")))?;
        Ok((
            Self {
                system,
                thread: Some(thread),
            },
            made,
        ))
    }
}

impl Drop for SystemThread {
    fn drop(&mut self) {
        self.system.stop();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
