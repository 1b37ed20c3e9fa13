;; check(req: request { id: u32, size: u64 }) -> bool
(module
  (import "acme:plugins/host@0.1.0" "log" (func $log (param i32 i32)))
  (func (export "acme:plugins/filter@0.1.0#check") (param $id i32) (param $size i64) (result i32)
    (call $log (i32.const 0) (local.get $id))
    (i64.lt_u (local.get $size) (i64.const 1024)))
)
