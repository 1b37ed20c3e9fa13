;; A filter that also imports `acme:plugins/secrets`, which the platform does not provide.
(module
  (import "acme:plugins/host@0.1.0" "log" (func $log (param i32 i32)))
  (import "acme:plugins/secrets@0.1.0" "reveal" (func $reveal (param i32) (result i32)))
  (func (export "acme:plugins/filter@0.1.0#check") (param $id i32) (param $size i32) (result i32)
    (call $log (i32.const 0) (call $reveal (local.get $id)))
    (i32.lt_u (local.get $size) (i32.const 1024)))
)
