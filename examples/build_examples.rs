//! `build-examples OUTDIR`: writes `OUTDIR/hello.wasm` (a component) and
//! `OUTDIR/hello-module.wasm` (a core module), built from the sources in
//! `examples/`. Output is deterministic; files are written atomically.
//!
//! `build-examples --sized BYTES OUT`: writes to the file `OUT` a valid
//! component of exactly BYTES bytes (the hello component padded with a
//! pseudo-random data segment; see `build_sized_component`), for benchmarks.
//!
//! `build-examples --compose OUTDIR`: writes the `wharf compose` example parts
//! (`greeter.wasm`, `name-source.wasm`, ...; see `build_compose_component`).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or_else(|| Path::new("."));
    let file_name = path.file_name().with_context(|| format!("output path {} has no file name", path.display()))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(file_name);
    tmp_name.push(format!(".tmp-{}", std::process::id()));
    let tmp = dir.join(tmp_name);

    let result = (|| -> Result<()> {
        let mut f = fs::File::create(&tmp).with_context(|| format!("failed to create {}", tmp.display()))?;
        f.write_all(bytes).with_context(|| format!("failed to write {}", tmp.display()))?;
        f.sync_all().with_context(|| format!("failed to sync {}", tmp.display()))?;
        drop(f);
        fs::rename(&tmp, path).with_context(|| format!("failed to rename {} to {}", tmp.display(), path.display()))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

fn run_sized(bytes: Option<std::ffi::OsString>, out: Option<std::ffi::OsString>) -> Result<()> {
    const USAGE: &str = "usage: build-examples --sized BYTES OUT";
    let (Some(bytes), Some(out)) = (bytes, out) else { bail!(USAGE) };
    let bytes = bytes
        .to_str()
        .and_then(|b| b.parse::<usize>().ok())
        .with_context(|| format!("BYTES must be a whole number of bytes, got {}; {USAGE}", bytes.to_string_lossy()))?;
    let out = PathBuf::from(out);
    if let Some(dir) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(dir).with_context(|| format!("failed to create output directory {}", dir.display()))?;
    }
    let component = wharf_examples::build_sized_component(bytes)?;
    write_atomic(&out, &component)?;
    println!("wrote {} ({} bytes)", out.display(), component.len());
    Ok(())
}

/// The `wharf compose` example parts.
const COMPOSE_PARTS: [&str; 7] =
    ["greeter", "name-source", "name-source-u32", "name-source-next", "relay", "base-name", "loop"];

fn run_compose(out: Option<std::ffi::OsString>) -> Result<()> {
    let Some(out_dir) = out.map(PathBuf::from) else { bail!("usage: build-examples --compose OUTDIR") };
    fs::create_dir_all(&out_dir).with_context(|| format!("failed to create output directory {}", out_dir.display()))?;
    for name in COMPOSE_PARTS {
        let component = wharf_examples::build_compose_component(name)?;
        let path = out_dir.join(format!("{name}.wasm"));
        write_atomic(&path, &component)?;
        println!("wrote {} ({} bytes)", path.display(), component.len());
    }
    Ok(())
}

fn run() -> Result<()> {
    let mut args = std::env::args_os().skip(1).peekable();
    if args.peek().is_some_and(|a| a == "--compose") {
        args.next();
        let out = args.next();
        if args.next().is_some() {
            bail!("usage: build-examples --compose OUTDIR");
        }
        return run_compose(out);
    }
    if args.peek().is_some_and(|a| a == "--sized") {
        args.next();
        let (bytes, out) = (args.next(), args.next());
        if args.next().is_some() {
            bail!("usage: build-examples --sized BYTES OUT");
        }
        return run_sized(bytes, out);
    }
    let out_dir = match (args.next(), args.next()) {
        (Some(dir), None) => PathBuf::from(dir),
        _ => bail!("usage: build-examples OUTDIR"),
    };
    fs::create_dir_all(&out_dir).with_context(|| format!("failed to create output directory {}", out_dir.display()))?;

    let component = wharf_examples::build_hello_component()?;
    let component_path = out_dir.join("hello.wasm");
    write_atomic(&component_path, &component)?;
    println!("wrote {} ({} bytes)", component_path.display(), component.len());

    let module = wharf_examples::build_hello_module()?;
    let module_path = out_dir.join("hello-module.wasm");
    write_atomic(&module_path, &module)?;
    println!("wrote {} ({} bytes)", module_path.display(), module.len());
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("build-examples: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
