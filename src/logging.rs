//! The log: one line per event on stderr, whatever an event's fields hold. Names in log
//! lines come from suppliers and clients; a newline in one must not forge the next line.

use std::io::Write;

use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::prelude::*;

/// Logs events at `default` and above (or as `SHELFREADY_LOG` says) to stderr, each event
/// one line: control characters inside it are written as escapes.
pub fn init(default: &str, ansi: bool) {
    let lines = tracing_subscriber::fmt::layer()
        .with_writer(OneLine { ansi })
        .with_ansi(ansi);
    tracing_subscriber::registry()
        .with(lines.with_filter(filter(default)))
        .init();
}

/// `SHELFREADY_LOG` as `level` or `target=level,...` (tracing's `Targets`: the filter
/// without span and field matching, which needs no regular-expression engine), or `default`
/// when it is unset or unreadable.
fn filter(default: &str) -> Targets {
    std::env::var("SHELFREADY_LOG")
        .ok()
        .and_then(|s| s.parse().ok())
        .or_else(|| default.parse().ok())
        .unwrap_or_else(|| Targets::new().with_default(tracing::Level::INFO))
}

/// Makes one buffer per event, written out escaped when the event is complete.
struct OneLine {
    /// Colours are on: their escape character is the formatter's own.
    ansi: bool,
}

impl<'a> MakeWriter<'a> for OneLine {
    type Writer = Event;

    fn make_writer(&'a self) -> Event {
        Event {
            text: Vec::with_capacity(256),
            ansi: self.ansi,
        }
    }
}

struct Event {
    text: Vec<u8>,
    ansi: bool,
}

impl Write for Event {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.text.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for Event {
    fn drop(&mut self) {
        let text = String::from_utf8_lossy(&self.text);
        let body = text.strip_suffix('\n').unwrap_or(&text);
        let mut line = escaped(body, self.ansi);
        line.push('\n');
        // One write per event, so lines from several threads never interleave.
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }
}

/// `body` with control characters escaped (the colour escapes kept when `ansi`).
fn escaped(body: &str, ansi: bool) -> String {
    if ansi {
        body.split('\u{1b}')
            .map(|part| crate::naming::printable(part).into_owned())
            .collect::<Vec<_>>()
            .join("\u{1b}")
    } else {
        crate::naming::printable(body).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::escaped;

    #[test]
    fn an_event_is_one_line_whatever_its_fields_hold() {
        assert_eq!(
            escaped("INFO x.png\nERROR forged", false),
            "INFO x.png\\nERROR forged"
        );
        assert_eq!(
            escaped("\u{1b}[2mINFO\u{1b}[0m a\rb", true),
            "\u{1b}[2mINFO\u{1b}[0m a\\rb"
        );
    }
}
