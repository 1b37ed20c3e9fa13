//! The key password: `WHARF_PASSWORD`, else `COSIGN_PASSWORD`, else a prompt on
//! a terminal. An empty password is allowed (as in cosign). Never printed.

use std::io::IsTerminal;

use zeroize::Zeroizing;

/// The password from the environment, if set (empty counts).
fn from_env() -> Option<Zeroizing<String>> {
    ["WHARF_PASSWORD", "COSIGN_PASSWORD"].iter().find_map(|name| std::env::var(name).ok().map(Zeroizing::new))
}

fn no_terminal() -> wharf::Error {
    wharf::Error::usage(
        "the key needs a password and there is no terminal to ask on: set WHARF_PASSWORD (or COSIGN_PASSWORD; empty is allowed)",
    )
}

fn prompt(text: &str) -> Result<Zeroizing<String>, wharf::Error> {
    rpassword::prompt_password(text)
        .map(Zeroizing::new)
        .map_err(|e| wharf::Error::io("cannot read the password from", "the terminal", e))
}

/// The password to encrypt a new key with (asked twice on a terminal).
pub fn for_new_key() -> Result<Zeroizing<String>, wharf::Error> {
    if let Some(p) = from_env() {
        return Ok(p);
    }
    if !std::io::stdin().is_terminal() {
        return Err(no_terminal());
    }
    let first = prompt("Password for the new private key: ")?;
    let second = prompt("Password again: ")?;
    if *first != *second {
        return Err(wharf::Error::usage("the two passwords differ; nothing was written"));
    }
    Ok(first)
}

/// The password of an existing key file (only asked for when the file is encrypted).
pub fn for_key(path: &std::path::Path, encrypted: bool) -> Result<Zeroizing<String>, wharf::Error> {
    if !encrypted {
        return Ok(Zeroizing::new(String::new()));
    }
    if let Some(p) = from_env() {
        return Ok(p);
    }
    if !std::io::stdin().is_terminal() {
        return Err(no_terminal());
    }
    prompt(&format!("Password for {}: ", path.display()))
}

/// The private key in a file (cosign's encrypted PEM, or an unencrypted PKCS#8/EC key), asking for
/// its password only when it is encrypted.
pub fn read_private_key(path: &std::path::Path) -> Result<wharf::sign::PrivateKey, wharf::Error> {
    let text = std::fs::read(path).map_err(|e| wharf::Error::io("cannot read the key file", path, e))?;
    let secret = for_key(path, wharf::sign::keys::is_encrypted(&text))?;
    Ok(wharf::sign::PrivateKey::from_pem(&path.display().to_string(), &text, secret.as_bytes())?)
}
