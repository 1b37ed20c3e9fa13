;; Fits `acme:plugins/filter-plugin` exactly (built from ../platform/wit).
(module
  (import "acme:plugins/host@0.1.0" "log" (func $log (param i32 i32)))
  ;; check(req: request { id: u32, size: u32 }) -> bool
  (func (export "acme:plugins/filter@0.1.0#check") (param $id i32) (param $size i32) (result i32)
    (call $log (i32.const 0) (local.get $id))
    (i32.lt_u (local.get $size) (i32.const 1024)))
)
