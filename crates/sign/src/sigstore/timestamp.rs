//! RFC 3161 signed timestamps, as Sigstore bundles carry them.
//!
//! A Rekor v2 log entry has no integrated time and no signed entry timestamp,
//! so a bundle proves *when* its signature existed with a signed timestamp
//! from a timestamp authority (TSA) that the trusted root lists:
//! `verificationMaterial.timestampVerificationData.rfc3161Timestamps[].signedTimestamp`,
//! an RFC 3161 `TimeStampResp` (a bare `TimeStampToken` is read too). The
//! verifier checks the signing certificate's validity at that time.
//!
//! [`verify`] returns the token's `genTime` only if all of this holds:
//! 1. the response is `granted`, and the token is a CMS SignedData over a
//!    `TSTInfo` (version 1) with exactly one signer;
//! 2. the message imprint is the hash (SHA-256, -384 or -512, as the token
//!    names it) of the bundle's signature bytes;
//! 3. the signed attributes hold the `TSTInfo` content type and its digest,
//!    and the CMS signature over them verifies (ECDSA P-256/P-384, RSA
//!    PKCS#1 v1.5 of 2048 bits or more);
//! 4. the signer is the leaf of a TSA of the trusted root: found by the
//!    signer identifier (issuer and serial number, or subject key
//!    identifier); certificates the token embeds must be certificates of that
//!    TSA's trusted chain (an embedded chain of its own is refused);
//! 5. the leaf has the `timeStamping` extended key usage; each certificate of
//!    the chain is signed by the next, the CAs are CAs (basicConstraints, key
//!    usage, path length), none has an unknown critical extension, and all
//!    are valid at `genTime`;
//! 6. `genTime` lies in the TSA's `validFor` window of the trusted root
//!    (both ends inclusive).
//!
//! Not checked: the ESS `signingCertificate(V2)` attribute (the signer is
//! pinned to the trusted leaf instead), the policy, the nonce, the accuracy,
//! revocation.
//!
//! RustCrypto's `cms` gives the CMS structures. Its companion `x509-tsp`
//! (the `TSTInfo` types) has no release on the der 0.8 / x509-cert 0.3 line
//! this workspace uses (0.1.0 is on der 0.7, the der 0.8 port is unreleased),
//! so the RFC 3161 types are declared here with der's derive, as x509-tsp
//! declares them; `genTime` gets its own type because der's `GeneralizedTime`
//! refuses fractional seconds, which RFC 3161 allows.

use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use cms::cert::CertificateChoices;
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{SignedData, SignerIdentifier, SignerInfo};
use der::asn1::{BitString, Int, ObjectIdentifier, OctetString};
use der::{Decode as _, Encode as _, EncodeValue, FixedTag, Header, Length, Reader, Sequence, Tag, Writer};
use serde_json::Value;
use sha2::{Digest as _, Sha256, Sha384, Sha512};
use x509_cert::Certificate;
use x509_cert::ext::Extensions;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectKeyIdentifier};
use x509_cert::spki::AlgorithmIdentifierOwned;

/// The largest timestamp response read (Sigstore's are about 1 KiB; with an
/// embedded 4096-bit RSA chain about 6 KiB).
const MAX_TOKEN_BYTES: usize = 64 * 1024;
/// The most certificates a token may embed.
const MAX_EMBEDDED_CERTIFICATES: usize = 8;
/// The most timestamp authorities a trusted root may list.
const MAX_AUTHORITIES: usize = 64;
/// The most certificates in one authority's chain.
const MAX_CHAIN_CERTIFICATES: usize = 8;
/// The smallest RSA modulus accepted, in bits.
const MIN_RSA_BITS: u32 = 2048;

const ID_SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
const ID_CT_TST_INFO: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.1.4");
const ID_CONTENT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
const ID_MESSAGE_DIGEST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
const ID_KP_TIME_STAMPING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.8");
const ID_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const ID_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2");
const ID_SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.3");
const ECDSA_WITH_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const ECDSA_WITH_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");
const ECDSA_WITH_SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.4");
const ID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const SHA256_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
const SHA384_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.12");
const SHA512_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.13");
/// Extensions a TSA certificate may mark critical: the ones checked here, and
/// those that only describe (subject alternative name, key identifiers, policies).
const KNOWN_EXTENSIONS: [&str; 7] = [
    "2.5.29.14", // subjectKeyIdentifier
    "2.5.29.15", // keyUsage
    "2.5.29.17", // subjectAltName
    "2.5.29.19", // basicConstraints
    "2.5.29.32", // certificatePolicies
    "2.5.29.35", // authorityKeyIdentifier
    "2.5.29.37", // extKeyUsage
];

// ---------------------------------------------------------------------------
// RFC 3161 structures (see the module docs for why they are declared here).

