;; Like ../storage, but against a store whose resource is `file`.
(module
  (import "acme:plugins/store@0.1.0" "open" (func $open (param i32) (result i32)))
  (import "acme:plugins/store@0.1.0" "[method]file.size" (func $size (param i32) (result i32)))
  (import "acme:plugins/store@0.1.0" "[resource-drop]file" (func $drop (param i32)))
  (func (export "run") (result i32)
    (local $file i32)
    (local $n i32)
    (local.set $file (call $open (i32.const 1)))
    (local.set $n (call $size (local.get $file)))
    (call $drop (local.get $file))
    (local.get $n))
)
