//! The OCI annotation keys wharf writes and reads (image-spec `annotations.md`),
//! and the creation time they carry, reproducible by default.

use crate::error::{Error, Result};

/// The layer annotation naming the file (so `oras pull` writes it).
pub const TITLE: &str = "org.opencontainers.image.title";
/// The manifest annotation with the creation time.
pub const CREATED: &str = "org.opencontainers.image.created";
/// The manifest annotation naming the artifact's authors.
pub const AUTHORS: &str = "org.opencontainers.image.authors";
/// The manifest annotation describing the artifact.
pub const DESCRIPTION: &str = "org.opencontainers.image.description";
/// The manifest annotation carrying the artifact's version.
pub const VERSION: &str = "org.opencontainers.image.version";
/// The manifest annotation with the SPDX license expression.
pub const LICENSES: &str = "org.opencontainers.image.licenses";
/// The manifest annotation with the source repository's URL.
pub const SOURCE: &str = "org.opencontainers.image.source";
/// The manifest annotation with the project's URL.
pub const URL: &str = "org.opencontainers.image.url";
/// The manifest annotation with the source revision.
pub const REVISION: &str = "org.opencontainers.image.revision";
/// The index entry annotation naming a tag in an OCI image layout.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// When the artifact says it was created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Created {
    /// Seconds since the Unix epoch (reproducible).
    At(i64),
    /// The current time (not reproducible).
    Now,
}

impl Created {
    /// `SOURCE_DATE_EPOCH` when set, else the Unix epoch: the same input gives
    /// the same digest on every machine.
    pub fn reproducible() -> Result<Self> {
        match std::env::var("SOURCE_DATE_EPOCH") {
            Ok(v) => v
                .trim()
                .parse::<i64>()
                .map(Created::At)
                .map_err(|_| Error::Usage(format!("SOURCE_DATE_EPOCH={v:?} is not a whole number of seconds"))),
            Err(_) => Ok(Created::At(0)),
        }
    }

    /// The RFC 3339 UTC form.
    pub fn rfc3339(self) -> String {
        let secs = match self {
            Created::At(s) => s,
            Created::Now => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX)),
        };
        rfc3339_utc(secs)
    }
}

/// Formats Unix seconds as `YYYY-MM-DDTHH:MM:SSZ` (days-to-civil, proleptic Gregorian).
fn rfc3339_utc(secs: i64) -> String {
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_of_known_instants() {
        assert_eq!(rfc3339_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339_utc(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339_utc(-1), "1969-12-31T23:59:59Z");
    }
}