/// `PKIStatusInfo` (RFC 3161 §2.4.2).
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct PkiStatusInfo {
    status: u8,
    #[asn1(optional = "true")]
    status_string: Option<Vec<String>>,
    #[asn1(optional = "true")]
    fail_info: Option<BitString>,
}

/// `TimeStampResp`: the status and, when granted, the token.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct TimeStampResp {
    status: PkiStatusInfo,
    #[asn1(optional = "true")]
    time_stamp_token: Option<ContentInfo>,
}

/// `MessageImprint`: the hash of the timestamped data.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct MessageImprint {
    hash_algorithm: AlgorithmIdentifierOwned,
    hashed_message: OctetString,
}

/// `Accuracy` of `genTime`.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct Accuracy {
    #[asn1(optional = "true")]
    seconds: Option<u64>,
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT", optional = "true")]
    millis: Option<u16>,
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", optional = "true")]
    micros: Option<u16>,
}

/// `TSTInfo`: what the TSA signs.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct TstInfo {
    version: u8,
    policy: ObjectIdentifier,
    message_imprint: MessageImprint,
    serial_number: Int,
    gen_time: GenTime,
    #[asn1(optional = "true")]
    accuracy: Option<Accuracy>,
    #[asn1(default = "Default::default")]
    ordering: bool,
    #[asn1(optional = "true")]
    nonce: Option<Int>,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    tsa: Option<GeneralName>,
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", optional = "true")]
    extensions: Option<Extensions>,
}

/// An instant: Unix seconds and nanoseconds (ordered as a pair).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Instant {
    secs: i64,
    nanos: u32,
}

impl Instant {
    fn from_duration(since_epoch: Duration) -> Option<Instant> {
        Some(Instant { secs: i64::try_from(since_epoch.as_secs()).ok()?, nanos: since_epoch.subsec_nanos() })
    }

    fn at(time: x509_cert::time::Time) -> Option<Instant> {
        Instant::from_duration(time.to_unix_duration())
    }
}

impl fmt::Display for Instant {
    /// RFC 3339, UTC.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let date =
            u64::try_from(self.secs).ok().and_then(|s| der::DateTime::from_unix_duration(Duration::from_secs(s)).ok());
        match date {
            Some(date) if self.nanos == 0 => write!(f, "{date}"),
            Some(date) => {
                let text = date.to_string();
                let fraction = format!("{:09}", self.nanos);
                write!(f, "{}.{}Z", text.trim_end_matches('Z'), fraction.trim_end_matches('0'))
            }
            None => write!(f, "{} s since the Unix epoch", self.secs),
        }
    }
}

/// `genTime`: a DER GeneralizedTime (`YYYYMMDDHHMMSS[.f]Z`), whose
/// fractional seconds der's `GeneralizedTime` does not accept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct GenTime(Instant);

impl GenTime {
    /// At most nine fractional digits.
    const MAX_LEN: usize = 25;

    /// Reads the DER text: seconds present, `Z`, a fraction without trailing zeros.
    fn parse(text: &[u8]) -> Option<GenTime> {
        if text.len() > Self::MAX_LEN {
            return None;
        }
        let text = std::str::from_utf8(text).ok()?.strip_suffix('Z')?;
        let (whole, fraction) = match text.split_once('.') {
            Some((whole, fraction)) => (whole, Some(fraction)),
            None => (text, None),
        };
        let digits = |from: usize, to: usize| -> Option<u16> {
            let part = whole.get(from..to)?;
            part.bytes().all(|b| b.is_ascii_digit()).then(|| part.parse().ok())?
        };
        if whole.len() != 14 {
            return None;
        }
        let narrow = |v: u16| u8::try_from(v).ok();
        let date = der::DateTime::new(
            digits(0, 4)?,
            narrow(digits(4, 6)?)?,
            narrow(digits(6, 8)?)?,
            narrow(digits(8, 10)?)?,
            narrow(digits(10, 12)?)?,
            narrow(digits(12, 14)?)?,
        )
        .ok()?;
        let nanos = match fraction {
            None => 0,
            Some(f) if f.is_empty() || f.len() > 9 || f.ends_with('0') || !f.bytes().all(|b| b.is_ascii_digit()) => {
                return None;
            }
            Some(f) => format!("{f:0<9}").parse().ok()?,
        };
        let secs = i64::try_from(date.unix_duration().as_secs()).ok()?;
        Some(GenTime(Instant { secs, nanos }))
    }

    fn text(&self) -> der::Result<String> {
        let secs = u64::try_from(self.0.secs).map_err(|_| der::Error::from(Self::TAG.value_error()))?;
        let t = der::DateTime::from_unix_duration(Duration::from_secs(secs))?;
        let whole =
            format!("{:04}{:02}{:02}{:02}{:02}{:02}", t.year(), t.month(), t.day(), t.hour(), t.minutes(), t.seconds());
        if self.0.nanos == 0 {
            return Ok(format!("{whole}Z"));
        }
        let fraction = format!("{:09}", self.0.nanos);
        Ok(format!("{whole}.{}Z", fraction.trim_end_matches('0')))
    }
}

