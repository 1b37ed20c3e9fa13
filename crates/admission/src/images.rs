//! Image extraction: every image a workload runs (a Pod, or the pod template of a
//! Deployment, ReplicaSet, StatefulSet, DaemonSet, Job, CronJob or
//! ReplicationController; containers, initContainers, ephemeralContainers, and
//! image volumes), with the JSON pointer of each, from an AdmissionReview's object or a manifest file.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};

/// One image of a workload, and where it sits in the object (a JSON pointer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageSite {
    /// The JSON pointer of the `image` field (`/spec/containers/0/image`).
    pub pointer: String,
    /// The image as written.
    pub image: String,
}

/// The pod spec's JSON pointer for a kind, or `None` for kinds that run no pods.
fn pod_spec_pointer(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "Pod" => "/spec",
        "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet" | "Job" | "ReplicationController" => {
            "/spec/template/spec"
        }
        "CronJob" => "/spec/jobTemplate/spec/template/spec",
        _ => return None,
    })
}

/// Every image of `object` (a Pod or a workload of `kind`), with where it is.
pub fn extract_images(kind: &str, object: &Value) -> Vec<ImageSite> {
    let Some(spec_ptr) = pod_spec_pointer(kind) else { return Vec::new() };
    let Some(spec) = object.pointer(spec_ptr) else { return Vec::new() };
    let mut out = Vec::new();
    for list in ["initContainers", "containers", "ephemeralContainers"] {
        if let Some(Value::Array(containers)) = spec.get(list) {
            for (i, c) in containers.iter().enumerate() {
                if let Some(Value::String(image)) = c.get("image") {
                    out.push(ImageSite { pointer: format!("{spec_ptr}/{list}/{i}/image"), image: image.clone() });
                }
            }
        }
    }
    // Image volumes (Kubernetes 1.31+, `ImageVolume`): the kubelet pulls and mounts them like a
    // container's image, so they are judged (and pinned) the same way.
    if let Some(Value::Array(volumes)) = spec.get("volumes") {
        for (i, v) in volumes.iter().enumerate() {
            if let Some(Value::String(image)) = v.pointer("/image/reference") {
                out.push(ImageSite {
                    pointer: format!("{spec_ptr}/volumes/{i}/image/reference"),
                    image: image.clone(),
                });
            }
        }
    }
    out
}

/// Every image of a manifest file's documents (YAML, several separated by `---`), for
/// `wharf admission check`: each with the document's kind, name and namespace.
pub fn manifest_images(origin: &str, text: &str) -> Result<Vec<ManifestImage>> {
    let mut out = Vec::new();
    for (n, doc) in serde_norway::Deserializer::from_str(text).enumerate() {
        let value = Value::deserialize(doc).map_err(|e| {
            let line = e.location().map(|l| format!(" at line {}", l.line())).unwrap_or_default();
            Error::Usage(format!("cannot read the manifest {origin}{line}: {e}"))
        })?;
        if value.is_null() {
            continue;
        }
        let kind = value.get("kind").and_then(Value::as_str).unwrap_or_default().to_string();
        if kind.is_empty() {
            return Err(Error::Usage(format!("document {} of {origin} has no kind", n + 1)));
        }
        let name = value.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default().to_string();
        let namespace = value.pointer("/metadata/namespace").and_then(Value::as_str).map(str::to_string);
        for site in extract_images(&kind, &value) {
            out.push(ManifestImage { kind: kind.clone(), name: name.clone(), namespace: namespace.clone(), site });
        }
    }
    Ok(out)
}

/// An image of a manifest document.
#[derive(Debug, Clone, Serialize)]
pub struct ManifestImage {
    /// The document's kind.
    pub kind: String,
    /// Its `metadata.name`.
    pub name: String,
    /// Its `metadata.namespace`, if any.
    pub namespace: Option<String>,
    /// The image and where it is.
    pub site: ImageSite,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extracts_pod_and_template_images() {
        let pod = serde_json::json!({"spec": {
            "initContainers": [{"name": "i", "image": "a/init:1"}],
            "containers": [{"name": "c", "image": "a/main:1"}, {"name": "d", "image": "b/side"}],
            "ephemeralContainers": [{"name": "e", "image": "dbg"}]}});
        let images: Vec<(String, String)> =
            extract_images("Pod", &pod).into_iter().map(|s| (s.pointer, s.image)).collect();
        assert_eq!(
            images,
            vec![
                ("/spec/initContainers/0/image".into(), "a/init:1".into()),
                ("/spec/containers/0/image".into(), "a/main:1".into()),
                ("/spec/containers/1/image".into(), "b/side".into()),
                ("/spec/ephemeralContainers/0/image".into(), "dbg".into()),
            ]
        );
        let with_volume = serde_json::json!({"spec": {"containers": [{"image": "a/main:1"}],
            "volumes": [{"name": "cfg", "configMap": {"name": "c"}}, {"name": "m", "image": {"reference": "a/models:1"}}]}});
        let images: Vec<(String, String)> =
            extract_images("Pod", &with_volume).into_iter().map(|s| (s.pointer, s.image)).collect();
        assert_eq!(images[1], ("/spec/volumes/1/image/reference".into(), "a/models:1".into()));
        let deploy = serde_json::json!({"spec": {"template": {"spec": {"containers": [{"image": "x"}]}}}});
        assert_eq!(extract_images("Deployment", &deploy)[0].pointer, "/spec/template/spec/containers/0/image");
        let cron = serde_json::json!({"spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [{"image": "y"}]}}}}}});
        assert_eq!(extract_images("CronJob", &cron)[0].image, "y");
        assert!(extract_images("ConfigMap", &deploy).is_empty());
        assert!(extract_images("Pod", &serde_json::json!({})).is_empty());
    }

    #[test]
    fn manifest_images_reads_every_document() {
        let text = "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: ns}\nspec:\n  containers:\n  - {name: c, image: a:1}\n---\nkind: CronJob\nmetadata: {name: j}\nspec:\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          containers: [{name: c, image: b}]\n";
        let images = manifest_images("m.yaml", text).expect("reads");
        assert_eq!(images.len(), 2);
        assert_eq!(images[0].namespace.as_deref(), Some("ns"));
        assert_eq!(images[1].site.image, "b");
        let e = manifest_images("m.yaml", "kind: [").expect_err("bad yaml").to_string();
        assert!(e.contains("m.yaml") && e.contains("line"), "{e}");
    }
}
