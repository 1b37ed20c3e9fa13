//! One file per command: flags (whose doc comments are the help text) and a `run`.

pub mod admission;
pub mod attest;
pub mod check;
pub mod compose;
pub mod convert;
pub mod copy;
pub mod generate;
pub mod index;
pub mod inspect;
pub mod key;
pub mod login;
pub mod logout;
pub mod pull;
pub mod push;
pub mod sbom;
pub mod sign;
pub mod verify;
pub mod verify_attestation;
pub mod verify_blob;