impl FixedTag for GenTime {
    const TAG: Tag = Tag::GeneralizedTime;
}

impl<'a> der::DecodeValue<'a> for GenTime {
    type Error = der::Error;

    fn decode_value<R: Reader<'a>>(reader: &mut R, header: Header) -> der::Result<Self> {
        let len = usize::try_from(header.length())?;
        if len > Self::MAX_LEN {
            return Err(reader.error(Self::TAG.value_error()));
        }
        let text = reader.read_vec(header.length())?;
        GenTime::parse(&text).ok_or_else(|| reader.error(Self::TAG.value_error()))
    }
}

impl EncodeValue for GenTime {
    fn value_len(&self) -> der::Result<Length> {
        Length::try_from(self.text()?.len())
    }

    fn encode_value(&self, writer: &mut impl Writer) -> der::Result<()> {
        writer.write(self.text()?.as_bytes())
    }
}

// ---------------------------------------------------------------------------
// Hashes and signatures.

/// A SHA-2 hash a token may name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Hash {
    Sha256,
    Sha384,
    Sha512,
}

impl Hash {
    fn from_oid(oid: &ObjectIdentifier) -> Option<Hash> {
        match *oid {
            ID_SHA256 => Some(Hash::Sha256),
            ID_SHA384 => Some(Hash::Sha384),
            ID_SHA512 => Some(Hash::Sha512),
            _ => None,
        }
    }

    /// The hash an algorithm identifier names, refusing parameters other than NULL.
    fn of_algorithm(algorithm: &AlgorithmIdentifierOwned, what: &str) -> Result<Hash, String> {
        let hash = Hash::from_oid(&algorithm.oid)
            .ok_or_else(|| format!("{what} {} is not SHA-256, SHA-384 or SHA-512", algorithm.oid))?;
        match &algorithm.parameters {
            Some(p) if !p.is_null() => Err(format!("{what} {} has parameters", algorithm.oid)),
            _ => Ok(hash),
        }
    }

    fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            Hash::Sha256 => Sha256::digest(data).to_vec(),
            Hash::Sha384 => Sha384::digest(data).to_vec(),
            Hash::Sha512 => Sha512::digest(data).to_vec(),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Hash::Sha256 => "SHA-256",
            Hash::Sha384 => "SHA-384",
            Hash::Sha512 => "SHA-512",
        }
    }
}

/// A signature scheme: the key family and the hash signed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scheme {
    Ecdsa(Hash),
    RsaPkcs1(Hash),
}

impl Scheme {
    /// The scheme `algorithm` names. `digest` is the CMS signer's digest
    /// algorithm: a bare key algorithm (`id-ecPublicKey`, `rsaEncryption`)
    /// takes it, and a named hash must agree with it.
    fn of(algorithm: &ObjectIdentifier, digest: Option<Hash>) -> Result<Scheme, String> {
        let unsupported =
            || format!("signature algorithm {algorithm} is not supported (ECDSA or RSA PKCS#1 v1.5 with SHA-2)");
        let named = match *algorithm {
            ECDSA_WITH_SHA256 => Scheme::Ecdsa(Hash::Sha256),
            ECDSA_WITH_SHA384 => Scheme::Ecdsa(Hash::Sha384),
            ECDSA_WITH_SHA512 => Scheme::Ecdsa(Hash::Sha512),
            SHA256_WITH_RSA => Scheme::RsaPkcs1(Hash::Sha256),
            SHA384_WITH_RSA => Scheme::RsaPkcs1(Hash::Sha384),
            SHA512_WITH_RSA => Scheme::RsaPkcs1(Hash::Sha512),
            ID_EC_PUBLIC_KEY => return digest.map(Scheme::Ecdsa).ok_or_else(unsupported),
            RSA_ENCRYPTION => return digest.map(Scheme::RsaPkcs1).ok_or_else(unsupported),
            _ => return Err(unsupported()),
        };
        match digest {
            Some(d) if d != named.hash() => Err(format!(
                "the signature algorithm ({}) disagrees with the digest algorithm ({})",
                named.hash().name(),
                d.name()
            )),
            _ => Ok(named),
        }
    }

    fn hash(self) -> Hash {
        match self {
            Scheme::Ecdsa(h) | Scheme::RsaPkcs1(h) => h,
        }
    }
}

