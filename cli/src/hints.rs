//! The hints printed after an error (`hint: ...`): the library's own where it
//! has one, and here the ones that need the command line's words.

use wharf::oci::retry::MAX_RETRY_AFTER;

/// The hint for `error`, if there is one.
pub fn hint(error: &wharf::Error) -> Option<String> {
    if let wharf::Error::Oci(wharf::oci::Error::RetryLater { after, .. }) = error {
        return Some(format!(
            "the registry is limiting requests; wharf waits up to {} s when asked, so run the command again in {} s",
            MAX_RETRY_AFTER.as_secs(),
            after.as_secs().max(1)
        ));
    }
    error.hint()
}
