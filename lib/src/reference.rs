//! References to artifacts: registry references as docker and oras write them
//! (`host[:port]/repo[:tag][@sha256:...]`, with docker.io normalisation), and
//! local OCI image layouts as skopeo writes them (`oci:PATH[:TAG]`,
//! `oci:PATH@sha256:...`).

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use crate::digest::Digest;
use crate::error::{Error, Result};

/// Where an artifact lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference {
    /// A repository in an OCI registry.
    Registry(RegistryRef),
    /// A local OCI image layout directory.
    Layout(LayoutRef),
}

/// What to look up inside a repository or layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    /// A tag (or, in a layout, an `org.opencontainers.image.ref.name`).
    Tag(String),
    /// A manifest digest.
    Digest(Digest),
    /// Nothing given: a layout's only manifest.
    Default,
}

/// A registry reference. Keeps both tag and digest when both are given; the digest wins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryRef {
    /// Registry host, with port (`docker.io` for Docker Hub).
    pub registry: String,
    /// Repository path (`library/nginx`).
    pub repository: String,
    /// Tag, if given.
    pub tag: Option<String>,
    /// Digest, if given.
    pub digest: Option<Digest>,
}

/// A local OCI image layout reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayoutRef {
    /// The layout directory.
    pub path: PathBuf,
    /// Tag (`org.opencontainers.image.ref.name`), if given.
    pub tag: Option<String>,
    /// Digest, if given.
    pub digest: Option<Digest>,
}

/// The prefix that marks a local OCI layout reference.
pub const LAYOUT_PREFIX: &str = "oci:";

impl Reference {
    /// Parses a reference, naming what is wrong when it cannot.
    pub fn parse(input: &str) -> Result<Self> {
        input.parse()
    }

    /// The tag, if any.
    pub fn tag(&self) -> Option<&str> {
        match self {
            Reference::Registry(r) => r.tag.as_deref(),
            Reference::Layout(l) => l.tag.as_deref(),
        }
    }

    /// The digest, if any.
    pub fn digest(&self) -> Option<&Digest> {
        match self {
            Reference::Registry(r) => r.digest.as_ref(),
            Reference::Layout(l) => l.digest.as_ref(),
        }
    }

    /// What to resolve: the digest if given, else the tag, else the default
    /// (`latest` for registries, the only manifest for layouts).
    pub fn selector(&self) -> Selector {
        match (self.digest(), self.tag(), self) {
            (Some(d), _, _) => Selector::Digest(d.clone()),
            (None, Some(t), _) => Selector::Tag(t.to_string()),
            (None, None, Reference::Registry(_)) => Selector::Tag("latest".into()),
            (None, None, Reference::Layout(_)) => Selector::Default,
        }
    }

    /// The same location pinned to `digest` (tag kept for display).
    pub fn with_digest(&self, digest: Digest) -> Self {
        let mut out = self.clone();
        match &mut out {
            Reference::Registry(r) => r.digest = Some(digest),
            Reference::Layout(l) => l.digest = Some(digest),
        }
        out
    }

    /// The same location without tag or digest (for display as `repo@digest`).
    pub fn location(&self) -> String {
        match self {
            Reference::Registry(r) => format!("{}/{}", r.registry, r.repository),
            Reference::Layout(l) => format!("{LAYOUT_PREFIX}{}", l.path.display()),
        }
    }