/// Verifies `signature` over `message` with the key of `cert`.
fn verify_with(cert: &Certificate, scheme: Scheme, message: &[u8], signature: &[u8]) -> Result<(), String> {
    use p256::ecdsa::signature::hazmat::PrehashVerifier as _;
    use p256::pkcs8::DecodePublicKey as _;
    let spki = cert.tbs_certificate().subject_public_key_info().to_der().map_err(|e| e.to_string())?;
    let prehash = scheme.hash().digest(message);
    const BAD: &str = "the signature does not verify";
    match scheme {
        Scheme::Ecdsa(_) => {
            if let Ok(key) = p256::ecdsa::VerifyingKey::from_public_key_der(&spki) {
                let sig = p256::ecdsa::Signature::from_der(signature).map_err(|_| "the signature is not DER ECDSA")?;
                return key.verify_prehash(&prehash, &sig).map_err(|_| BAD.to_string());
            }
            if let Ok(key) = p384::ecdsa::VerifyingKey::from_public_key_der(&spki) {
                let sig = p384::ecdsa::Signature::from_der(signature).map_err(|_| "the signature is not DER ECDSA")?;
                return key.verify_prehash(&prehash, &sig).map_err(|_| BAD.to_string());
            }
            Err("the signature is ECDSA but the key is not ECDSA P-256 or P-384".into())
        }
        Scheme::RsaPkcs1(hash) => {
            use rsa::traits::PublicKeyParts as _;
            let key = rsa::RsaPublicKey::from_public_key_der(&spki)
                .map_err(|e| format!("the signature is RSA but the key does not read as RSA ({e})"))?;
            if key.n().bits() < MIN_RSA_BITS {
                return Err(format!("the RSA key has {} bits, fewer than {MIN_RSA_BITS}", key.n().bits()));
            }
            let padding = match hash {
                Hash::Sha256 => rsa::Pkcs1v15Sign::new::<Sha256>(),
                Hash::Sha384 => rsa::Pkcs1v15Sign::new::<Sha384>(),
                Hash::Sha512 => rsa::Pkcs1v15Sign::new::<Sha512>(),
            };
            key.verify(padding, &prehash, signature).map_err(|_| BAD.to_string())
        }
    }
}

// ---------------------------------------------------------------------------
// Trusted root: timestamp authorities.

/// A timestamp authority of a trusted root (`timestampAuthorities[]`).
#[derive(Debug, Clone)]
pub struct TimestampAuthority {
    /// Its `uri`, else its subject's common name: for messages.
    name: String,
    /// `certChain.certificates`, leaf first, and their DER.
    chain: Vec<Certificate>,
    chain_der: Vec<Vec<u8>>,
    /// `validFor`: the start, and the end (inclusive) when given.
    start: Instant,
    end: Option<Instant>,
}

/// The timestamp authorities of a Sigstore trusted root (none when it lists none).
///
/// Each needs a certificate chain (base64 DER, leaf first, at most
/// 8) and a `validFor` with an RFC 3339 `start`; an `end`, when present, must parse.
pub fn parse_authorities(trusted_root: &Value) -> Result<Vec<TimestampAuthority>, String> {
    let list = match trusted_root.get("timestampAuthorities") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(list)) => list,
        Some(_) => return Err("timestampAuthorities is not a list".into()),
    };
    if list.len() > MAX_AUTHORITIES {
        return Err(format!("timestampAuthorities lists {} authorities, more than {MAX_AUTHORITIES}", list.len()));
    }
    list.iter()
        .enumerate()
        .map(|(i, entry)| authority(entry).map_err(|e| format!("timestampAuthorities[{i}]: {e}")))
        .collect()
}

fn authority(entry: &Value) -> Result<TimestampAuthority, String> {
    let certificates =
        entry.pointer("/certChain/certificates").and_then(Value::as_array).ok_or("it has no certChain.certificates")?;
    if certificates.is_empty() {
        return Err("its certChain has no certificates".into());
    }
    if certificates.len() > MAX_CHAIN_CERTIFICATES {
        return Err(format!(
            "its certChain has {} certificates, more than {MAX_CHAIN_CERTIFICATES}",
            certificates.len()
        ));
    }
    let mut chain = Vec::new();
    let mut chain_der = Vec::new();
    for (i, c) in certificates.iter().enumerate() {
        let text = c.get("rawBytes").and_then(Value::as_str).ok_or(format!("certificate {i} has no rawBytes"))?;
        let der = B64.decode(text.trim()).map_err(|e| format!("certificate {i} is not base64 ({e})"))?;
        let cert =
            Certificate::from_der(&der).map_err(|e| format!("certificate {i} is not an X.509 certificate ({e})"))?;
        chain.push(cert);
        chain_der.push(der);
    }
    let valid_for = entry.get("validFor").ok_or("it has no validFor")?;
    let start = match valid_for.get("start") {
        Some(Value::String(text)) => rfc3339(text).ok_or(format!("validFor.start {text:?} is not an RFC 3339 time"))?,
        _ => return Err("validFor has no start".into()),
    };
    let end = match valid_for.get("end") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => {
            Some(rfc3339(text).ok_or(format!("validFor.end {text:?} is not an RFC 3339 time"))?)
        }
        Some(_) => return Err("validFor.end is not a string".into()),
    };
    if end.is_some_and(|end| end < start) {
        return Err("validFor ends before it starts".into());
    }
    let name = match entry.get("uri").and_then(Value::as_str) {
        Some(uri) if !uri.is_empty() => uri.to_string(),
        _ => chain.first().map(|leaf| leaf.tbs_certificate().subject().to_string()).unwrap_or_default(),
    };
    Ok(TimestampAuthority { name, chain, chain_der, start, end })
}

