//! What the user names as a part, a component or a WIT package: a local file, or
//! a reference to pull. One rule for every command that takes either.

/// Whether `input` is clearly meant as a local path (so a typo reports a
/// missing file instead of a registry lookup): it starts like a path, or ends
/// in `.wit`, `.wasm` or `.wat`; `oci:...` is a layout reference.
pub fn looks_like_path(input: &str) -> bool {
    if input.starts_with("oci:") {
        return false;
    }
    input.starts_with('.')
        || input.starts_with('/')
        || input.starts_with('~')
        || [".wit", ".wasm", ".wat"].iter().any(|ext| input.ends_with(ext))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_references_are_told_apart() {
        assert!(looks_like_path("./a.wasm"));
        assert!(looks_like_path("plug.wasm"));
        assert!(!looks_like_path("oci:./store:plug.wasm"));
        assert!(!looks_like_path("127.0.0.1:5000/plug:1"));
    }
}