    /// The last path segment of the repository (or layout directory): a default file name.
    pub fn short_name(&self) -> String {
        let full = match self {
            Reference::Registry(r) => r.repository.clone(),
            Reference::Layout(l) => l.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
        };
        let last = full.rsplit('/').next().unwrap_or(&full).to_string();
        if last.is_empty() { "artifact".into() } else { last }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.location())?;
        if let Some(t) = self.tag() {
            write!(f, ":{t}")?;
        }
        if let Some(d) = self.digest() {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

impl FromStr for Reference {
    type Err = Error;
    fn from_str(input: &str) -> Result<Self> {
        let bad = |reason: &str| Error::InvalidReference { input: input.to_string(), reason: reason.to_string() };
        if input.trim().is_empty() {
            return Err(bad("the reference is empty"));
        }
        if input.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad("a reference cannot contain spaces or control characters"));
        }
        if let Some(rest) = input.strip_prefix(LAYOUT_PREFIX) {
            return parse_layout(rest).map(Reference::Layout).map_err(|r| bad(&r));
        }
        if input.contains("://") {
            return Err(bad("leave out the scheme (https://); wharf picks it, see --plain-http"));
        }
        parse_registry(input).map(Reference::Registry).map_err(|r| bad(&r))
    }
}

fn parse_layout(rest: &str) -> std::result::Result<LayoutRef, String> {
    let (path, tag, digest) = if let Some((path, digest)) = rest.rsplit_once('@') {
        let digest = digest.parse::<Digest>().map_err(|e| e.to_string())?;
        (path, None, Some(digest))
    } else if let Some((path, tag)) = rest.split_once(':') {
        validate_tag(tag)?;
        (path, Some(tag.to_string()), None)
    } else {
        (rest, None, None)
    };
    if path.is_empty() {
        return Err("give the layout directory after `oci:`, as in oci:./wharf-store:hello-0.1.0".into());
    }
    Ok(LayoutRef { path: PathBuf::from(path), tag, digest })
}

/// Parses `host[:port]/repo[:tag][@digest]` with oci-spec's grammar (which
/// normalises Docker Hub names: `nginx` is `docker.io/library/nginx`) and turns
/// its terse errors into a sentence naming the fix.
fn parse_registry(input: &str) -> std::result::Result<RegistryRef, String> {
    use oci_spec::distribution::{ParseError, Reference as OciRef};
    if let Some((_, digest)) = input.split_once('@') {
        digest.parse::<Digest>().map_err(|e| e.to_string())?;
    }
    if repository_has_uppercase(input) {
        return Err("repository names must be lowercase".into());
    }
    let parsed: OciRef = input.parse().map_err(|e: ParseError| match e {
        ParseError::NameContainsUppercase => "repository names must be lowercase".to_string(),
        ParseError::NameEmpty => "the repository name is missing (HOST/REPO)".to_string(),
        ParseError::NameTooLong => "the repository name is too long (255 characters at most)".to_string(),
        ParseError::TagInvalidFormat => {
            "the tag is not valid: use letters, digits, '_', '.' and '-' (at most 128, not starting with '.' or '-')"
                .to_string()
        }
        ParseError::DigestInvalidFormat | ParseError::DigestInvalidLength | ParseError::DigestUnsupported => {
            "the digest is not valid: write @sha256: followed by 64 lowercase hex digits".to_string()
        }
        _ => "expected HOST[:PORT]/REPO[:TAG][@sha256:HEX] with a lowercase repository".to_string(),
    })?;
    let digest = parsed.digest().map(str::parse::<Digest>).transpose().map_err(|e| e.to_string())?;
    // oci-spec fills in `latest` when no tag is written; keep what the user wrote.
    let written_tag =
        input.split('@').next().is_some_and(|n| n.rsplit('/').next().is_some_and(|last| last.contains(':')));
    let tag = parsed.tag().filter(|_| written_tag).map(str::to_string);
    if let Some((_, port)) = parsed.registry().rsplit_once(':')
        && port.parse::<u16>().map_or(true, |p| p == 0)
    {
        return Err(format!("port {port:?} is not a number from 1 to 65535"));
    }
    Ok(RegistryRef {
        registry: parsed.registry().to_string(),
        repository: parsed.repository().to_string(),
        tag,
        digest,
    })
}

