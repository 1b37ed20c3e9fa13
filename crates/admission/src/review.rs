//! The AdmissionReview protocol (`admission.k8s.io/v1`): a review in, every image
//! of its object judged, a response out: allowed, or denied with a message naming
//! image, rule and reason (in `warn` mode: allowed with warnings), and for
//! `/mutate` a JSONPatch pinning verified images to their digests.
//!
//! A review is answered by a deadline (the API server's wait, less a margin, from its
//! arrival): what is not judged by then is denied with the reason, whatever the fail mode,
//! so the API server always gets an answer of ours and never applies its `failurePolicy`.

use kube_core::DynamicObject;
use kube_core::admission::{AdmissionRequest, AdmissionResponse, AdmissionReview};
use serde_json::Value;
use wharf_oci::reference::Reference;

use crate::images::extract_images;
use crate::policy::Mode;
use crate::state::{Admission, FAIL_OPEN, ImageVerdict};

/// A request the webhook cannot read (answered with HTTP 400).
#[derive(Debug, thiserror::Error)]
#[error("malformed AdmissionReview: {0}")]
pub struct MalformedReview(pub String);

impl Admission {
    /// Answers an AdmissionReview body; `mutate` adds the digest-pinning JSONPatch.
    /// A body that is not an AdmissionReview with a request is [`MalformedReview`]. The
    /// answer is due [`Admission::answer_within`] from now.
    pub async fn review(&self, body: &[u8], mutate: bool) -> std::result::Result<Value, MalformedReview> {
        self.review_arrived(body, mutate, tokio::time::Instant::now()).await
    }

    /// [`Admission::review`] of a request that `arrived` then: answered
    /// [`Admission::answer_within`] after, and what is not judged by then is denied with
    /// the reason, in both fail modes.
    pub async fn review_arrived(
        &self,
        body: &[u8],
        mutate: bool,
        arrived: tokio::time::Instant,
    ) -> std::result::Result<Value, MalformedReview> {
        let due = arrived + self.answer_within();
        let review: AdmissionReview<DynamicObject> =
            serde_json::from_slice(body).map_err(|e| MalformedReview(e.to_string()))?;
        let request: AdmissionRequest<DynamicObject> =
            review.try_into().map_err(|_| MalformedReview("the review has no request".into()))?;
        let mut response = AdmissionResponse::from(&request);
        let Some(object) = &request.object else {
            return to_value(response);
        };
        let object = serde_json::to_value(object).map_err(|e| MalformedReview(e.to_string()))?;
        let namespace = request.namespace.as_deref().or(object.pointer("/metadata/namespace").and_then(Value::as_str));
        let sites = extract_images(&request.kind.kind, &object);
        let loaded = self.loaded();
        let mut distinct: Vec<&str> = Vec::new();
        for site in &sites {
            if !distinct.contains(&site.image.as_str()) {
                distinct.push(&site.image);
                if distinct.len() > MAX_IMAGES_PER_REVIEW {
                    let many = format!(
                        "wharf: the object names more than {MAX_IMAGES_PER_REVIEW} distinct images, more than one \
                         review judges, so it is denied whatever the fail mode (split the workload)"
                    );
                    return to_value(judged_whole(response, loaded.policy.mode, many));
                }
            }
        }
        let judged =
            futures::future::join_all(distinct.iter().map(|image| self.check_image_with(&loaded, image, namespace)));
        let Ok(judged) = tokio::time::timeout_at(due, judged).await else {
            let late = format!(
                "wharf: the review did not finish within {} s of the request (the API server stops waiting {} s \
                 later), so it is denied whatever the fail mode",
                self.answer_within().as_secs_f64(),
                crate::state::ANSWER_MARGIN.as_secs()
            );
            return to_value(judged_whole(response, loaded.policy.mode, late));
        };
        // Each site gets its image's verdict (an image written twice is judged once).
        let verdicts: Vec<ImageVerdict> =
            sites.iter().filter_map(|site| judged.iter().find(|v| v.image == site.image).cloned()).collect();
        let denials: Vec<String> = verdicts.iter().filter(|v| !v.allowed).map(ImageVerdict::message).collect();
        let unverified: Vec<String> = verdicts
            .iter()
            .filter(|v| v.allowed && v.reason.starts_with(FAIL_OPEN))
            .map(|v| format!("wharf: {}", v.message()))
            .collect();
        if !unverified.is_empty() {
            response.warnings = Some(unverified);
        }
        if !denials.is_empty() {
            match loaded.policy.mode {
                Mode::Enforce => return to_value(response.deny(denials.join("; "))),
                Mode::Warn => {
                    let warnings = response.warnings.get_or_insert_with(Vec::new);
                    warnings.extend(denials.iter().map(|d| format!("wharf: {d}")));
                }
            }
        }
        if mutate {
            let ops: Vec<Value> = sites
                .iter()
                .zip(&verdicts)
                .filter_map(|(site, v)| {
                    let digest = v.digest.as_ref()?;
                    let Ok(reference @ Reference::Registry(_)) = Reference::parse(&site.image) else { return None };
                    if reference.digest() == Some(digest) && reference.tag().is_none() {
                        return None;
                    }
                    let pinned = reference.pinned(digest);
                    Some(serde_json::json!({"op": "replace", "path": site.pointer, "value": pinned}))
                })
                .collect();
            if !ops.is_empty() {
                let patch: json_patch::Patch =
                    serde_json::from_value(Value::Array(ops)).map_err(|e| MalformedReview(e.to_string()))?;
                response = response.with_patch(patch).map_err(|e| MalformedReview(e.to_string()))?;
            }
        }
        to_value(response)
    }
}

/// At most this many distinct images are judged in one review: each may cost registry
/// lookups, which all reviews share ([`crate::state::IMAGE_LOOKUPS`] at once), so one
/// object naming thousands would hold them for its whole wait. A Pod rarely names a dozen.
pub const MAX_IMAGES_PER_REVIEW: usize = 64;

/// The answer for a review judged as a whole (`why`: too many images, or late): a denial,
/// or in `warn` mode an admission with `why` as its warning.
fn judged_whole(mut response: AdmissionResponse, mode: Mode, why: String) -> AdmissionResponse {
    match mode {
        Mode::Enforce => response.deny(why),
        Mode::Warn => {
            response.warnings = Some(vec![why]);
            response
        }
    }
}

/// The review answer as JSON. kube-core serialises the patch as an array of numbers; the
/// API server reads Go's `[]byte`, which is a base64 string, so it is written as one.
fn to_value(response: AdmissionResponse) -> std::result::Result<Value, MalformedReview> {
    use base64::Engine as _;
    let patch = response.patch.clone();
    let mut value = serde_json::to_value(response.into_review()).map_err(|e| MalformedReview(e.to_string()))?;
    if let (Some(bytes), Some(slot)) = (patch, value.pointer_mut("/response/patch")) {
        *slot = Value::String(base64::engine::general_purpose::STANDARD.encode(bytes));
    }
    Ok(value)
}
