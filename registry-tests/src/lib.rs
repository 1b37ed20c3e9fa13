//! Harness for wharf's integration tests: a real CNCF distribution registry
//! (`docker-registry`, v2.8), the `wharf` binary run in an isolated
//! environment, peer tools (skopeo, oras-py) and a tiny raw HTTP client.
//!
//! Everything here panics with a descriptive message on failure: it is only
//! ever used from tests.

pub mod fault_proxy;
pub mod scripted;

mod command;
mod http;
mod registry;
mod token;

pub use command::*;
pub use http::*;
pub use registry::*;
pub use token::*;
