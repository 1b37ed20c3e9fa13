//! One file per command: flags (whose doc comments are the help text) and a `run`.

pub mod copy;
pub mod inspect;
pub mod login;
pub mod logout;
pub mod pull;
pub mod push;
