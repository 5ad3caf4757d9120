//! Logging: `tracing` with the filter from `RUST_LOG` (default `info`), one line per event.

use std::io::{self, Write};

use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber once; later calls (tests start many apps in one process) are
/// no-ops.
pub fn init() {
    init_with_default("info");
}

/// Like [`init`], with `default` as the filter when `RUST_LOG` is not set.
pub fn init_with_default(default: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(true)
        // Logs go to stderr: stdout belongs to commands whose output is data (`token`).
        .with_writer(OneLine(io::stderr))
        .try_init();
}

/// Writes each formatted event as exactly one line: a line break inside it (a NATS payload or
/// a wiki's error text quoted in a field) is written as `\n` or `\r`, so nobody who can put
/// text in front of the service can forge a log line of their own.
///
/// The fmt layer formats a whole event and hands it over in one `write_all`; only its last
/// byte is the real end of line.
#[derive(Clone, Copy)]
pub struct OneLine<M>(pub M);

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for OneLine<M> {
    type Writer = OneLineWriter<M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        OneLineWriter(self.0.make_writer())
    }
}

pub struct OneLineWriter<W>(W);

impl<W: Write> Write for OneLineWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let (body, end) = match buf.strip_suffix(b"\n") {
            Some(body) => (body, &b"\n"[..]),
            None => (buf, &b""[..]),
        };
        if !body.iter().any(|b| *b == b'\n' || *b == b'\r') {
            self.0.write_all(buf)?;
            return Ok(buf.len());
        }
        let mut line = Vec::with_capacity(buf.len() + 16);
        for b in body {
            match b {
                b'\n' => line.extend_from_slice(b"\\n"),
                b'\r' => line.extend_from_slice(b"\\r"),
                b => line.push(*b),
            }
        }
        line.extend_from_slice(end);
        self.0.write_all(&line)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_line_break_in_a_field_cannot_forge_a_log_line() {
        let out = Captured::default();
        let sink = out.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(OneLine(move || sink.clone()))
            .with_ansi(false)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let reason = "unknown variant `x\n2026-12-03T00:00:00Z ERROR forged: admin logged in`";
            tracing::warn!(%reason, "registration command rejected");
            tracing::info!("next");
        });
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(
            lines[0].contains("x\\n2026-12-03T00:00:00Z ERROR forged"),
            "{text}"
        );
        assert!(lines[1].ends_with("next"), "{text}");
    }
}
