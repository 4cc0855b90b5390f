//! Diagnostics: `NATCTL_LOG` turns on tracing output on standard error (no colour unless
//! stderr is a terminal and `NO_COLOR` is unset); without it, and only while a spinner can
//! show, the libraries' debug events feed the spinner's detail ("retransmitting, attempt 3")
//! instead of being printed.

use std::fmt::Write as _;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;

use crate::output::{Progress, colour};

/// Sets up diagnostics. Errors: `NATCTL_LOG` is not a filter.
pub(crate) fn init(progress: &Progress) -> Result<bool, String> {
    if let Some(spec) = std::env::var_os("NATCTL_LOG") {
        let filter: Targets = spec.to_string_lossy().parse().map_err(|error| {
            format!("NATCTL_LOG is not a filter like `debug` or `natpmp_proto=trace,info`: {error}")
        })?;
        tracing_subscriber::registry()
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::io::stderr)
                    .with_ansi(colour())
                    .with_filter(filter),
            )
            .init();
        return Ok(true);
    }
    if progress.enabled() {
        tracing_subscriber::registry()
            .with(
                SpinnerLayer {
                    progress: progress.clone(),
                }
                .with_filter(LevelFilter::DEBUG),
            )
            .init();
    }
    Ok(false)
}

/// Shows each debug event of the protocol crates as the spinner's detail.
struct SpinnerLayer {
    progress: Progress,
}

impl<S: Subscriber> Layer<S> for SpinnerLayer {
    fn on_event(&self, event: &Event<'_>, _context: Context<'_, S>) {
        let target = event.metadata().target();
        let ours = ["natpmp_proto", "upnp_soap", "ssdp", "nat_traversal"]
            .iter()
            .any(|crate_name| target.starts_with(crate_name));
        if !ours || *event.metadata().level() > Level::DEBUG {
            return;
        }
        let mut line = Line::default();
        event.record(&mut line);
        // Failures are reported at the end; the spinner shows what is being waited for.
        if !line.0.is_empty() && !line.1 {
            self.progress.detail(&line.0);
        }
    }
}

/// An event as one short line: the message, then `name=value` fields.
#[derive(Default)]
struct Line(String, bool);

impl Visit for Line {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "error" {
            self.1 = true;
        }
        if self.0.len() > 120 {
            return;
        }
        if field.name() == "message" {
            let _ = write!(self.0, "{value:?} ");
        } else {
            let _ = write!(self.0, "{}={value:?} ", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if self.0.len() > 120 {
            return;
        }
        if field.name() == "message" {
            let _ = write!(self.0, "{value} ");
        } else {
            let _ = write!(self.0, "{}={value} ", field.name());
        }
    }
}