/// True if the repository part (not the host, not the tag) has an uppercase
/// letter: oci-spec reports that only as "invalid reference format".
fn repository_has_uppercase(input: &str) -> bool {
    let name = input.split('@').next().unwrap_or(input);
    let last_slash = name.rfind('/').map_or(0, |i| i + 1);
    let name = match name[last_slash..].find(':') {
        Some(i) => &name[..last_slash + i],
        None => name,
    };
    let repo = match name.split_once('/') {
        Some((host, rest)) if host.contains(['.', ':']) || host == "localhost" => rest,
        _ => name,
    };
    repo.chars().any(|c| c.is_ascii_uppercase())
}

fn validate_tag(tag: &str) -> std::result::Result<(), String> {
    let ok = !tag.is_empty()
        && tag.len() <= 128
        && tag.chars().next().is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        && tag.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "tag {tag:?} is not valid: use letters, digits, '_', '.' and '-' (at most 128, not starting with '.' or '-')"
        ))
    }
}

/// True for hosts on the loopback interface (`127.0.0.0/8`, `::1`, `localhost`), with or without a port.
pub fn is_loopback_host(registry: &str) -> bool {
    let host = if let Some(rest) = registry.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        registry.rsplit_once(':').map_or(registry, |(h, _)| h)
    };
    host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reg(s: &str) -> RegistryRef {
        match Reference::parse(s) {
            Ok(Reference::Registry(r)) => r,
            other => panic!("{s}: {other:?}"),
        }
    }

    #[test]
    fn registry_references_split_like_docker() {
        let r = reg("127.0.0.1:5000/wasm/hello:0.1.0");
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str(), r.tag.as_deref()),
            ("127.0.0.1:5000", "wasm/hello", Some("0.1.0"))
        );
        let r = reg("nginx");
        assert_eq!((r.registry.as_str(), r.repository.as_str(), r.tag), ("docker.io", "library/nginx", None));
        let r = reg("ghcr.io/org/app@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        assert_eq!(r.tag, None);
        assert!(r.digest.is_some());
        let r = reg("localhost/x:y@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        assert_eq!((r.registry.as_str(), r.tag.as_deref()), ("localhost", Some("y")));
        assert!(r.digest.is_some());
        assert_eq!(reg("user/app").repository, "user/app");
    }

    #[test]
    fn layout_references_split_like_skopeo() {
        let Ok(Reference::Layout(l)) = Reference::parse("oci:./store:hello-0.1.0") else { panic!() };
        assert_eq!((l.path, l.tag.as_deref()), (PathBuf::from("./store"), Some("hello-0.1.0")));
        let Ok(Reference::Layout(l)) = Reference::parse("oci:/tmp/x") else { panic!() };
        assert_eq!((l.path, l.tag), (PathBuf::from("/tmp/x"), None));
        let Ok(Reference::Layout(l)) =
            Reference::parse("oci:dir@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        else {
            panic!()
        };
        assert!(l.digest.is_some());
    }

    #[test]
    fn malformed_references_say_why() {
        for bad in [
            "",
            "Host/UPPER",
            "127.0.0.1:5000/repo:bad tag",
            "127.0.0.1:99999/x",
            "https://ghcr.io/x",
            "x@sha256:12",
            "oci:",
            "ghcr.io/",
            "repo:",
        ] {
            let err = Reference::parse(bad).expect_err(bad);
            assert!(matches!(err, Error::InvalidReference { .. }), "{bad}: {err}");
        }
    }

    #[test]
    fn loopback_detection() {
        for h in ["127.0.0.1:5000", "127.1.2.3", "localhost:80", "[::1]:5000", "localhost"] {
            assert!(is_loopback_host(h), "{h}");
        }
        for h in ["ghcr.io", "10.0.0.1:5000", "localhost.example.com"] {
            assert!(!is_loopback_host(h), "{h}");
        }
    }

    #[test]
    fn display_round_trips() {
        for s in ["127.0.0.1:5000/a/b:1", "oci:store:t"] {
            assert_eq!(Reference::parse(s).map(|r| r.to_string()).ok().as_deref(), Some(s));
        }
    }
}