/// Reads an RFC 3339 time (`2025-04-09T00:00:00Z`, `2023-04-14T00:00:00.000+02:00`).
fn rfc3339(text: &str) -> Option<Instant> {
    let bytes = text.as_bytes();
    let number = |from: usize, to: usize| -> Option<u16> {
        let part = text.get(from..to)?;
        part.bytes().all(|b| b.is_ascii_digit()).then(|| part.parse().ok())?
    };
    let separators = [(4, b'-'), (7, b'-'), (13, b':'), (16, b':')];
    if bytes.len() < 20 || separators.iter().any(|&(i, c)| bytes[i] != c) || !matches!(bytes[10], b'T' | b't') {
        return None;
    }
    let narrow = |v: u16| u8::try_from(v).ok();
    let date = der::DateTime::new(
        number(0, 4)?,
        narrow(number(5, 7)?)?,
        narrow(number(8, 10)?)?,
        narrow(number(11, 13)?)?,
        narrow(number(14, 16)?)?,
        narrow(number(17, 19)?)?,
    )
    .ok()?;
    let mut rest = text.get(19..)?;
    let mut nanos = 0u32;
    if let Some(after_dot) = rest.strip_prefix('.') {
        let digits = after_dot.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let fraction = after_dot.get(..digits)?;
        let kept = fraction.get(..digits.min(9))?;
        nanos = format!("{kept:0<9}").parse().ok()?;
        rest = after_dot.get(digits..)?;
    }
    let offset: i64 = match rest.as_bytes() {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let two = |a: u8, b: u8| -> Option<i64> {
                (a.is_ascii_digit() && b.is_ascii_digit()).then(|| i64::from((a - b'0') * 10 + (b - b'0')))
            };
            let (hours, minutes) = (two(*h1, *h2)?, two(*m1, *m2)?);
            if hours > 23 || minutes > 59 {
                return None;
            }
            let offset = hours * 3600 + minutes * 60;
            if *sign == b'+' { offset } else { -offset }
        }
        _ => return None,
    };
    let local = i64::try_from(date.unix_duration().as_secs()).ok()?;
    Some(Instant { secs: local.checked_sub(offset)?, nanos })
}

// ---------------------------------------------------------------------------
// The token.

/// A parsed timestamp token: the parts that [`verify`] checks.
struct Token {
    tst_info: TstInfo,
    /// The DER of `TSTInfo` (the encapsulated content the signer digested).
    tst_info_der: Box<[u8]>,
    signer: SignerInfo,
    embedded: Vec<Certificate>,
}

impl Token {
    /// Reads a `TimeStampResp` (what Sigstore stores) or a bare `TimeStampToken`.
    fn parse(bytes: &[u8]) -> Result<Token, String> {
        if bytes.len() > MAX_TOKEN_BYTES {
            return Err(format!("the timestamp is {} bytes, more than the {MAX_TOKEN_BYTES} allowed", bytes.len()));
        }
        let content_info = match TimeStampResp::from_der(bytes) {
            Ok(response) => granted(response)?,
            Err(response_error) => ContentInfo::from_der(bytes).map_err(|_| {
                format!("the timestamp is not an RFC 3161 TimeStampResp or TimeStampToken ({response_error})")
            })?,
        };
        if content_info.content_type != ID_SIGNED_DATA {
            return Err(format!("the timestamp token is {}, not CMS SignedData", content_info.content_type));
        }
        let signed: SignedData =
            content_info.content.decode_as().map_err(|e| format!("the timestamp token is not CMS SignedData ({e})"))?;
        let encapsulated = &signed.encap_content_info;
        if encapsulated.econtent_type != ID_CT_TST_INFO {
            return Err(format!("the timestamp token signs {}, not a TSTInfo", encapsulated.econtent_type));
        }
        let tst_info_der = encapsulated
            .econtent
            .as_ref()
            .ok_or("the timestamp token has no TSTInfo content")?
            .decode_as::<OctetString>()
            .map_err(|e| format!("the timestamp token's content is not an OCTET STRING ({e})"))?
            .into_bytes();
        let tst_info =
            TstInfo::from_der(&tst_info_der).map_err(|e| format!("the timestamp's TSTInfo does not parse ({e})"))?;
        if tst_info.version != 1 {
            return Err(format!("the timestamp's TSTInfo has version {}, not 1", tst_info.version));
        }
        // RFC 5652 §5.1: version 3 for content other than id-data.
        if signed.version != CmsVersion::V3 {
            return Err(format!("the timestamp's SignedData has version {:?}, not 3", signed.version));
        }
        let mut signers = signed.signer_infos.0.into_vec();
        if signers.len() != 1 {
            return Err(format!("the timestamp token has {} signers, not one", signers.len()));
        }
        let signer = signers.remove(0);
        // RFC 5652 §5.3: version 1 goes with issuer and serial number, 3 with a subject key identifier.
        let expected = match signer.sid {
            SignerIdentifier::IssuerAndSerialNumber(_) => CmsVersion::V1,
            SignerIdentifier::SubjectKeyIdentifier(_) => CmsVersion::V3,
        };
        if signer.version != expected {
            return Err(format!("the timestamp's SignerInfo has version {:?}, not {expected:?}", signer.version));
        }
        if !signed.digest_algorithms.iter().any(|a| a.oid == signer.digest_alg.oid) {
            return Err("the timestamp signer's digest algorithm is not among the SignedData's digestAlgorithms".into());
        }
        let embedded = embedded_certificates(signed.certificates)?;
        Ok(Token { tst_info, tst_info_der, signer, embedded })
    }

