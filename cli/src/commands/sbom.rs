//! `wharf sbom`

use std::io::Write;
use std::path::{Path, PathBuf};

use wharf::sbom;
use wharf::wasm::sbom::Format as SbomFormat;

use crate::Verdict;
use crate::args::{Format, TransportArgs};
use crate::output::{Failure, OrFail};

/// Write the SBOM of a component (a local .wasm file or an artifact) from its own bytes: CycloneDX 1.5
/// or SPDX 2.3 JSON.
#[derive(clap::Args)]
#[command(after_help = "Examples:
  wharf sbom hello.wasm                                  (CycloneDX JSON on stdout)
  wharf sbom hello.wasm --format spdx -o hello.spdx.json
  wharf sbom 127.0.0.1:5000/hello:0.1.0 -o hello.cdx.json

Lists the component and each nested component and core module (SHA-256, size, name), the producers
sections (languages and tools), the wasm-metadata fields (name, version, authors, licenses, source,
revision), the Rust crates cargo-auditable embeds (.dep-v0), and the WIT interfaces it imports and
exports (as services). For a reference the Wasm layer is read in full and checked against its digest;
the package URL names the manifest digest. The same input gives the same bytes (SPDX's creation time
is SOURCE_DATE_EPOCH, else the Unix epoch). -o writes the file atomically: a reader sees the old
file or the whole new one.

Exit status: 0 written; 2 bad input, not found, not a Wasm artifact, or an I/O error.")]
pub struct Args {
    /// A local .wasm file, or a reference (HOST/REPO[:TAG][@sha256:...], oci:PATH[:TAG]).
    target: String,
    /// The SBOM format.
    #[arg(long, value_enum, default_value_t = Kind::Cyclonedx)]
    format: Kind,
    /// Write the SBOM to this file (atomically) instead of stdout.
    #[arg(long, short = 'o', value_name = "FILE")]
    output_path: Option<PathBuf>,
    #[command(flatten)]
    transport: TransportArgs,
}

/// `--format`: the SBOM formats.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum Kind {
    /// CycloneDX 1.5 JSON.
    Cyclonedx,
    /// SPDX 2.3 JSON.
    Spdx,
}

impl From<Kind> for SbomFormat {
    fn from(kind: Kind) -> Self {
        match kind {
            Kind::Cyclonedx => SbomFormat::CycloneDx,
            Kind::Spdx => SbomFormat::Spdx,
        }
    }
}

/// Runs the command.
pub async fn run(args: Args) -> Result<Verdict, Failure> {
    // Errors are text: --format names the SBOM's format here, not the report's.
    let errors = Format::Text;
    let format = SbomFormat::from(args.format);
    let path = Path::new(&args.target);
    let document = if path.is_file() || wharf::wasm::source::looks_like_path(&args.target) {
        sbom::sbom_of_file(path, format).or_fail(errors)?
    } else {
        let reference = wharf::Reference::parse(&args.target).or_fail(errors)?;
        let transport = args.transport.options_for(Some(&reference), "the reference").or_fail(errors)?;
        sbom::sbom_of_reference(&reference, &transport, format).await.or_fail(errors)?
    };
    match &args.output_path {
        Some(out) => {
            sbom::write_document(out, &document).or_fail(errors)?;
            eprintln!("wrote {} ({}, {} bytes)", out.display(), format.media_type(), document.len());
        }
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout
                .write_all(&document)
                .and_then(|()| stdout.flush())
                .map_err(|e| wharf::Error::io("cannot write", "stdout", e))
                .or_fail(errors)?;
        }
    }
    Ok(Verdict::Pass)
}
