//! One-file tar archives, deterministic (fixed owner, mode and mtime), as the
//! crun image's layer and runwasi's image archive need them, and reading a file
//! back out of one. Plain ustar, no extensions: wharf writes names under 100 bytes.

use crate::error::{Error, Result};

/// One file in a deterministic ustar archive: fixed mtime (0), uid/gid (0),
/// mode 0644, empty user and group names.
pub fn tar_one_file(name: &str, content: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(content.len() + 2048);
    tar_append(&mut out, name, content)?;
    out.extend_from_slice(&[0u8; 1024]);
    Ok(out)
}

/// Appends one file entry (header, content, padding) to a ustar archive
/// being built in `out`, with the fixed owner, mode and mtime of [`tar_one_file`].
pub fn tar_append(out: &mut Vec<u8>, name: &str, content: &[u8]) -> Result<()> {
    if name.len() > 99 {
        return Err(Error::Usage(format!("tar entry name {name:?} is over 99 bytes")));
    }
    if content.len() as u64 >= 1 << 33 {
        return Err(Error::Usage(format!("{name} is over the 8 GiB a ustar entry holds")));
    }
    let mut header = [0u8; 512];
    header[..name.len()].copy_from_slice(name.as_bytes());
    let octal = |field: &mut [u8], value: u64| {
        let width = field.len() - 1;
        let text = format!("{value:0width$o}");
        field[..width].copy_from_slice(text.as_bytes());
    };
    octal(&mut header[100..108], 0o644);
    octal(&mut header[108..116], 0);
    octal(&mut header[116..124], 0);
    octal(&mut header[124..136], content.len() as u64);
    octal(&mut header[136..148], 0);
    header[156] = b'0';
    header[257..263].copy_from_slice(b"ustar\0");
    header[263..265].copy_from_slice(b"00");
    header[148..156].copy_from_slice(b"        ");
    let sum: u32 = header.iter().map(|&b| u32::from(b)).sum();
    let text = format!("{sum:06o}\0 ");
    header[148..156].copy_from_slice(text.as_bytes());
    out.extend_from_slice(&header);
    out.extend_from_slice(content);
    out.resize(out.len().div_ceil(512) * 512, 0);
    Ok(())
}

/// The content of the file `name` in an uncompressed tar archive.
pub fn tar_find(archive: &[u8], name: &str) -> Option<Vec<u8>> {
    let mut at = 0;
    while at + 512 <= archive.len() {
        let header = &archive[at..at + 512];
        if header.iter().all(|&b| b == 0) {
            return None;
        }
        let entry = String::from_utf8_lossy(&header[..100]).trim_end_matches('\0').to_string();
        let size_text = String::from_utf8_lossy(&header[124..136]).trim_matches(|c| c == '\0' || c == ' ').to_string();
        let size = usize::from_str_radix(&size_text, 8).ok()?;
        let start = at + 512;
        let end = start.checked_add(size)?;
        if entry.trim_start_matches("./").trim_start_matches('/') == name.trim_start_matches('/') {
            return archive.get(start..end).map(<[u8]>::to_vec);
        }
        at = start + size.div_ceil(512) * 512;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tar_of_one_file_is_deterministic_and_reads_back() {
        let content = b"\0asm\x01\0\0\0";
        let tar = tar_one_file("app.wasm", content).unwrap_or_default();
        assert_eq!(tar.len(), 512 + 512 + 1024);
        assert_eq!(tar_one_file("app.wasm", content).ok(), Some(tar.clone()));
        assert_eq!(tar_find(&tar, "/app.wasm").as_deref(), Some(&content[..]));
        assert_eq!(tar_find(&tar, "other.wasm"), None);
        assert!(tar_one_file(&"x".repeat(100), content).is_err());
    }
}