    fn gen_time(&self) -> Instant {
        self.tst_info.gen_time.0
    }

    /// The message imprint must be the hash of `signature`.
    fn check_imprint(&self, signature: &[u8]) -> Result<(), String> {
        let imprint = &self.tst_info.message_imprint;
        let hash = Hash::of_algorithm(&imprint.hash_algorithm, "the timestamp's message imprint algorithm")?;
        if imprint.hashed_message.as_bytes() != hash.digest(signature).as_slice() {
            return Err(format!(
                "the timestamp is for other data: its message imprint is not the {} of the bundle's signature",
                hash.name()
            ));
        }
        Ok(())
    }

    /// The signed attributes name the TSTInfo content and hold its digest;
    /// returns their DER (what the signature covers) and the digest algorithm.
    fn signed_attributes(&self) -> Result<(Vec<u8>, Hash), String> {
        let digest = Hash::of_algorithm(&self.signer.digest_alg, "the timestamp signer's digest algorithm")?;
        let attributes = self.signer.signed_attrs.as_ref().ok_or("the timestamp's signer has no signed attributes")?;
        let single = |oid: ObjectIdentifier, name: &str| -> Result<der::Any, String> {
            let mut found = attributes.iter().filter(|a| a.oid == oid);
            match (found.next(), found.next()) {
                (Some(a), None) if a.values.len() == 1 => a.values.iter().next().cloned().ok_or_else(String::new),
                (None, _) => Err(format!("the timestamp's signed attributes have no {name}")),
                _ => Err(format!("the timestamp's signed attributes have more than one {name}")),
            }
        };
        let content_type: ObjectIdentifier = single(ID_CONTENT_TYPE, "content type")?
            .decode_as()
            .map_err(|e| format!("the timestamp's signed content type is not an OID ({e})"))?;
        if content_type != ID_CT_TST_INFO {
            return Err(format!("the timestamp's signed content type is {content_type}, not TSTInfo"));
        }
        let message_digest: OctetString = single(ID_MESSAGE_DIGEST, "message digest")?
            .decode_as()
            .map_err(|e| format!("the timestamp's signed message digest is not an OCTET STRING ({e})"))?;
        if message_digest.as_bytes() != digest.digest(&self.tst_info_der).as_slice() {
            return Err("the timestamp's signed message digest is not the digest of its TSTInfo (altered token)".into());
        }
        let der = attributes.to_der().map_err(|e| format!("the timestamp's signed attributes do not encode ({e})"))?;
        Ok((der, digest))
    }

    /// The trusted authorities whose leaf is this token's signer, or why none.
    fn signer_authorities<'a>(
        &self,
        authorities: &'a [TimestampAuthority],
    ) -> Result<Vec<&'a TimestampAuthority>, String> {
        let sid = &self.signer.sid;
        let matching: Vec<&TimestampAuthority> =
            authorities.iter().filter(|a| a.chain.first().is_some_and(|leaf| identifies(sid, leaf))).collect();
        if let Some(embedded_signer) = self.embedded.iter().find(|c| identifies(sid, c)) {
            let trusted: Vec<&TimestampAuthority> =
                matching.into_iter().filter(|a| a.chain.first() == Some(embedded_signer)).collect();
            if trusted.is_empty() {
                return Err(format!(
                    "the timestamp was signed by {}, whose certificate it embeds, which is not a timestamp authority of the trusted root",
                    embedded_signer.tbs_certificate().subject()
                ));
            }
            return Ok(trusted);
        }
        if matching.is_empty() {
            return Err(format!(
                "the timestamp was signed by {}, which is not a timestamp authority of the trusted root",
                describe(sid)
            ));
        }
        Ok(matching)
    }

    /// Every embedded certificate must be one of `authority`'s chain.
    fn check_embedded(&self, authority: &TimestampAuthority) -> Result<(), String> {
        match self.embedded.iter().find(|c| !authority.chain.contains(c)) {
            Some(stranger) => Err(format!(
                "the timestamp embeds a certificate ({}) that is not in the trusted chain of {}",
                stranger.tbs_certificate().subject(),
                authority.name
            )),
            None => Ok(()),
        }
    }
}

