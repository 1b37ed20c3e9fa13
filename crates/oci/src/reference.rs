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

/// Why a reference with a scheme (`https://...`) is refused: wharf picks the
/// scheme itself (a front end may name its flag for plain HTTP after it).
pub const SCHEME_GIVEN: &str = "leave out the scheme (https://); wharf picks it";

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

    /// `location@digest`: the same location pinned to `digest`, for reports (no tag).
    pub fn pinned(&self, digest: &Digest) -> String {
        format!("{}@{digest}", self.location())
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
            return Err(bad(SCHEME_GIVEN));
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

/// Parses `host[:port]/repo[:tag][@digest]` with the distribution reference
/// grammar that oci-spec and docker use (normalising Docker Hub names: `nginx`
/// is `docker.io/library/nginx`), and names the fix when it cannot.
///
/// Hand-written rather than `oci_spec::distribution::Reference`: oci-spec
/// compiles its reference regex on first use, about 20 ms of CPU that every
/// wharf command would pay before its first request. A test checks that both
/// accept the same references and split them the same way.
fn parse_registry(input: &str) -> std::result::Result<RegistryRef, String> {
    const INVALID: &str = "expected HOST[:PORT]/REPO[:TAG][@sha256:HEX] with a lowercase repository";
    let (name_and_tag, digest) = match input.split_once('@') {
        Some((rest, digest)) => (rest, Some(digest.parse::<Digest>().map_err(|e| e.to_string())?)),
        None => (input, None),
    };
    if repository_has_uppercase(input) {
        return Err("repository names must be lowercase".into());
    }
    let (name, tag) = match name_and_tag.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => (name, Some(tag)),
        _ => (name_and_tag, None),
    };
    if let Some(tag) = tag {
        validate_tag(tag)?;
    }
    if name.is_empty() {
        return Err("the repository name is missing (HOST/REPO)".into());
    }
    if !is_name(name) {
        return Err(INVALID.into());
    }
    let (registry, repository) = split_docker_domain(name);
    if repository.len() > 255 {
        return Err("the repository name is too long (255 characters at most)".into());
    }
    if let Some((_, port)) = registry.rsplit_once(':')
        && port.parse::<u16>().map_or(true, |p| p == 0)
    {
        return Err(format!("port {port:?} is not a number from 1 to 65535"));
    }
    Ok(RegistryRef { registry, repository, tag: tag.map(str::to_string), digest })
}

/// `[domain[:port]/]path`: the name part of the distribution reference grammar.
fn is_name(name: &str) -> bool {
    let with_domain = name.split_once('/').is_some_and(|(domain, path)| is_domain(domain) && is_path(path));
    with_domain || is_path(name)
}

/// `component(.component)*[:digits]`, each component alphanumeric with inner dashes.
fn is_domain(domain: &str) -> bool {
    let (host, port) = match domain.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (domain, None),
    };
    let component_ok = |c: &str| {
        let alnum = |ch: char| ch.is_ascii_alphanumeric();
        c.starts_with(alnum) && c.ends_with(alnum) && c.chars().all(|ch| alnum(ch) || ch == '-')
    };
    host.split('.').all(component_ok) && port.is_none_or(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// `component(/component)*`, each component lowercase alphanumeric runs
/// joined by one `.`, one `_`, two `_`, or any number of `-`.
fn is_path(path: &str) -> bool {
    path.split('/').all(is_path_component)
}

/// One path component: lowercase alphanumeric runs joined by `.`, `_`, `__`,
/// or `-+`, and nothing else (no `..`, `._`, `___`, `-.`, no leading or
/// trailing separator).
fn is_path_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    let is_alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if !bytes.first().is_some_and(is_alnum) || !bytes.last().is_some_and(is_alnum) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if is_alnum(&bytes[i]) {
            i += 1;
            continue;
        }
        let run_end = bytes[i..].iter().position(is_alnum).map_or(bytes.len(), |n| i + n);
        let separator = &component[i..run_end];
        let ok = matches!(separator, "." | "_" | "__") || separator.bytes().all(|b| b == b'-');
        if !ok {
            return false;
        }
        i = run_end;
    }
    true
}

/// Docker's domain split: the first path element is the registry when it has
/// a `.` or `:` or is `localhost`; otherwise Docker Hub, where single names
/// are official images (`library/`).
fn split_docker_domain(name: &str) -> (String, String) {
    let (mut domain, mut rest) = match name.split_once('/') {
        Some((first, rest)) if first.contains(['.', ':']) || first == "localhost" => (first, rest.to_string()),
        _ => ("docker.io", name.to_string()),
    };
    if domain == "index.docker.io" {
        domain = "docker.io";
    }
    if domain == "docker.io" && !rest.contains('/') {
        rest = format!("library/{rest}");
    }
    (domain.to_string(), rest)
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

    /// oci-spec's verdict and split, or None where wharf is stricter on
    /// purpose: uppercase repositories (docker refuses them), ports outside
    /// 1..=65535.
    fn oci_spec_view(input: &str) -> Option<std::result::Result<(String, String), ()>> {
        use oci_spec::distribution::Reference as OciRef;
        match input.parse::<OciRef>() {
            Err(_) => Some(Err(())),
            Ok(r) => {
                let bad_port =
                    r.registry().rsplit_once(':').is_some_and(|(_, p)| p.parse::<u16>().map_or(true, |p| p == 0));
                let upper = r.repository().chars().any(|c| c.is_ascii_uppercase());
                (!bad_port && !upper).then(|| Ok((r.registry().to_string(), r.repository().to_string())))
            }
        }
    }

    #[test]
    fn registry_references_split_as_oci_spec_splits_them() {
        let digest = "@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let pieces = [
            "a",
            "b0",
            "Z",
            "9",
            ".",
            "-",
            "--",
            "_",
            "__",
            "___",
            ":",
            "/",
            ":5000",
            "localhost",
            "index.docker.io",
            "docker.io",
            "ghcr.io",
            "127.0.0.1",
            "x-y",
            "a.b",
            "",
            "latest",
            "v1.0",
            "-x",
            "x-",
        ];
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            usize::try_from(state % n as u64).unwrap_or(0)
        };
        let (mut compared, mut accepted) = (0, 0);
        for _ in 0..40_000 {
            let mut input: String = (0..1 + next(6)).map(|_| pieces[next(pieces.len())]).collect();
            if next(4) == 0 {
                input.push_str(digest);
            }
            if input.is_empty() {
                continue;
            }
            let Some(expected) = oci_spec_view(&input) else { continue };
            let ours = parse_registry(&input).map(|r| (r.registry, r.repository)).map_err(|_| ());
            assert_eq!(ours, expected, "{input:?}");
            compared += 1;
            accepted += usize::from(expected.is_ok());
        }
        assert!(compared > 30_000 && accepted > 5_000, "only {compared} inputs compared, {accepted} accepted");
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
