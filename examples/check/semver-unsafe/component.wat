;; Imports acme:kv/store@0.2.3 (uses `set`), exports acme:svc/handler@0.2.0.
(module
  (import "acme:kv/store@0.2.3" "get" (func $get (param i32) (result i32)))
  (import "acme:kv/store@0.2.3" "set" (func $set (param i32 i32)))
  (func (export "acme:svc/handler@0.2.0#handle") (param $x i32) (result i32)
    (call $set (local.get $x) (i32.const 1))
    (call $get (local.get $x)))
)