/// The token of a granted response (status 0 or 1).
fn granted(response: TimeStampResp) -> Result<ContentInfo, String> {
    match response.status.status {
        0 | 1 => {
            response.time_stamp_token.ok_or_else(|| "the timestamp response is granted but has no token".to_string())
        }
        status => {
            let text = response.status.status_string.map(|s| format!(": {}", s.join("; "))).unwrap_or_default();
            Err(format!("the timestamp response was not granted (status {status}{text})"))
        }
    }
}

fn embedded_certificates(set: Option<cms::signed_data::CertificateSet>) -> Result<Vec<Certificate>, String> {
    let choices = set.map(|s| s.0.into_vec()).unwrap_or_default();
    if choices.len() > MAX_EMBEDDED_CERTIFICATES {
        return Err(format!(
            "the timestamp embeds {} certificates, more than {MAX_EMBEDDED_CERTIFICATES}",
            choices.len()
        ));
    }
    choices
        .into_iter()
        .map(|choice| match choice {
            CertificateChoices::Certificate(cert) => Ok(cert),
            CertificateChoices::Other(_) => Err("the timestamp embeds a certificate that is not X.509".to_string()),
        })
        .collect()
}

/// Whether the signer identifier `sid` names `cert`.
fn identifies(sid: &SignerIdentifier, cert: &Certificate) -> bool {
    let tbs = cert.tbs_certificate();
    match sid {
        SignerIdentifier::IssuerAndSerialNumber(id) => {
            id.issuer == *tbs.issuer() && id.serial_number.as_bytes() == tbs.serial_number().as_bytes()
        }
        SignerIdentifier::SubjectKeyIdentifier(key_id) => {
            matches!(tbs.get_extension::<SubjectKeyIdentifier>(), Ok(Some((_, own))) if own == *key_id)
        }
    }
}

fn describe(sid: &SignerIdentifier) -> String {
    match sid {
        SignerIdentifier::IssuerAndSerialNumber(id) => {
            format!("serial {} of {}", wharf_oci::digest::hex(id.serial_number.as_bytes()), id.issuer)
        }
        SignerIdentifier::SubjectKeyIdentifier(key_id) => {
            format!("subject key {}", wharf_oci::digest::hex(key_id.0.as_bytes()))
        }
    }
}

// ---------------------------------------------------------------------------
// Certificate chain.

/// The chain of `authority` holds at `time`: see the module docs, step 5.
fn check_chain(authority: &TimestampAuthority, time: Instant) -> Result<(), String> {
    let leaf = authority.chain.first().ok_or("the TSA has no certificate")?;
    let eku = leaf.tbs_certificate().get_extension::<ExtendedKeyUsage>();
    match eku {
        Ok(Some((_, ExtendedKeyUsage(purposes)))) if purposes.contains(&ID_KP_TIME_STAMPING) => {}
        Ok(_) => return Err(format!("the TSA certificate of {} lacks the timeStamping key usage", authority.name)),
        Err(e) => {
            return Err(format!("the TSA certificate of {} has a malformed extended key usage ({e})", authority.name));
        }
    }
    for (i, cert) in authority.chain.iter().enumerate() {
        let subject = cert.tbs_certificate().subject();
        check_extensions(cert).map_err(|e| format!("TSA certificate {subject}: {e}"))?;
        check_validity(cert, time).map_err(|e| format!("TSA certificate {subject}: {e}"))?;
        if i > 0 {
            check_ca(cert, i - 1).map_err(|e| format!("TSA certificate {subject}: {e}"))?;
        }
        if let (Some(issuer), Some(der)) = (authority.chain.get(i + 1), authority.chain_der.get(i)) {
            signed_by(der, cert, issuer)
                .map_err(|e| format!("TSA certificate {subject} is not signed by the next in the chain: {e}"))?;
        }
    }
    Ok(())
}

fn check_validity(cert: &Certificate, time: Instant) -> Result<(), String> {
    let validity = cert.tbs_certificate().validity();
    let (from, to) = (Instant::at(validity.not_before), Instant::at(validity.not_after));
    let (from, to) = from.zip(to).ok_or("its validity does not convert to Unix time")?;
    if time < from || time > to {
        return Err(format!("the timestamp's time {time} is outside its validity ({from} to {to})"));
    }
    Ok(())
}

