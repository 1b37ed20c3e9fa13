//! wharf-admission: the Kubernetes admission webhook. Every image a workload runs is
//! judged by a policy: its signatures (wharf-sign), its declared WIT world and its fit
//! (wharf-wasm), read from its registry (wharf-oci).
//!
//! - [`policy`]: the policy file (which images must be signed by whom, and fit which world).
//! - [`images`]: every image of a workload, and where it is.
//! - [`state`]: the webhook's state (the policy in force with its keys, the verdict cache, the
//!   counters) and the verdict on one image; `verification` judges a digest, `cache` keeps verdicts.
//! - [`review`]: the AdmissionReview protocol, denials and digest-pinning patches.
//! - [`server`]: the HTTPS endpoint (`/validate`, `/mutate`, `/metrics`), policy reloads.
//!
//! The only crate of wharf that compiles kube-core, k8s-openapi and hyper's server.

mod cache;
pub mod error;
mod file_stamp;
pub mod images;
pub mod manifests;
pub mod policy;
pub mod review;
pub mod server;
pub mod state;
pub mod tls_reload;
mod verification;

pub use error::{Error, Result};
pub use policy::Policy;
pub use state::{Admission, FailMode, Settings};
