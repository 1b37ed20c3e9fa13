;; Fits `acme:plugins/storage-plugin` exactly (built from ../platform/wit):
;; imports a resource and calls its method.
(module
  (import "acme:plugins/store@0.1.0" "open" (func $open (param i32) (result i32)))
  (import "acme:plugins/store@0.1.0" "[method]blob.size" (func $size (param i32) (result i32)))
  (import "acme:plugins/store@0.1.0" "[resource-drop]blob" (func $drop (param i32)))
  (func (export "run") (result i32)
    (local $blob i32)
    (local $n i32)
    (local.set $blob (call $open (i32.const 1)))
    (local.set $n (call $size (local.get $blob)))
    (call $drop (local.get $blob))
    (local.get $n))
)
