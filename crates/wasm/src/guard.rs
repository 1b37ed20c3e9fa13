//! wac-types and wit-parser panic on a few shapes of component and WIT package
//! they cannot represent; wharf reads untrusted ones, so every call into them
//! goes through here and a panic becomes a reason in words.

use std::panic::{AssertUnwindSafe, catch_unwind};

/// Runs `f`; a panic becomes the reason `SUBJECT could not be read (wac-types gave up on them)`.
pub(crate) fn unpanicked<T>(
    subject: &str,
    f: impl FnOnce() -> anyhow::Result<T>,
) -> std::result::Result<anyhow::Result<T>, String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|_| format!("{subject} could not be read (wac-types gave up on them)"))
}

/// [`unpanicked`], with the error of `f` in words too.
pub(crate) fn guarded<T>(subject: &str, f: impl FnOnce() -> anyhow::Result<T>) -> std::result::Result<T, String> {
    match unpanicked(subject, f) {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(format!("{e:#}")),
        Err(reason) => Err(reason),
    }
}