/// A CA with `below` CA certificates under it (not counting the leaf).
fn check_ca(cert: &Certificate, below: usize) -> Result<(), String> {
    let tbs = cert.tbs_certificate();
    match tbs.get_extension::<BasicConstraints>() {
        Ok(Some((_, bc))) if bc.ca => {
            if bc.path_len_constraint.is_some_and(|len| usize::from(len) < below) {
                return Err(format!("its path length constraint allows fewer than the {below} CAs under it"));
            }
        }
        Ok(_) => return Err("it issues the next certificate but is not a CA (basicConstraints)".into()),
        Err(e) => return Err(format!("its basicConstraints are malformed ({e})")),
    }
    match tbs.get_extension::<KeyUsage>() {
        Ok(Some((_, usage))) if !usage.key_cert_sign() => {
            Err("its key usage does not allow signing certificates".into())
        }
        Ok(_) => Ok(()),
        Err(e) => Err(format!("its key usage is malformed ({e})")),
    }
}

fn check_extensions(cert: &Certificate) -> Result<(), String> {
    for ext in cert.tbs_certificate().extensions().into_iter().flatten() {
        let oid = ext.extn_id.to_string();
        if ext.critical && !KNOWN_EXTENSIONS.contains(&oid.as_str()) {
            return Err(format!("it has an unknown critical extension {oid}"));
        }
    }
    Ok(())
}

/// `issuer`'s key signed `cert` (whose DER is `cert_der`).
fn signed_by(cert_der: &[u8], cert: &Certificate, issuer: &Certificate) -> Result<(), String> {
    let tbs = tbs_bytes(cert_der).map_err(|e| format!("its DER does not split ({e})"))?;
    let scheme = Scheme::of(&cert.signature_algorithm().oid, None)?;
    let signature = cert.signature().as_bytes().ok_or("its signature has unused bits")?;
    verify_with(issuer, scheme, tbs, signature)
}

/// The DER of a certificate's TBSCertificate, as signed (not re-encoded).
fn tbs_bytes(cert_der: &[u8]) -> der::Result<&[u8]> {
    let mut reader = der::SliceReader::new(cert_der)?;
    // Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue }
    reader.sequence(|inner| {
        let tbs = inner.tlv_bytes()?;
        inner.tlv_bytes()?;
        inner.tlv_bytes()?;
        Ok(tbs)
    })
}

// ---------------------------------------------------------------------------
// Verification.

/// Verifies an RFC 3161 timestamp of a bundle: `token_der` is a base64-decoded
/// `signedTimestamp`, `signature` the bundle's signature bytes
/// (`messageSignature.signature`, or the DSSE envelope's signature).
/// Returns `genTime` in Unix seconds (fractions dropped), or why the
/// timestamp is refused. See the module docs for what is checked.
#[cfg(any(test, feature = "fuzzing"))]
pub fn verify(token_der: &[u8], signature: &[u8], authorities: &[TimestampAuthority]) -> Result<i64, String> {
    verify_naming_authority(token_der, signature, authorities).map(|(time, _)| time)
}

/// The checks that depend on which authority signed.
fn verify_by(
    token: &Token,
    authority: &TimestampAuthority,
    scheme: Scheme,
    signed_attributes: &[u8],
) -> Result<(), String> {
    token.check_embedded(authority)?;
    let leaf = authority.chain.first().ok_or("the TSA has no certificate")?;
    verify_with(leaf, scheme, signed_attributes, token.signer.signature.as_bytes())
        .map_err(|e| format!("the timestamp's signature by {}: {e}", authority.name))?;
    let time = token.gen_time();
    check_chain(authority, time)?;
    if time < authority.start || authority.end.is_some_and(|end| time > end) {
        let end = authority.end.map(|e| e.to_string()).unwrap_or_else(|| "open".into());
        return Err(format!(
            "the timestamp's time {time} is outside the trusted root's validity for {} ({} to {end})",
            authority.name, authority.start
        ));
    }
    Ok(())
}

#[cfg(test)]
#[path = "timestamp_tests.rs"]
mod tests;

/// [`verify`], and the name of the timestamp authority whose chain verified
/// the token (its `uri`, else its certificate's subject): a bundle's
/// timestamps count once per authority.
pub fn verify_naming_authority(
    token_der: &[u8],
    signature: &[u8],
    authorities: &[TimestampAuthority],
) -> Result<(i64, String), String> {
    let token = Token::parse(token_der)?;
    token.check_imprint(signature)?;
    let (signed_attributes, digest) = token.signed_attributes()?;
    let scheme = Scheme::of(&token.signer.signature_algorithm.oid, Some(digest))
        .map_err(|e| format!("the timestamp's signature: {e}"))?;
    let candidates = token.signer_authorities(authorities)?;
    let mut reasons = Vec::new();
    for authority in candidates {
        match verify_by(&token, authority, scheme, &signed_attributes) {
            Ok(()) => return Ok((token.gen_time().secs, authority.name.clone())),
            Err(reason) => reasons.push(reason),
        }
    }
    Err(reasons.join("; "))
}
