//! Links `wharf` with packed relative relocations (`-z pack-relative-relocs`, DT_RELR) when the
//! linker and the C library support them (GNU ld 2.38+ or lld 15+, glibc 2.36+).
//!
//! A position-independent executable carries one relocation per pointer in its static data, which
//! the dynamic loader applies at every start: for wharf about 34 000 of them, an 800 KiB table. DT_RELR
//! packs them into a bitmap of a few KiB that the loader applies several times faster.
//!
//! The flag is probed: a small C program is linked with it and run. A linker or C library without
//! support (or a cross build, where the probe cannot run) links as before. `WHARF_NO_PACKED_RELOCS=1`
//! turns it off, e.g. for a binary meant to run on an older glibc than the one it is built on.

use std::env;
use std::path::Path;
use std::process::{Command, Stdio};

const FLAG: &str = "-Wl,-z,pack-relative-relocs";

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=WHARF_NO_PACKED_RELOCS");
    if env::var_os("WHARF_NO_PACKED_RELOCS").is_some_and(|v| !v.is_empty() && v != "0") {
        return;
    }
    let is = |key: &str, value: &str| env::var(key).is_ok_and(|v| v == value);
    if !is("CARGO_CFG_TARGET_OS", "linux") || !is("CARGO_CFG_TARGET_ENV", "gnu") {
        return;
    }
    // The probe runs what it links: only when building for the machine it runs on.
    if env::var("HOST").ok() != env::var("TARGET").ok() {
        return;
    }
    let Some(out_dir) = env::var_os("OUT_DIR") else { return };
    if probe(Path::new(&out_dir)) {
        println!("cargo:rustc-link-arg-bins={FLAG}");
    }
}

/// Whether a program linked with [`FLAG`] by the C compiler rustc links with builds silently and runs.
fn probe(dir: &Path) -> bool {
    let source = dir.join("relr-probe.c");
    let program = dir.join("relr-probe");
    if std::fs::write(&source, "int main(void) { return 0; }\n").is_err() {
        return false;
    }
    // Cargo sets RUSTC_LINKER when a linker is configured for the target; rustc's default is `cc`.
    let linker = env::var("RUSTC_LINKER").unwrap_or_else(|_| "cc".to_string());
    // A linker that does not know the flag may only warn ("-z ... ignored"): the probe must be silent.
    let linked = Command::new(linker)
        .arg("-pie")
        .arg("-fPIE")
        .arg(&source)
        .arg("-o")
        .arg(&program)
        .arg(FLAG)
        .arg("-Wl,--fatal-warnings")
        .stdin(Stdio::null())
        .output()
        .is_ok_and(|out| out.status.success() && out.stderr.is_empty());
    linked && Command::new(&program).status().is_ok_and(|s| s.success())
}
