//! Printing: text or JSON results, errors with hints, progress bars.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::sync::Mutex;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use serde::Serialize;
use wharf::oci::copy::{Outcome, Progress};
use wharf::oci::manifest::Descriptor;

use crate::args::Format;

/// Logs go to stderr, off unless `WHARF_LOG` (a tracing filter) asks for them.
/// Without it, a plain level filter: `EnvFilter` compiles its directive
/// regexes on first use, about 20 ms of start-up that every command would pay.
pub fn init_tracing() {
    let builder = tracing_subscriber::fmt().with_writer(std::io::stderr).with_target(false).without_time();
    let _ = match std::env::var("WHARF_LOG") {
        Ok(filter) => builder.with_env_filter(tracing_subscriber::EnvFilter::new(filter)).try_init(),
        Err(_) => builder.with_max_level(tracing::Level::WARN).try_init(),
    };
}

/// A command's failure: the error and how to print it.
pub struct Failure {
    error: wharf::Error,
    format: Format,
}

impl Failure {
    /// Prints `error:` and `hint:` lines on stderr, and for JSON an error document on stdout.
    pub fn report(&self) {
        let message = crate::hints::message(&self.error);
        let hint = crate::hints::hint(&self.error);
        if self.format == Format::Json {
            let doc = serde_json::json!({
                "error": { "kind": self.error.kind(), "message": message, "hint": hint }
            });
            print_json(&doc);
        }
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "error: {message}");
        if let Some(h) = hint {
            let _ = writeln!(err, "hint: {h}");
        }
    }
}

/// Attaches the output format to library errors.
pub trait OrFail<T> {
    /// Maps the error into a [`Failure`] printed in `format`.
    fn or_fail(self, format: Format) -> Result<T, Failure>;
}

impl<T, E: Into<wharf::Error>> OrFail<T> for Result<T, E> {
    fn or_fail(self, format: Format) -> Result<T, Failure> {
        self.map_err(|error| Failure { error: error.into(), format })
    }
}

/// Prints one JSON document on stdout.
pub fn print_json<T: Serialize>(value: &T) {
    let mut out = std::io::stdout().lock();
    let _ = serde_json::to_writer_pretty(&mut out, value);
    let _ = writeln!(out);
}

/// Prints warnings on stderr (text mode; JSON carries them in the document).
pub fn print_warnings(warnings: &[String]) {
    for w in warnings {
        eprintln!("warning: {w}");
    }
}

/// Human size.
pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{bytes} B") } else { format!("{value:.1} {}", UNITS[unit]) }
}

/// Progress bars on a terminal for blobs bigger than a few MiB.
pub struct Bars {
    multi: MultiProgress,
    bars: Mutex<HashMap<String, ProgressBar>>,
}

const BAR_THRESHOLD: u64 = 4 * 1024 * 1024;

impl Bars {
    /// Bars when stderr is a terminal and the output is text; otherwise none.
    pub fn for_terminal(format: Format) -> Option<std::sync::Arc<dyn Progress>> {
        (format == Format::Text && std::io::stderr().is_terminal())
            .then(|| std::sync::Arc::new(Bars { multi: MultiProgress::new(), bars: Mutex::new(HashMap::new()) }) as _)
    }
}

impl Progress for Bars {
    fn started(&self, desc: &Descriptor) {
        if desc.size < BAR_THRESHOLD {
            return;
        }
        let bar = self.multi.add(ProgressBar::new(desc.size));
        if let Ok(style) = ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}") {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(desc.digest.hex().chars().take(12).collect::<String>());
        if let Ok(mut bars) = self.bars.lock() {
            bars.insert(desc.digest.to_string(), bar);
        }
    }

    fn advanced(&self, desc: &Descriptor, bytes: u64) {
        if let Some(bar) = self.bars.lock().ok().and_then(|b| b.get(desc.digest.as_str()).cloned()) {
            bar.inc(bytes);
        }
    }

    fn finished(&self, desc: &Descriptor, _outcome: Outcome) {
        if let Some(bar) = self.bars.lock().ok().and_then(|mut b| b.remove(desc.digest.as_str())) {
            bar.finish_and_clear();
        }
    }
}

/// Where a written signature or attestation is, for the text output: the
/// legacy tag holding `count` of them (`noun`s), or the referrer and how it is
/// listed (`digest` is the subject's, naming the fallback tag).
pub fn written_place(
    written: &wharf::sign::cosign::Written,
    digest: &wharf::oci::digest::Digest,
    noun: &str,
) -> String {
    use wharf::oci::store::{ReferrerIndexing, referrers_tag};
    match (&written.tag, written.indexed) {
        (Some(tag), _) => format!("tag {tag} ({} {noun}(s) there)", written.signatures_in_manifest),
        (None, Some(ReferrerIndexing::ReferrersApi)) => "referrer, listed by the referrers API".into(),
        (None, Some(_)) => format!("referrer, listed in the fallback tag {}", referrers_tag(digest)),
        (None, None) => "referrer".into(),
    }
}
