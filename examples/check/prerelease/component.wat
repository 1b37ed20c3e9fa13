;; Imports acme:kv/store@0.3.0-rc.1, exports acme:svc/handler@0.2.0.
(module
  (import "acme:kv/store@0.3.0-rc.1" "get" (func $get (param i32) (result i32)))
  (func (export "acme:svc/handler@0.2.0#handle") (param $x i32) (result i32)
    (call $get (local.get $x)))
)
