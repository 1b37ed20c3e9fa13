//! The shapes runtimes read, besides the CNCF artifact: rewriting an artifact into
//! runwasi's, crun's or Spin's shape and back ([`convert`]), Spin's application
//! documents ([`spin`]), and the files a runtime runs locally after `pull --for`
//! ([`local_files`]). [`tar`] writes the one-file archives two of them need.

pub mod convert;
pub mod local_files;
pub mod spin;
pub mod tar;
