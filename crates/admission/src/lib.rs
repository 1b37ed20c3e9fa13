//! wharf-admission: the Kubernetes admission webhook. Every image a workload runs is
//! judged by a policy: its signatures (wharf-sign), its declared WIT world and its fit
//! (wharf-wasm), read from its registry (wharf-oci).
//!
//! - [`policy`]: the policy file (which images must be signed by whom, and fit which world).
//! - [`state`]: the webhook's state (the policy in force with its keys, the verdict cache, the
//!   counters), image extraction, the verdicts and the AdmissionReview protocol.
//! - [`server`]: the HTTPS endpoint (`/validate`, `/mutate`, `/metrics`), policy reloads.
//!
//! The only crate of wharf that compiles kube-core, k8s-openapi and hyper's server.

pub mod error;
pub mod policy;
pub mod server;
pub mod state;

pub use error::{Error, Result};
pub use policy::Policy;
pub use state::{Admission, FailMode, Settings};
